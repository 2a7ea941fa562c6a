"""S3 inventory (scope: ``global``; a bucket's location is ``config["region"]``).

First the account's S3 settings, one ``s3.account`` resource: account-level Block Public Access
(s3control GetPublicAccessBlock) and the CloudTrail trails that may log S3 object-level events
(DescribeTrails with shadow trails, then GetEventSelectors and GetTrailStatus of each
multi-region trail, in its home region). Then one paginated ListBuckets (``MaxBuckets`` = page
size, so ``ContinuationToken`` paging applies and each entry carries ``BucketRegion``) and a few
reads per bucket; each bucket's config also carries the account-level Block Public Access
settings, as S3 applies the stricter of the two levels. :data:`CALLS` lists every call, its IAM
action and how often it is made. Per-bucket calls go to a client in the bucket's region (cached
per region by the session), which avoids S3's cross-region redirects. Config shapes:
``S3Account`` and ``S3Bucket`` in qrie.inventory.schema.

Why trails are read here, not by a ``cloudtrail`` service of their own: CIS 3.8/3.9 judge S3
object-level logging, and the account-level Block Public Access belongs to S3 too; a new service
would add a task per account to every job (a third more orchestration for three calls) and a
name to every ``--service`` choice. Only multi-region trails can satisfy the controls, and
DescribeTrails in one region lists every one of them (as shadow trails outside their home).

A failing ListBuckets raises (the scope is not swept). A failing per-bucket or per-account call
records the attribute as unknown; "not configured" answers are data (see the schema's absent
values).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from qrie.domain import Resource
from qrie.inventory.base import GlobalCollector, Session, iso, read_attribute, same_unknown
from qrie.inventory.calls import AwsCall, CallSheet
from qrie.inventory.iam import store_document
from qrie.inventory.schema import (
    AclGrant,
    AdvancedEventSelector,
    EventSelector,
    FieldSelector,
    PublicAccessBlock,
    Trail,
)

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
ACLS_DISABLED = "BucketOwnerEnforced"
S3_OBJECT = "AWS::S3::Object"
# GetEventSelectors' advanced field-selector tests, by their schema names.
FIELD_TESTS = {
    "Equals": "equals",
    "StartsWith": "starts_with",
    "EndsWith": "ends_with",
    "NotEquals": "not_equals",
    "NotStartsWith": "not_starts_with",
    "NotEndsWith": "not_ends_with",
}

CALLS = CallSheet(
    scope="scope `global`",
    notation=(
        "`B` buckets, `P_b` buckets that have a bucket policy, `E_b` buckets whose ACLs are "
        "disabled (Object Ownership `BucketOwnerEnforced`), `T` multi-region trails"
    ),
    calls=(
        AwsCall(
            "GetPublicAccessBlock",
            "s3:GetAccountPublicAccessBlock",
            "1",
            "the account-level settings, `AccountId` = the member account; "
            "`NoSuchPublicAccessBlockConfiguration` → all four flags False",
            client="s3control",
        ),
        AwsCall(
            "DescribeTrails",
            "cloudtrail:DescribeTrails",
            "1",
            "`includeShadowTrails=True` in us-east-1: every multi-region trail (organization "
            "trails too); denied → `trails` unknown",
        ),
        AwsCall(
            "GetEventSelectors",
            "cloudtrail:GetEventSelectors",
            "T",
            "each multi-region trail, by ARN in its home region (basic and advanced selectors)",
        ),
        AwsCall(
            "GetTrailStatus",
            "cloudtrail:GetTrailStatus",
            "T",
            "each multi-region trail, by ARN in its home region (`IsLogging`)",
        ),
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
        AwsCall(
            "GetBucketAcl",
            "s3:GetBucketAcl",
            "B - E_b",
            "skipped when ACLs are disabled (`BucketOwnerEnforced`: S3 ignores them)",
        ),
    ),
    total=(
        "`2 + 2·T + ⌈B/1000⌉ + 7·B + P_b - E_b` on AWS (with `BucketRegion` in the listing); at "
        "most `2 + 2·T + ⌈B/1000⌉ + 9·B`. Per-bucket calls go to a client in the bucket's "
        "region (no cross-region redirects). Example: 500 buckets, 50 with a policy, 400 with "
        "ACLs disabled, one multi-region trail → 2 + 2 + 1 + 3,500 + 50 - 400 = 3,155 calls."
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


def acl_grants(response: dict[str, Any]) -> list[AclGrant]:
    """GetBucketAcl's grants: a group by the last part of its URI (``AllUsers``), anyone else
    by id or email."""
    grants: list[AclGrant] = []
    for grant in response.get("Grants") or []:
        grantee = grant.get("Grantee") or {}
        kind = str(grantee.get("Type", ""))
        who = grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress") or ""
        if kind == "Group":
            who = str(who).rstrip("/").rsplit("/", 1)[-1]
        grants.append({"grantee": str(who), "type": kind, "permission": str(grant["Permission"])})
    return grants


def event_selectors(response: dict[str, Any]) -> list[EventSelector]:
    """Basic event selectors, keeping their S3 object data resources."""
    return [
        {
            "read_write_type": str(selector.get("ReadWriteType", "All")),
            "data_resources": [
                {"type": S3_OBJECT, "values": [str(v) for v in resource.get("Values") or []]}
                for resource in selector.get("DataResources") or []
                if resource.get("Type") == S3_OBJECT
            ],
        }
        for selector in response.get("EventSelectors") or []
    ]


def advanced_event_selectors(response: dict[str, Any]) -> list[AdvancedEventSelector]:
    selectors: list[AdvancedEventSelector] = []
    for selector in response.get("AdvancedEventSelectors") or []:
        fields: list[FieldSelector] = []
        for field in selector.get("FieldSelectors") or []:
            normalized: FieldSelector = {"field": str(field.get("Field", ""))}
            for camel, snake in FIELD_TESTS.items():
                if field.get(camel):
                    normalized[snake] = [str(v) for v in field[camel]]  # type: ignore[literal-required]
            fields.append(normalized)
        name = selector.get("Name")
        selectors.append({"name": str(name) if name else None, "field_selectors": fields})
    return selectors


class S3Collector(GlobalCollector):
    """The account's S3 settings (account-level Block Public Access, CloudTrail trails) and its
    buckets, with their public-access, policy, ACL, versioning, encryption, logging and
    ownership settings."""

    service = SERVICE
    calls = CALLS
    default_page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    default_threads = BUCKET_THREADS

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        self.check_scope(scope)
        account = self._account(session)
        yield account
        # the account-level settings every bucket's config carries, and why they are unknown
        shared = (account.config["public_access_block"], account.unknown("public_access_block"))
        client = session.client("s3", LISTING_REGION)
        buckets = self.pages(client, "list_buckets", "Buckets")
        # each bucket's settings are 7-9 calls: read several buckets at a time, in order
        for resource in self.concurrently(
            lambda bucket: self._bucket(session, client, bucket, shared), buckets
        ):
            if resource is not None:
                yield resource

    # -- the account's S3 settings --
    def _account(self, session: Session) -> Resource:
        config: dict[str, Any] = {}
        control = session.client("s3control", LISTING_REGION)
        read_attribute(
            config,
            "public_access_block",
            lambda: public_access_block(
                control.get_public_access_block(AccountId=session.account_id)
            ),
            NO_PUBLIC_ACCESS_BLOCK,
            dict(NOT_BLOCKED),
        )
        trails = read_attribute(
            config,
            "trails",
            lambda: session.client("cloudtrail", LISTING_REGION).describe_trails(
                includeShadowTrails=True
            )["trailList"],
        )
        if trails is not None:
            config["trails"] = [self._trail(session, trail) for trail in trails]
        arn = f"arn:{PARTITION}:s3::{session.account_id}:account"
        return self.global_resource(session, "s3.account", arn, config, session.account_id)

    @staticmethod
    def _trail(session: Session, listed: dict[str, Any]) -> Trail:
        arn = str(listed.get("TrailARN", ""))
        home = str(listed.get("HomeRegion") or LISTING_REGION)
        trail: dict[str, Any] = {
            "name": str(listed.get("Name", "")),
            "arn": arn,
            "home_region": home,
            "multi_region": bool(listed.get("IsMultiRegionTrail", False)),
            "organization": bool(listed.get("IsOrganizationTrail", False)),
            "logging": None,
            "event_selectors": None,
            "advanced_event_selectors": None,
        }
        if not trail["multi_region"]:
            return cast(Trail, trail)  # cannot satisfy the controls: nothing more to read
        regional = session.client("cloudtrail", home)
        selectors = read_attribute(
            trail, "selectors", lambda: regional.get_event_selectors(TrailName=arn)
        )
        del trail["selectors"]
        if selectors is not None:
            trail["event_selectors"] = event_selectors(selectors)
            trail["advanced_event_selectors"] = advanced_event_selectors(selectors)
        read_attribute(
            trail, "logging", lambda: bool(regional.get_trail_status(Name=arn).get("IsLogging"))
        )
        return cast(Trail, trail)

    # -- buckets --
    def _bucket(
        self,
        session: Session,
        client: Any,
        bucket: dict[str, Any],
        account: tuple[PublicAccessBlock | None, str | None],
    ) -> Resource | None:
        name = str(bucket["Name"])
        config: dict[str, Any] = {"created": iso(bucket.get("CreationDate"))}
        config["account_public_access_block"], unread = account
        if unread is not None:
            config["unknown"] = {"account_public_access_block": unread}
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
        ownership = read_attribute(
            config,
            "object_ownership",
            lambda: object_ownership(regional.get_bucket_ownership_controls(Bucket=name)),
            NO_OWNERSHIP_CONTROLS,
            None,
        )
        if ownership != ACLS_DISABLED:
            read_attribute(
                config, "acl_grants", lambda: acl_grants(regional.get_bucket_acl(Bucket=name))
            )

        if BUCKET_GONE in (config.get("unknown") or {}).values():
            return None  # deleted between ListBuckets and now
        return self.global_resource(
            session, "s3.bucket", f"arn:{PARTITION}:s3:::{name}", config, name
        )


COLLECTOR = S3Collector()
