"""The S3 collector against moto, through assumed member-account roles (as the engine runs it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qrie.aws import AccountSession, AccountSessions
from qrie.domain import GLOBAL, Resource
from qrie.inventory import s3
from qrie.inventory.iam import MAX_DOCUMENT_BYTES, document_size
from qrie.inventory.registry import get_collector
from tests.unit.collectors_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    HookedSession,
    deny,
)

LOG_DELIVERY = 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"'


# ---- fixtures and helpers ----------------------------------------------------------------------


def recording_page_sizes(sent_page_sizes: list[int]) -> dict[str, Callable[..., Any]]:
    """Records the MaxBuckets of every ListBuckets request (the local AWS pages as S3 does)."""

    def record(params: dict[str, Any], **_: Any) -> None:
        if "MaxBuckets" in params:
            sent_page_sizes.append(params["MaxBuckets"])

    return {"before-parameter-build.s3.ListBuckets": record}


def create_bucket(session: AccountSession, name: str, region: str = "us-east-1") -> Any:
    client = session.client("s3", region)
    if region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return client


def by_name(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources if r.type == "s3.bucket"}


def buckets_of(resources: Iterable[Resource]) -> list[Resource]:
    """The buckets among a collection (which starts with the account's ``s3.account``)."""
    return [r for r in resources if r.type == "s3.bucket"]


def account_of(resources: list[Resource]) -> Resource:
    (account,) = [r for r in resources if r.type == "s3.account"]
    return account


ALL_ON = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)
ALL_OFF = dict.fromkeys(ALL_ON, False)
# A new bucket as S3 creates it since 2023 (the local AWS too): SSE-S3, Block Public Access on,
# ACLs disabled; nothing configured at the account level.
DEFAULT_BUCKET_CONFIG: dict[str, Any] = {
    "region": "us-east-1",
    "account_public_access_block": ALL_OFF,
    "public_access_block": ALL_ON,
    "policy": None,
    "policy_is_public": False,
    "versioning": "Disabled",
    "mfa_delete": "Disabled",
    "encryption": ["AES256"],
    "logging_target": None,
    "object_ownership": "BucketOwnerEnforced",
}


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


# ---- tests -------------------------------------------------------------------------------------
def test_registry_and_scopes() -> None:
    # GIVEN the registered s3 collector
    collector = get_collector("s3")
    # WHEN asked for its scopes for any regions
    scopes = collector.scopes(None, ["eu-west-1", "us-east-1"])  # type: ignore[arg-type]
    # THEN it is this module's collector and S3 has exactly the global scope
    assert collector is s3.COLLECTOR
    assert collector.service == "s3"
    assert scopes == [GLOBAL]


def test_each_account_inventory_holds_only_its_own_buckets(sessions: AccountSessions) -> None:
    # GIVEN three member accounts with different buckets
    layout = {
        ACCOUNT_A: ["alpha-logs", "alpha-data"],
        ACCOUNT_B: ["bravo-site"],
        ACCOUNT_C: ["charlie-1", "charlie-2", "charlie-3"],
    }
    for account, names in layout.items():
        session = sessions.for_account(account)
        for name in names:
            create_bucket(session, name)

    for account, names in layout.items():
        # WHEN the account's S3 inventory is collected through its assumed role
        resources = list(s3.COLLECTOR.collect(sessions.for_account(account), GLOBAL))
        # THEN it holds exactly that account's buckets, typed and addressed per the schema
        buckets = buckets_of(resources)
        assert sorted(r.name for r in buckets) == sorted(names)
        assert {r.account_id for r in resources} == {account}
        assert {r.scope for r in resources} == {GLOBAL}
        assert sorted(r.arn for r in buckets) == sorted(f"arn:aws:s3:::{n}" for n in names)
        # AND, first, the account's own S3 settings
        assert resources[0].type == "s3.account"
        assert resources[0].arn == f"arn:aws:s3::{account}:account"
        assert len(resources) == len(names) + 1


def test_a_new_bucket_has_s3s_defaults(sessions: AccountSessions) -> None:
    # GIVEN a bucket created with nothing configured (S3 encrypts it, blocks public access and
    # disables ACLs by default)
    session = HookedSession(sessions.for_account(ACCOUNT_A))
    create_bucket(sessions.for_account(ACCOUNT_A), "plain-bucket")
    session.calls.clear()

    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))

    # THEN its config holds those defaults, and nothing is unknown
    config = dict(bucket.config)
    assert config.pop("created", "").endswith("Z")
    assert config == DEFAULT_BUCKET_CONFIG
    assert bucket.unknown("public_access_block") is None
    # AND with no bucket policy there is nothing for GetBucketPolicyStatus to report, and with
    # ACLs disabled no ACL to read
    assert session.calls["GetBucketPolicyStatus"] == 0
    assert session.calls["GetBucketAcl"] == 0
    assert session.calls["GetBucketPolicy"] == 1


def test_missing_configurations_are_data(sessions: AccountSessions) -> None:
    # GIVEN a bucket whose Block Public Access and ownership controls were removed
    member = sessions.for_account(ACCOUNT_A)
    client = create_bucket(member, "bare-bucket")
    client.delete_public_access_block(Bucket="bare-bucket")
    client.delete_bucket_ownership_controls(Bucket="bare-bucket")

    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(member, GLOBAL))

    # THEN "not configured" answers are the schema's absent values, and the ACL is read
    assert bucket.config["public_access_block"] == ALL_OFF
    assert bucket.config["object_ownership"] is None
    grants = bucket.config["acl_grants"]
    assert [(g["type"], g["permission"]) for g in grants] == [("CanonicalUser", "FULL_CONTROL")]
    assert "unknown" not in bucket.config


def test_configured_bucket_is_normalized(sessions: AccountSessions) -> None:
    # GIVEN a eu-west-1 bucket with every setting configured, and a public one next to it
    member = sessions.for_account(ACCOUNT_B)
    client = create_bucket(member, "locked-down", "eu-west-1")
    logs = create_bucket(member, "locked-down-logs", "eu-west-1")
    # S3 refuses ACLs on a bucket whose ACLs are disabled: enable them first
    logs.put_bucket_ownership_controls(
        Bucket="locked-down-logs",
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
    )
    logs.put_bucket_acl(
        Bucket="locked-down-logs",
        GrantWrite=LOG_DELIVERY,
        GrantReadACP=LOG_DELIVERY,
    )
    client.put_public_access_block(
        Bucket="locked-down",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    client.put_bucket_policy(
        Bucket="locked-down", Policy=json.dumps(tls_only_policy("locked-down"))
    )
    client.put_bucket_versioning(
        Bucket="locked-down",
        VersioningConfiguration={"Status": "Enabled"},
    )
    client.put_bucket_encryption(
        Bucket="locked-down",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    client.put_bucket_logging(
        Bucket="locked-down",
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "locked-down-logs", "TargetPrefix": "s3/"}
        },
    )
    client.put_bucket_ownership_controls(
        Bucket="locked-down",
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    create_bucket(member, "open-site")
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::open-site/*",
            }
        ],
    }
    # Block Public Access (on for a new bucket) refuses a public policy: turn it off first
    member.client("s3").delete_public_access_block(Bucket="open-site")
    member.client("s3").put_bucket_policy(Bucket="open-site", Policy=json.dumps(public))

    # WHEN collected
    buckets = by_name(list(s3.COLLECTOR.collect(member, GLOBAL)))

    # THEN the configured bucket's settings are read from its own region and normalized
    locked = buckets["locked-down"].config
    assert locked["region"] == "eu-west-1"
    assert set(locked["public_access_block"].values()) == {True}
    assert locked["policy"] == tls_only_policy("locked-down")
    assert locked["policy_is_public"] is False
    assert (locked["versioning"], locked["mfa_delete"]) == ("Enabled", "Disabled")
    assert locked["encryption"] == ["aws:kms"]
    assert locked["logging_target"] == "locked-down-logs"
    assert locked["object_ownership"] == "BucketOwnerEnforced"
    assert "unknown" not in locked
    # AND the log bucket's ACL grants are read, groups by name
    grants = buckets["locked-down-logs"].config["acl_grants"]
    assert {"grantee": "LogDelivery", "type": "Group", "permission": "WRITE"} in grants
    assert "acl_grants" not in locked  # ACLs disabled: not read
    # AND a policy that grants everyone access is reported public, with its document parsed
    assert buckets["open-site"].config["policy_is_public"] is True
    assert buckets["open-site"].config["policy"] == public
    # AND the config is JSON-safe as stored
    json.dumps([b.config for b in buckets.values()])


def test_denied_per_bucket_call_is_unknown_not_a_pass(sessions: AccountSessions) -> None:
    # GIVEN a bucket with a policy, and a role that may not call GetBucketPolicyStatus
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "guarded").put_bucket_policy(
        Bucket="guarded", Policy=json.dumps(tls_only_policy("guarded"))
    )
    session = HookedSession(
        member, {"before-call.s3.GetBucketPolicyStatus": deny("GetBucketPolicyStatus")}
    )

    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))

    # THEN that attribute is None with the reason recorded, and the rest is still read
    assert bucket.config["policy_is_public"] is None
    assert bucket.unknown("policy_is_public") == "AccessDenied"
    assert bucket.config["unknown"] == {"policy_is_public": "AccessDenied"}
    assert bucket.config["policy"] == tls_only_policy("guarded")
    assert bucket.config["versioning"] == "Disabled"


def test_denied_versioning_marks_both_of_its_attributes_unknown(
    sessions: AccountSessions,
) -> None:
    # GIVEN a role that may not call GetBucketVersioning
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "no-versioning-read")
    session = HookedSession(
        member, {"before-call.s3.GetBucketVersioning": deny("GetBucketVersioning")}
    )
    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))
    # THEN versioning and MFA delete (one call feeds both) are unknown, not "Disabled"
    assert bucket.config["versioning"] is None
    assert bucket.config["mfa_delete"] is None
    assert bucket.config["unknown"] == {"versioning": "AccessDenied", "mfa_delete": "AccessDenied"}


def test_mfa_delete_is_read_from_versioning(sessions: AccountSessions) -> None:
    # GIVEN a versioned bucket with MFA delete enabled (with the MFA device's code, as S3 asks)
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "mfa-bucket").put_bucket_versioning(
        Bucket="mfa-bucket",
        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA="arn:aws:iam::111111111111:mfa/root-account-mfa-device 123456",
    )
    session = HookedSession(member)
    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))
    # THEN both settings come from the one call
    assert (bucket.config["versioning"], bucket.config["mfa_delete"]) == ("Enabled", "Enabled")
    assert session.calls["GetBucketVersioning"] == 1


def test_list_buckets_is_paginated(sessions: AccountSessions) -> None:
    # GIVEN 25 buckets and a collector with pages of 10 buckets
    member = sessions.for_account(ACCOUNT_C)
    names = [f"paged-bucket-{i:02d}" for i in range(25)]
    for name in names:
        create_bucket(member, name)
    sent: list[int] = []
    session = HookedSession(member, recording_page_sizes(sent))
    collector = s3.S3Collector(page_size=10)

    # WHEN collected
    resources = list(collector.collect(session, GLOBAL))

    # THEN every bucket is there, fetched in three ListBuckets pages of at most 10
    assert sorted(r.name for r in buckets_of(resources)) == names
    assert session.calls["ListBuckets"] == 3
    assert sent == [10, 10, 10]
    # AND each bucket got its per-bucket reads (minus the policy status and the disabled ACL)
    assert session.calls["GetBucketLocation"] == 25
    assert session.calls["GetBucketOwnershipControls"] == 25
    assert session.calls["GetBucketAcl"] == 0


def test_collect_streams_buckets(sessions: AccountSessions) -> None:
    # GIVEN 12 buckets, listed 5 per page
    member = sessions.for_account(ACCOUNT_B)
    for i in range(12):
        create_bucket(member, f"stream-bucket-{i:02d}")
    session = HookedSession(member)
    # WHEN only the account and the first bucket are taken from the generator, one bucket read
    # at a time
    collected = iter(s3.S3Collector(page_size=5, threads=1).collect(session, GLOBAL))
    account, first = next(collected), next(collected)
    # THEN only the first page was listed and only that bucket was read
    assert account.type == "s3.account"
    assert first.name == "stream-bucket-00"
    assert session.calls["ListBuckets"] == 1
    assert session.calls["GetBucketVersioning"] == 1


def test_collect_reads_buckets_concurrently_a_window_ahead(sessions: AccountSessions) -> None:
    # GIVEN 12 buckets, listed 5 per page, read 2 at a time
    member = sessions.for_account(ACCOUNT_B)
    for i in range(12):
        create_bucket(member, f"window-bucket-{i:02d}")
    session = HookedSession(member)
    collected = s3.S3Collector(page_size=5, threads=2).collect(session, GLOBAL)
    # WHEN the account and the first bucket are taken
    assert next(collected).type == "s3.account"
    first = next(collected)
    # THEN it is the first bucket, and no more than the window (2 x 2 threads) was read ahead
    assert first.name == "window-bucket-00"
    assert session.calls["ListBuckets"] == 1
    assert session.calls["GetBucketVersioning"] <= 4
    # AND the rest come in the listing's order
    rest = [r.name for r in collected]
    assert rest == [f"window-bucket-{i:02d}" for i in range(1, 12)]


def test_bucket_region_from_the_listing_saves_get_bucket_location(
    sessions: AccountSessions,
) -> None:
    # GIVEN a ListBuckets answer that carries BucketRegion (as S3 does when MaxBuckets is sent)
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "regional-bucket", "eu-west-1")

    def add_region(parsed: dict[str, Any], **_: Any) -> None:
        for bucket in parsed.get("Buckets", []):
            bucket["BucketRegion"] = "eu-west-1"

    session = HookedSession(member, {"after-call.s3.ListBuckets": add_region})
    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))
    # THEN the listed region is used and GetBucketLocation is not called
    assert bucket.config["region"] == "eu-west-1"
    assert session.calls["GetBucketLocation"] == 0
    assert session.calls["GetBucketVersioning"] == 1


@pytest.mark.parametrize(
    ("location", "region"),
    [(None, "us-east-1"), ("", "us-east-1"), ("EU", "eu-west-1"), ("ap-south-1", "ap-south-1")],
)
def test_legacy_location_constraints(location: str | None, region: str) -> None:
    # GIVEN a GetBucketLocation LocationConstraint / WHEN mapped / THEN it names the region
    assert s3.bucket_region(location) == region


def test_list_buckets_failure_propagates(sessions: AccountSessions) -> None:
    # GIVEN a role that may not list buckets
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "invisible")
    session = HookedSession(member, {"before-call.s3.ListBuckets": deny("ListBuckets")})
    # WHEN collected / THEN the listing error is raised (the engine must not sweep the scope)
    with pytest.raises(ClientError) as caught:
        list(s3.COLLECTOR.collect(session, GLOBAL))
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_bucket_deleted_while_listing_is_skipped(sessions: AccountSessions) -> None:
    # GIVEN two listed buckets, one of which is gone by the time it is read
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "still-here")
    create_bucket(member, "just-deleted")

    def gone(params: dict[str, Any], **_: Any) -> None:
        if "just-deleted" in str(params.get("url", "")):
            deny("GetBucketLocation", "NoSuchBucket")()

    session = HookedSession(member, {"before-call.s3.GetBucketLocation": gone})
    # WHEN collected
    names = [r.name for r in buckets_of(s3.COLLECTOR.collect(session, GLOBAL))]
    # THEN the deleted bucket is not reported (with unknown attributes) and reads stop early
    assert names == ["still-here"]
    assert session.calls["GetBucketVersioning"] == 1


def test_oversized_bucket_policy_is_reduced(sessions: AccountSessions) -> None:
    # GIVEN a bucket policy of about 13 KB (S3 allows 20 KB)
    member = sessions.for_account(ACCOUNT_A)
    statements = [
        {
            "Sid": f"AllowPartner{i:03d}WithAVeryLongStatementIdentifierToPadTheDocument",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{100000000000 + i}:root"},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::big-policy/partner-{i:03d}/*"],
        }
        for i in range(50)
    ]
    document = {"Version": "2012-10-17", "Statement": statements}
    assert document_size(document) > MAX_DOCUMENT_BYTES
    create_bucket(member, "big-policy").put_bucket_policy(
        Bucket="big-policy", Policy=json.dumps(document)
    )

    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(member, GLOBAL))

    # THEN the stored policy is bounded, marked truncated and keeps only the deciding keys
    policy = bucket.config["policy"]
    assert document_size(policy) <= MAX_DOCUMENT_BYTES
    assert bucket.config["policy_truncated"] is True
    assert all("Sid" not in s for s in policy["Statement"])
    kept = len(policy["Statement"]) + bucket.config.get("policy_statements_dropped", 0)
    assert kept == 50
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::100000000000:root"}


# ---- the account's S3 settings: account-level Block Public Access, CloudTrail trails ------------
def trail_client(session: AccountSession, region: str, name: str, multi_region: bool) -> Any:
    """A started trail (its log bucket created beside it) and the region's CloudTrail client."""
    client = session.client("cloudtrail", region)
    create_bucket(session, f"{name}-logs")
    client.create_trail(Name=name, S3BucketName=f"{name}-logs", IsMultiRegionTrail=multi_region)
    client.start_logging(Name=name)
    return client


def test_account_level_block_public_access_reaches_every_bucket(
    sessions: AccountSessions,
) -> None:
    # GIVEN an account that blocks public policies at the account level, and two buckets
    member = sessions.for_account(ACCOUNT_B)
    member.client("s3control").put_public_access_block(
        AccountId=ACCOUNT_B,
        PublicAccessBlockConfiguration={"BlockPublicPolicy": True, "RestrictPublicBuckets": True},
    )
    create_bucket(member, "first")
    create_bucket(member, "second", "eu-west-1")
    session = HookedSession(member)

    # WHEN collected
    resources = list(s3.COLLECTOR.collect(session, GLOBAL))

    # THEN the account's settings are read once, with the member's account id
    expected = {**ALL_OFF, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert account_of(resources).config["public_access_block"] == expected
    assert session.calls["GetPublicAccessBlock"] == 1 + 2  # the account, then each bucket
    # AND each bucket carries them beside its own
    for bucket in buckets_of(resources):
        assert bucket.config["account_public_access_block"] == expected
        assert bucket.config["public_access_block"] == ALL_ON


def test_denied_account_level_block_public_access_is_unknown_everywhere(
    sessions: AccountSessions,
) -> None:
    # GIVEN a role that may not read the account-level settings
    member = sessions.for_account(ACCOUNT_A)
    create_bucket(member, "some-bucket")
    session = HookedSession(
        member, {"before-call.s3-control.GetPublicAccessBlock": deny("GetPublicAccessBlock")}
    )
    # WHEN collected
    resources = list(s3.COLLECTOR.collect(session, GLOBAL))
    # THEN the account's and every bucket's copy are unknown with the reason, not "off"
    assert account_of(resources).unknown("public_access_block") == "AccessDenied"
    (bucket,) = buckets_of(resources)
    assert bucket.config["account_public_access_block"] is None
    assert bucket.unknown("account_public_access_block") == "AccessDenied"
    assert bucket.config["public_access_block"] == ALL_ON


def test_trails_and_their_s3_data_event_selectors(sessions: AccountSessions) -> None:
    # GIVEN a multi-region trail at home in eu-west-1 with basic S3 data event selectors, a
    # multi-region trail with advanced selectors, and a single-region trail
    member = sessions.for_account(ACCOUNT_C)
    basic = trail_client(member, "eu-west-1", "basic-trail", multi_region=True)
    basic.put_event_selectors(
        TrailName="basic-trail",
        EventSelectors=[
            {
                "ReadWriteType": "WriteOnly",
                "IncludeManagementEvents": True,
                "DataResources": [
                    {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]},
                    {"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]},
                ],
            }
        ],
    )
    advanced = trail_client(member, "us-east-1", "advanced-trail", multi_region=True)
    advanced.put_event_selectors(
        TrailName="advanced-trail",
        AdvancedEventSelectors=[
            {
                "Name": "s3 reads",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    {"Field": "readOnly", "Equals": ["true"]},
                    {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::"]},
                ],
            }
        ],
    )
    advanced.stop_logging(Name="advanced-trail")
    trail_client(member, "us-east-1", "local-trail", multi_region=False)
    session = HookedSession(member)

    # WHEN collected
    account = account_of(list(s3.COLLECTOR.collect(session, GLOBAL)))

    # THEN every trail is listed; the multi-region ones with their S3 selectors and status
    trails = {t["name"]: t for t in account.config["trails"]}
    assert set(trails) == {"basic-trail", "advanced-trail", "local-trail"}
    assert trails["basic-trail"]["home_region"] == "eu-west-1"
    assert trails["basic-trail"]["multi_region"] is True
    assert trails["basic-trail"]["logging"] is True
    assert trails["basic-trail"]["event_selectors"] == [
        {
            "read_write_type": "WriteOnly",
            "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}],
        }
    ]
    assert trails["advanced-trail"]["logging"] is False
    assert trails["advanced-trail"]["advanced_event_selectors"] == [
        {
            "name": "s3 reads",
            "field_selectors": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "readOnly", "equals": ["true"]},
                {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::"]},
            ],
        }
    ]
    # AND a single-region trail cannot satisfy the controls: nothing more is read for it
    assert trails["local-trail"]["multi_region"] is False
    assert trails["local-trail"]["event_selectors"] is None
    assert session.calls["GetEventSelectors"] == session.calls["GetTrailStatus"] == 2
    # AND each trail is read in its home region, by ARN
    assert ("GetEventSelectors", "eu-west-1") in session.regions
    assert ("DescribeTrails", "us-east-1") in session.regions
    json.dumps(account.config)


@pytest.mark.parametrize(
    ("operation", "where"),
    [
        ("DescribeTrails", "trails"),
        ("GetEventSelectors", "selectors"),
        ("GetTrailStatus", "logging"),
    ],
)
def test_denied_trail_reads_are_unknown(
    sessions: AccountSessions, operation: str, where: str
) -> None:
    # GIVEN a multi-region trail, and a role that may not call one of the CloudTrail reads
    member = sessions.for_account(ACCOUNT_A)
    trail_client(member, "us-east-1", "main-trail", multi_region=True)
    session = HookedSession(member, {f"before-call.cloudtrail.{operation}": deny(operation)})
    # WHEN collected
    account = account_of(list(s3.COLLECTOR.collect(session, GLOBAL)))
    # THEN what it would have read is unknown with the reason; nothing is taken as "off"
    if where == "trails":
        assert account.config["trails"] is None
        assert account.unknown("trails") == "AccessDenied"
        return
    (trail,) = account.config["trails"]
    assert trail["unknown"] == {where: "AccessDenied"}
    attribute = "event_selectors" if where == "selectors" else "logging"
    assert trail[attribute] is None


def test_a_public_acl_is_read_with_its_groups(sessions: AccountSessions) -> None:
    # GIVEN a bucket with ACLs enabled and without Block Public Access, made public-read
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("s3")
    client.create_bucket(Bucket="old-style", ObjectOwnership="ObjectWriter")
    client.delete_public_access_block(Bucket="old-style")
    client.put_bucket_acl(Bucket="old-style", ACL="public-read")
    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(member, GLOBAL))
    # THEN its grants name the AllUsers group
    assert {"grantee": "AllUsers", "type": "Group", "permission": "READ"} in bucket.config[
        "acl_grants"
    ]
    assert bucket.config["object_ownership"] == "ObjectWriter"


def test_denied_acl_read_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a bucket with ACLs enabled and a role that may not read ACLs
    member = sessions.for_account(ACCOUNT_A)
    member.client("s3").create_bucket(Bucket="acl-enabled", ObjectOwnership="ObjectWriter")
    session = HookedSession(member, {"before-call.s3.GetBucketAcl": deny("GetBucketAcl")})
    # WHEN collected
    (bucket,) = buckets_of(s3.COLLECTOR.collect(session, GLOBAL))
    # THEN the grants are unknown, not "none"
    assert bucket.config["acl_grants"] is None
    assert bucket.unknown("acl_grants") == "AccessDenied"
