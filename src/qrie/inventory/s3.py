"""S3 inventory (scope: ``global``; a bucket's location is ``config["region"]``).

One paginated ListBuckets (``MaxBuckets`` = page size, so ``ContinuationToken`` paging applies
and each entry carries ``BucketRegion``), then a few reads per bucket: :data:`CALLS` lists every
call, its IAM action and how often it is made. Per-bucket calls go to a client in the bucket's
region (cached per region by the session), which avoids S3's cross-region redirects. Config
shape: ``S3Bucket`` in qrie.inventory.schema.

A failing ListBuckets raises (the scope is not swept). A failing per-bucket call records the
attribute as unknown; "not configured" answers are data (see the schema's absent values).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qrie.domain import Resource
from qrie.inventory.base import GlobalCollector, Session, iso, read_attribute
from qrie.inventory.calls import AwsCall, CallSheet
from qrie.inventory.iam import same_unknown, store_document
from qrie.inventory.schema import PublicAccessBlock

SERVICE = "s3"
PARTITION = "aws"
LISTING_REGION = "us-east-1"
DEFAULT_PAGE_SIZE = 1000
BUCKET_THREADS = 16  # settings read concurrently (GlobalCollector.concurrently)
MAX_PAGE_SIZE = 10_000  # ListBuckets' MaxBuckets upper bound

NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})
NO_POLICY = frozenset({"NoSuchBucketPolicy"})
NO_ENCRYPTION = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
NO_OWNERSHIP_CONTROLS = frozenset({"OwnershipControlsNotFoundError"})
BUCKET_GONE = "NoSuchBucket"

CALLS = CallSheet(
    scope="scope `global`",
    notation="`B` buckets, `P_b` buckets that have a bucket policy",
    calls=(
        AwsCall(
            "ListBuckets",
            "s3:ListAllMyBuckets",
            "⌈B/1000⌉",
            "paginated (`MaxBuckets`/`ContinuationToken`)",
            listing=True,
        ),
        AwsCall(
            "GetBucketLocation",
            "s3:GetBucketLocation",
            "B, or 0",
            "only when the listing entry lacks `BucketRegion` (S3 returns it when `MaxBuckets` "
            "is sent, so 0 on AWS)",
        ),
        AwsCall(
            "GetPublicAccessBlock",
            "s3:GetBucketPublicAccessBlock",
            "B",
            "`NoSuchPublicAccessBlockConfiguration` → all four flags False",
        ),
        AwsCall(
            "GetBucketPolicy",
            "s3:GetBucketPolicy",
            "B",
            "`NoSuchBucketPolicy` → `policy: None`, `policy_is_public: False`",
        ),
        AwsCall(
            "GetBucketPolicyStatus",
            "s3:GetBucketPolicyStatus",
            "P_b",
            "skipped when the bucket has no policy",
        ),
        AwsCall("GetBucketVersioning", "s3:GetBucketVersioning", "B", "also gives MFADelete"),
        AwsCall(
            "GetBucketEncryption",
            "s3:GetEncryptionConfiguration",
            "B",
            "`ServerSideEncryptionConfigurationNotFoundError` → `[]`",
        ),
        AwsCall("GetBucketLogging", "s3:GetBucketLogging", "B"),
        AwsCall(
            "GetBucketOwnershipControls",
            "s3:GetBucketOwnershipControls",
            "B",
            "`OwnershipControlsNotFoundError` → None",
        ),
    ),
    total=(
        "`⌈B/1000⌉ + 6·B + P_b` on AWS (with `BucketRegion` in the listing); at most "
        "`⌈B/1000⌉ + 8·B` (1 ListBuckets per 1,000 buckets + 8 per bucket). Per-bucket calls go "
        "to a client in the bucket's region (no cross-region redirects). Example: 500 buckets, "
        "50 with a policy → 1 + 3,000 + 50 = 3,051 calls."
    ),
)

# GetBucketLocation's legacy answers: null/"" is us-east-1, "EU" is eu-west-1.
LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}


def bucket_region(location_constraint: str | None) -> str:
    """The region named by GetBucketLocation's ``LocationConstraint``."""
    location = location_constraint or ""
    return LEGACY_LOCATIONS.get(location, location)


def public_access_block(response: dict[str, Any]) -> PublicAccessBlock:
    settings = response.get("PublicAccessBlockConfiguration") or {}
    return {
        "BlockPublicAcls": bool(settings.get("BlockPublicAcls", False)),
        "IgnorePublicAcls": bool(settings.get("IgnorePublicAcls", False)),
        "BlockPublicPolicy": bool(settings.get("BlockPublicPolicy", False)),
        "RestrictPublicBuckets": bool(settings.get("RestrictPublicBuckets", False)),
    }


NOT_BLOCKED: PublicAccessBlock = public_access_block({})


def encryption_algorithms(response: dict[str, Any]) -> list[str]:
    rules = (response.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    return [
        str(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])
        for rule in rules
        if "SSEAlgorithm" in (rule.get("ApplyServerSideEncryptionByDefault") or {})
    ]


def object_ownership(response: dict[str, Any]) -> str | None:
    rules = (response.get("OwnershipControls") or {}).get("Rules") or []
    return str(rules[0]["ObjectOwnership"]) if rules else None


class S3Collector(GlobalCollector):
    """Buckets of one account, with their public-access, policy, versioning, encryption,
    logging and ownership settings."""

    service = SERVICE
    calls = CALLS
    default_page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    default_threads = BUCKET_THREADS

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        self.check_scope(scope)
        client = session.client("s3", LISTING_REGION)
        buckets = self.pages(client, "list_buckets", "Buckets")
        # each bucket's settings are 6-7 calls: read several buckets at a time, in order
        for resource in self.concurrently(
            lambda bucket: self._bucket(session, client, bucket), buckets
        ):
            if resource is not None:
                yield resource

    def _bucket(self, session: Session, client: Any, bucket: dict[str, Any]) -> Resource | None:
        name = str(bucket["Name"])
        config: dict[str, Any] = {"created": iso(bucket.get("CreationDate"))}
        if bucket.get("BucketRegion"):
            config["region"] = str(bucket["BucketRegion"])
        else:
            read_attribute(
                config,
                "region",
                lambda: bucket_region(
                    client.get_bucket_location(Bucket=name).get("LocationConstraint")
                ),
            )
        if (config.get("unknown") or {}).get("region") == BUCKET_GONE:
            return None  # deleted between ListBuckets and now
        region = config["region"]
        regional = session.client(SERVICE, region) if region else client

        read_attribute(
            config,
            "public_access_block",
            lambda: public_access_block(regional.get_public_access_block(Bucket=name)),
            NO_PUBLIC_ACCESS_BLOCK,
            dict(NOT_BLOCKED),
        )

        raw_policy = read_attribute(
            config,
            "policy",
            lambda: regional.get_bucket_policy(Bucket=name)["Policy"],
            NO_POLICY,
            None,
        )
        if raw_policy is not None:
            store_document(config, "policy", raw_policy)
        if raw_policy is None and "policy" not in (config.get("unknown") or {}):
            config["policy_is_public"] = False  # no bucket policy: nothing for it to make public
        else:
            read_attribute(
                config,
                "policy_is_public",
                lambda: bool(
                    regional.get_bucket_policy_status(Bucket=name)["PolicyStatus"].get(
                        "IsPublic", False
                    )
                ),
                NO_POLICY,
                False,
            )

        versioning = read_attribute(
            config, "versioning", lambda: regional.get_bucket_versioning(Bucket=name)
        )
        if versioning is None:
            same_unknown(config, "versioning", "mfa_delete")
        else:
            config["versioning"] = versioning.get("Status") or "Disabled"
            config["mfa_delete"] = versioning.get("MFADelete") or "Disabled"

        read_attribute(
            config,
            "encryption",
            lambda: encryption_algorithms(regional.get_bucket_encryption(Bucket=name)),
            NO_ENCRYPTION,
            [],
        )
        read_attribute(
            config,
            "logging_target",
            lambda: (regional.get_bucket_logging(Bucket=name).get("LoggingEnabled") or {}).get(
                "TargetBucket"
            ),
        )
        read_attribute(
            config,
            "object_ownership",
            lambda: object_ownership(regional.get_bucket_ownership_controls(Bucket=name)),
            NO_OWNERSHIP_CONTROLS,
            None,
        )

        if BUCKET_GONE in (config.get("unknown") or {}).values():
            return None  # deleted between ListBuckets and now
        return self.global_resource(
            session, "s3.bucket", f"arn:{PARTITION}:s3:::{name}", config, name
        )


COLLECTOR = S3Collector()
