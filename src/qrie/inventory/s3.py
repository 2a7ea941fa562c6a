"""S3 inventory (scope: ``global``; a bucket's location is ``config["region"]``).

One paginated ListBuckets (``MaxBuckets`` = page size, so ``ContinuationToken`` paging applies
and each entry carries ``BucketRegion``), then per bucket: GetBucketLocation (only when the
listing did not give the region), GetPublicAccessBlock, GetBucketPolicy, GetBucketPolicyStatus
(skipped when there is no policy: it is then not public), GetBucketVersioning (incl. MFADelete),
GetBucketEncryption, GetBucketLogging, GetBucketOwnershipControls. Per-bucket calls go to a
client in the bucket's region (cached per region by the session), which avoids S3's
cross-region redirects. Config shape: ``S3Bucket`` in qrie.inventory.schema.

A failing ListBuckets raises (the scope is not swept). A failing per-bucket call records the
attribute as unknown; "not configured" answers are data (see the schema's absent values).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qrie.domain import GLOBAL, Resource
from qrie.inventory.base import Session, iso, ordered_map, paginate, read_attribute
from qrie.inventory.iam import same_unknown, store_document
from qrie.inventory.schema import PublicAccessBlock

SERVICE = "s3"
PARTITION = "aws"
LISTING_REGION = "us-east-1"
DEFAULT_PAGE_SIZE = 1000
BUCKET_THREADS = 16  # settings read concurrently (ordered_map)
MAX_PAGE_SIZE = 10_000  # ListBuckets' MaxBuckets upper bound

NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})
NO_POLICY = frozenset({"NoSuchBucketPolicy"})
NO_ENCRYPTION = frozenset({"ServerSideEncryptionConfigurationNotFoundError"})
NO_OWNERSHIP_CONTROLS = frozenset({"OwnershipControlsNotFoundError"})
BUCKET_GONE = "NoSuchBucket"

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


class S3Collector:
    """Buckets of one account, with their public-access, policy, versioning, encryption,
    logging and ownership settings."""

    service = SERVICE

    def __init__(self, page_size: int = DEFAULT_PAGE_SIZE, threads: int = BUCKET_THREADS) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        self.threads = threads

    def scopes(self, session: Session, regions: Sequence[str]) -> list[str]:
        return [GLOBAL]

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        if scope != GLOBAL:
            raise ValueError(f"s3 has only the {GLOBAL!r} scope, got {scope!r}")
        client = session.client("s3", LISTING_REGION)
        buckets = paginate(
            client, "list_buckets", "Buckets", PaginationConfig={"PageSize": self.page_size}
        )
        # each bucket's settings are 6-7 calls: read several buckets at a time, in order
        for resource in ordered_map(
            lambda bucket: self._bucket(session, client, bucket), buckets, self.threads
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
        return Resource(
            arn=f"arn:{PARTITION}:s3:::{name}",
            account_id=session.account_id,
            service=SERVICE,
            type="s3.bucket",
            scope=GLOBAL,
            config=config,
            name=name,
        )


COLLECTOR = S3Collector()
