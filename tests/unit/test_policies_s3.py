"""S3 bucket policies: compliant, non-compliant, unknown (missing data) and not-applicable cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from qrie.domain import Resource
from qrie.policies import s3
from qrie.policies.base import Outcome, Verdict
from qrie.policies.registry import module_policies

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICIES = {policy.id: policy for policy in module_policies(s3)}
ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ALL_OFF = dict.fromkeys(ALL_ON, False)


def bucket(**config: Any) -> Resource:
    return Resource(
        arn="arn:aws:s3:::data",
        account_id="111122223333",
        service="s3",
        type="s3.bucket",
        scope="global",
        config=config,
        name="data",
    )


def evaluate(policy_id: str, resource: Resource) -> Verdict | None:
    return POLICIES[policy_id].evaluate(resource, NOW)


def deny_http(**overrides: Any) -> dict[str, Any]:
    """The canonical TLS-only statement, with ``overrides`` applied (None removes a key)."""
    statement: dict[str, Any] = {
        "Sid": "DenyHttp",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    for key, value in overrides.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return statement


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# ---- compliant / non-compliant ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "config", "outcome", "evidence"),
    [
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": ALL_ON, "account_public_access_block": ALL_OFF},
            Outcome.COMPLIANT,
            "all four settings on: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, "
            "RestrictPublicBuckets (bucket)",
            id="pab-all-on",
        ),
        pytest.param(
            "s3.public_access_block",
            {
                "public_access_block": {**ALL_ON, "BlockPublicPolicy": False},
                "account_public_access_block": ALL_OFF,
            },
            Outcome.NON_COMPLIANT,
            "off at both the bucket and the account level: BlockPublicPolicy",
            id="pab-one-off",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": ALL_OFF, "account_public_access_block": ALL_OFF},
            Outcome.NON_COMPLIANT,
            "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets",
            id="pab-not-configured",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": {"BlockPublicAcls": True}, "account_public_access_block": {}},
            Outcome.NON_COMPLIANT,
            "IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets",
            id="pab-flag-missing",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": ALL_OFF, "account_public_access_block": ALL_ON},
            Outcome.COMPLIANT,
            "RestrictPublicBuckets (account)",
            id="pab-protected-at-the-account-level",
        ),
        pytest.param(
            "s3.public_access_block",
            {
                "public_access_block": {
                    **ALL_OFF,
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                },
                "account_public_access_block": {
                    **ALL_OFF,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            },
            Outcome.COMPLIANT,
            "BlockPublicAcls, IgnorePublicAcls (bucket); BlockPublicPolicy, RestrictPublicBuckets "
            "(account)",
            id="pab-levels-complete-each-other",
        ),
        pytest.param(
            "s3.public_access_block",
            {
                "public_access_block": {**ALL_ON, "RestrictPublicBuckets": False},
                "account_public_access_block": {**ALL_OFF, "BlockPublicAcls": True},
            },
            Outcome.NON_COMPLIANT,
            "off at both the bucket and the account level: RestrictPublicBuckets",
            id="pab-the-same-flag-off-at-both-levels",
        ),
        pytest.param(
            "s3.default_encryption",
            {"encryption": ["aws:kms"]},
            Outcome.COMPLIANT,
            "encryption=['aws:kms']",
            id="encryption-kms",
        ),
        pytest.param(
            "s3.default_encryption",
            {"encryption": []},
            Outcome.NON_COMPLIANT,
            "encryption=[]",
            id="encryption-none",
        ),
        pytest.param(
            "s3.versioning",
            {"versioning": "Enabled"},
            Outcome.COMPLIANT,
            "versioning='Enabled'",
            id="versioning-enabled",
        ),
        pytest.param(
            "s3.versioning",
            {"versioning": "Suspended"},
            Outcome.NON_COMPLIANT,
            "versioning='Suspended'",
            id="versioning-suspended",
        ),
        pytest.param(
            "s3.versioning",
            {"versioning": "Disabled"},
            Outcome.NON_COMPLIANT,
            "versioning='Disabled'",
            id="versioning-never",
        ),
        pytest.param(
            "s3.mfa_delete",
            {"versioning": "Enabled", "mfa_delete": "Enabled"},
            Outcome.COMPLIANT,
            "mfa_delete='Enabled'",
            id="mfa-delete-on",
        ),
        pytest.param(
            "s3.mfa_delete",
            {"versioning": "Enabled", "mfa_delete": "Disabled"},
            Outcome.NON_COMPLIANT,
            "mfa_delete='Disabled'",
            id="mfa-delete-off",
        ),
        pytest.param(
            "s3.mfa_delete",
            {"versioning": "Suspended", "mfa_delete": "Disabled"},
            Outcome.NON_COMPLIANT,
            "versioning='Suspended'",
            id="mfa-delete-off-suspended-still-holds-versions",
        ),
        pytest.param(
            "s3.mfa_delete",
            {"versioning": "Suspended", "mfa_delete": "Enabled"},
            Outcome.NON_COMPLIANT,
            "versioning='Suspended' (MFA delete needs versioning Enabled)",
            id="mfa-delete-on-but-versioning-suspended",
        ),
        pytest.param(
            "s3.mfa_delete",
            {"versioning": "Disabled", "mfa_delete": "Disabled"},
            Outcome.NON_COMPLIANT,
            "versioning='Disabled'",
            id="mfa-delete-never-versioned-fails",
        ),
        pytest.param(
            "s3.tls_only",
            {"policy": doc(deny_http())},
            Outcome.COMPLIANT,
            "Statement[DenyHttp]",
            id="tls-canonical",
        ),
        pytest.param(
            "s3.tls_only",
            {"policy": None},
            Outcome.NON_COMPLIANT,
            "policy=None",
            id="tls-no-policy",
        ),
        pytest.param(
            "s3.tls_only",
            {"policy": doc(deny_http(Effect="Allow"))},
            Outcome.NON_COMPLIANT,
            "no Deny statement for aws:SecureTransport=false",
            id="tls-allow-not-deny",
        ),
    ],
)
def test_verdicts(policy_id: str, config: dict[str, Any], outcome: Outcome, evidence: str) -> None:
    # GIVEN a bucket with the config
    resource = bucket(**config)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, resource)
    # THEN the outcome and the deciding attribute are reported
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- missing data -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "attribute", "config"),
    [
        ("s3.public_access_block", "public_access_block", {}),
        (
            "s3.public_access_block",
            "account_public_access_block",
            {"public_access_block": {**ALL_ON, "IgnorePublicAcls": False}},
        ),
        ("s3.public_bucket_policy", "policy", {}),
        ("s3.public_bucket_acl", "acl_grants", {"object_ownership": "ObjectWriter"}),
        ("s3.default_encryption", "encryption", {}),
        ("s3.versioning", "versioning", {}),
        ("s3.mfa_delete", "versioning", {"mfa_delete": "Enabled"}),
        ("s3.mfa_delete", "mfa_delete", {"versioning": "Enabled"}),
        ("s3.tls_only", "policy", {}),
    ],
)
def test_unreadable_attribute_is_unknown(
    policy_id: str, attribute: str, config: dict[str, Any]
) -> None:
    # GIVEN a bucket whose attribute could not be read (None plus a reason under "unknown")
    resource = bucket(**config, **{attribute: None}, unknown={attribute: "AccessDenied"})
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, resource)
    # THEN the verdict is unknown and names the attribute and the reason, never a pass
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert verdict.evidence == f"{attribute} could not be read: AccessDenied"


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_uncollected_config_is_unknown_not_a_crash(policy_id: str) -> None:
    # GIVEN a bucket with an empty config (nothing collected)
    # WHEN any S3 policy evaluates it
    verdict = evaluate(policy_id, bucket())
    # THEN the verdict is unknown ("not collected")
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert "not collected" in verdict.evidence


@pytest.mark.parametrize(
    ("policy_id", "attribute"),
    [
        ("s3.public_access_block", "public_access_block"),
        ("s3.public_bucket_acl", "acl_grants"),
        ("s3.default_encryption", "encryption"),
        ("s3.versioning", "versioning"),
    ],
)
def test_none_without_reason_is_unknown(policy_id: str, attribute: str) -> None:
    # GIVEN an attribute that holds None although no reason was recorded
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, bucket(**{attribute: None}))
    # THEN it is unknown, not silently compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert attribute in verdict.evidence


# ---- TLS-only bucket policy edge cases ----------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(deny_http(Principal={"AWS": "*"}), id="principal-aws-star"),
        pytest.param(deny_http(Principal={"AWS": ["*"]}), id="principal-aws-star-list"),
        pytest.param(deny_http(Action="*"), id="action-star"),
        pytest.param(deny_http(Action=["s3:GetObject", "s3:*"]), id="action-list"),
        pytest.param(deny_http(Action="S3:*"), id="action-case-insensitive"),
        pytest.param(deny_http(Resource="arn:aws:s3:::data/*"), id="resource-objects-str"),
        pytest.param(deny_http(Resource="arn:aws:s3:::*"), id="resource-all-buckets"),
        pytest.param(deny_http(Resource="*"), id="resource-star"),
        pytest.param(deny_http(Resource="arn:aws:s3:::da?a/*"), id="resource-question-mark"),
        pytest.param(
            deny_http(Condition={"Bool": {"aws:SecureTransport": False}}), id="cond-bool-false"
        ),
        pytest.param(
            deny_http(Condition={"Bool": {"aws:SecureTransport": ["false"]}}), id="cond-list"
        ),
        pytest.param(
            deny_http(Condition={"Bool": {"aws:SecureTransport": [False, "true"]}}),
            id="cond-list-any-false",
        ),
        pytest.param(
            deny_http(Condition={"Bool": {"aws:securetransport": "FALSE"}}), id="cond-key-case"
        ),
        pytest.param(
            deny_http(Condition={"BoolIfExists": {"aws:SecureTransport": "false"}}),
            id="cond-bool-if-exists",
        ),
        pytest.param(deny_http(Sid=None), id="no-sid"),
    ],
)
def test_tls_only_accepts_equivalent_deny_statements(statement: dict[str, Any]) -> None:
    # GIVEN a bucket policy with an allow statement and a variant of the TLS-only deny
    allow = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:*"}
    resource = bucket(policy=doc(allow, statement))
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", resource)
    # THEN it is compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT
    assert "aws:SecureTransport=false" in verdict.evidence


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(deny_http(Principal={"AWS": "arn:aws:iam::1:root"}), id="one-principal"),
        pytest.param(deny_http(Principal={"Service": "*"}), id="service-principal"),
        pytest.param(deny_http(Action="s3:GetObject"), id="one-action"),
        pytest.param(deny_http(Action=None, NotAction="s3:GetObject"), id="not-action"),
        pytest.param(deny_http(Resource="arn:aws:s3:::data"), id="bucket-not-objects"),
        pytest.param(deny_http(Resource="arn:aws:s3:::data/logs/*"), id="prefix-only"),
        pytest.param(deny_http(Resource="arn:aws:s3:::other/*"), id="other-bucket"),
        pytest.param(deny_http(Resource=None, NotResource="arn:aws:s3:::x/*"), id="not-resource"),
        pytest.param(
            deny_http(Condition={"Bool": {"aws:SecureTransport": "true"}}), id="denies-tls"
        ),
        pytest.param(deny_http(Condition=None), id="no-condition"),
        pytest.param(
            deny_http(
                Condition={
                    "Bool": {"aws:SecureTransport": "false"},
                    "StringEquals": {"aws:SourceVpc": "vpc-1"},
                }
            ),
            id="narrowed-by-extra-operator",
        ),
        pytest.param(
            deny_http(
                Condition={"Bool": {"aws:SecureTransport": "false", "aws:ViaAWSService": "false"}}
            ),
            id="narrowed-by-extra-key",
        ),
        pytest.param(
            deny_http(Condition={"NumericLessThan": {"s3:TlsVersion": "1.2"}}), id="tls-version"
        ),
        pytest.param(deny_http(Effect="deny"), id="effect-case-sensitive"),
    ],
)
def test_tls_only_rejects_statements_that_do_not_deny_all_http(statement: dict[str, Any]) -> None:
    # GIVEN a bucket policy whose only deny falls short of denying every HTTP request
    resource = bucket(policy=doc(statement))
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", resource)
    # THEN it is non-compliant and names the bucket's objects
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "arn:aws:s3:::data/*" in verdict.evidence


def test_tls_only_accepts_a_single_statement_object_and_json_text() -> None:
    # GIVEN policies whose Statement is one object, and one stored as JSON text
    single = {"Version": "2012-10-17", "Statement": deny_http()}
    as_text = json.dumps(doc(deny_http()))
    # WHEN the TLS policy evaluates them
    verdicts = [evaluate("s3.tls_only", bucket(policy=p)) for p in (single, as_text)]
    # THEN both are compliant
    assert [v.outcome if v else None for v in verdicts] == [Outcome.COMPLIANT] * 2


def test_tls_only_unparseable_policy_is_unknown() -> None:
    # GIVEN a policy that is not a JSON document
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", bucket(policy="{not json"))
    # THEN it is unknown
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert verdict.evidence.startswith("policy could not be read")


def test_tls_only_truncated_policy_without_a_match_is_unknown() -> None:
    # GIVEN an over-size policy the collector reduced, dropping statements
    resource = bucket(
        policy=doc(deny_http(Effect="Allow")), policy_truncated=True, policy_statements_dropped=3
    )
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", resource)
    # THEN it is unknown (the deny may have been dropped)
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert "3 statement(s) dropped" in verdict.evidence


def test_tls_only_truncated_policy_with_a_match_is_compliant() -> None:
    # GIVEN a reduced policy that still holds the deny statement
    resource = bucket(policy=doc(deny_http()), policy_truncated=True, policy_statements_dropped=2)
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", resource)
    # THEN the kept statement decides
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT


def test_bucket_name_falls_back_to_resource_name() -> None:
    # GIVEN a resource whose ARN does not carry the bucket name
    resource = Resource(
        arn="bucket-data",
        account_id="1",
        service="s3",
        type="s3.bucket",
        scope="global",
        name="data",
    )
    # WHEN the name is derived
    # THEN the resource name is used
    assert s3.bucket_name(resource) == "data"


def test_tls_only_accepts_conditions_every_http_request_meets() -> None:
    # GIVEN denies on the TLS version that also match requests without TLS (which carry no
    # s3:TlsVersion): ...IfExists, and Null
    conditions = [
        {"NumericLessThanIfExists": {"s3:TlsVersion": "1.2"}},
        {"Null": {"s3:TlsVersion": "true"}},
        {"Bool": {"aws:SecureTransport": "false"}, "Null": {"s3:TlsVersion": True}},
    ]
    for condition in conditions:
        # WHEN the TLS policy evaluates a bucket denying with it
        verdict = evaluate("s3.tls_only", bucket(policy=doc(deny_http(Condition=condition))))
        # THEN it is compliant
        assert verdict is not None
        assert verdict.outcome == Outcome.COMPLIANT, condition


def test_tls_only_a_plain_tls_version_deny_lets_http_through() -> None:
    # GIVEN CIS v5.0's second example alone: Deny when s3:TlsVersion < 1.2 (a request without
    # TLS has no TLS version, so the test is false for it and HTTP is not denied)
    statement = deny_http(Condition={"NumericLessThan": {"s3:TlsVersion": 1.2}})
    # WHEN the TLS policy evaluates it
    verdict = evaluate("s3.tls_only", bucket(policy=doc(statement)))
    # THEN it is non-compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT


# ---- public through the bucket policy (AWS's definition) ----------------------------------------
def allow_all(**overrides: Any) -> dict[str, Any]:
    """A public-read statement, with ``overrides`` applied (None removes a key)."""
    statement: dict[str, Any] = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::data/*",
    }
    for key, value in overrides.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return statement


def open_bucket(*statements: dict[str, Any], **config: Any) -> Resource:
    """A bucket whose Block Public Access is off at both levels, with the given policy."""
    base = {
        "public_access_block": ALL_OFF,
        "account_public_access_block": ALL_OFF,
        "policy": doc(*statements),
        "policy_is_public": False,
    }
    return bucket(**{**base, **config})


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(allow_all(), id="principal-star"),
        pytest.param(allow_all(Principal={"AWS": "*"}), id="principal-aws-star"),
        pytest.param(allow_all(Principal={"AWS": ["arn:aws:iam::1:root", "*"]}), id="star-in-list"),
        pytest.param(allow_all(Principal={"AWS": "arn:aws:iam::*:root"}), id="wildcard-account"),
        pytest.param(
            allow_all(Principal=None, NotPrincipal={"AWS": "arn:aws:iam::1:root"}),
            id="not-principal-everyone-else",
        ),
        pytest.param(
            allow_all(Condition={"Bool": {"aws:SecureTransport": "true"}}),
            id="condition-that-restricts-nobody",
        ),
        pytest.param(
            allow_all(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), id="ip-world"
        ),
        pytest.param(
            allow_all(Condition={"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}}),
            id="ip-ranges-adding-up-to-the-world",
        ),
        pytest.param(
            allow_all(Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            id="not-ip-everyone-else",
        ),
        pytest.param(
            allow_all(Condition={"StringLike": {"aws:SourceVpce": "vpce-*"}}), id="vpce-wildcard"
        ),
        pytest.param(
            allow_all(Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}),
            id="if-exists-lets-others-in",
        ),
        pytest.param(
            allow_all(Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}}),
            id="negated-key",
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:PrincipalTag/team": "data"}}),
            id="other-key",
        ),
    ],
)
def test_public_policy_by_awss_definition(statement: dict[str, Any]) -> None:
    # GIVEN a bucket (no Block Public Access) whose policy lets everyone in, however written,
    # though GetBucketPolicyStatus said it is not public
    # WHEN the public-policy policy evaluates it
    verdict = evaluate("s3.public_bucket_policy", open_bucket(statement))
    # THEN it is a violation naming the statement
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "Statement[PublicRead]" in verdict.evidence


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(allow_all(Principal={"AWS": "arn:aws:iam::1:root"}), id="one-account"),
        pytest.param(allow_all(Principal={"Service": "logging.s3.amazonaws.com"}), id="service"),
        pytest.param(allow_all(Effect="Deny"), id="deny"),
        pytest.param(
            allow_all(Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}),
            id="ip-private-ranges",
        ),
        pytest.param(
            allow_all(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}), id="ip-half"
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b"}}), id="vpce"
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:SourceVpc": ["vpc-1", "vpc-2"]}}), id="vpc"
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}), id="org"
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:SourceAccount": "111122223333"}}),
            id="source-account",
        ),
        pytest.param(
            allow_all(Condition={"StringEquals": {"aws:PrincipalAccount": "111122223333"}}),
            id="principal-account",
        ),
        pytest.param(
            allow_all(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::1:x/E1"}}),
            id="source-arn",
        ),
        pytest.param(
            allow_all(
                Condition={
                    "Bool": {"aws:SecureTransport": "true"},
                    "StringEquals": {"aws:SourceVpce": "vpce-1"},
                }
            ),
            id="one-restricting-test-among-others",
        ),
        pytest.param(
            allow_all(Condition={"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}}),
            id="role-sessions",
        ),
    ],
)
def test_not_public_when_the_principal_or_a_condition_restricts(statement: dict[str, Any]) -> None:
    # GIVEN a bucket (no Block Public Access) whose grant names known callers only
    # WHEN the public-policy policy evaluates it
    verdict = evaluate("s3.public_bucket_policy", open_bucket(statement))
    # THEN it is compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT


def test_public_policy_is_compliant_under_restrict_public_buckets_at_either_level() -> None:
    # GIVEN a public policy, with RestrictPublicBuckets on for the bucket, or for its account
    for level in ("public_access_block", "account_public_access_block"):
        resource = open_bucket(allow_all(), **{level: {**ALL_OFF, "RestrictPublicBuckets": True}})
        # WHEN evaluated
        verdict = evaluate("s3.public_bucket_policy", resource)
        # THEN S3 limits it to the account and AWS services: compliant, and the evidence says why
        assert verdict is not None
        assert verdict.outcome == Outcome.COMPLIANT
        assert "RestrictPublicBuckets is on" in verdict.evidence


def test_public_policy_unknown_restriction_is_unknown() -> None:
    # GIVEN a public policy and an account-level setting that could not be read
    resource = open_bucket(
        allow_all(),
        account_public_access_block=None,
        unknown={"account_public_access_block": "AccessDenied"},
    )
    # WHEN evaluated / THEN it is unknown, naming the account level
    verdict = evaluate("s3.public_bucket_policy", resource)
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert verdict.evidence == "account_public_access_block could not be read: AccessDenied"


@pytest.mark.parametrize(
    ("config", "outcome", "evidence"),
    [
        ({"policy": None}, Outcome.COMPLIANT, "policy=None"),
        ({"policy_is_public": True}, Outcome.NON_COMPLIANT, "GetBucketPolicyStatus"),
        ({"policy": "{not json"}, Outcome.UNKNOWN, "document is not a JSON policy"),
        (
            {"policy": "{not json", "policy_is_public": True},
            Outcome.NON_COMPLIANT,
            "policy_is_public=True",
        ),
        (
            {"policy_statements_dropped": 4, "policy_is_public": None},
            Outcome.UNKNOWN,
            "4 statement(s) dropped",
        ),
    ],
)
def test_public_policy_other_answers(
    config: dict[str, Any], outcome: Outcome, evidence: str
) -> None:
    # GIVEN a bucket without a public statement of its own, and what else was read
    resource = open_bucket(allow_all(Principal={"AWS": "arn:aws:iam::1:root"}), **config)
    # WHEN evaluated / THEN no policy passes, AWS's public answer fails, unreadable is unknown
    verdict = evaluate("s3.public_bucket_policy", resource)
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- public through the ACL ---------------------------------------------------------------------
def grant(grantee: str, permission: str = "READ", kind: str = "Group") -> dict[str, str]:
    return {"grantee": grantee, "type": kind, "permission": permission}


OWNER_GRANT = grant("75aa57f09aa0c8caeab4f8c24e99d10f", "FULL_CONTROL", "CanonicalUser")


@pytest.mark.parametrize(
    ("config", "outcome", "evidence"),
    [
        pytest.param(
            {"object_ownership": "BucketOwnerEnforced"},
            Outcome.COMPLIANT,
            "ACLs are disabled",
            id="acls-disabled",
        ),
        pytest.param(
            {"acl_grants": [OWNER_GRANT, grant("LogDelivery", "WRITE")]},
            Outcome.COMPLIANT,
            "nothing granted to AllUsers or AuthenticatedUsers",
            id="owner-and-log-delivery",
        ),
        pytest.param(
            {"acl_grants": [OWNER_GRANT, grant("AllUsers")]},
            Outcome.NON_COMPLIANT,
            "READ to AllUsers",
            id="public-read",
        ),
        pytest.param(
            {"acl_grants": [grant("AuthenticatedUsers", "WRITE")]},
            Outcome.NON_COMPLIANT,
            "WRITE to AuthenticatedUsers",
            id="any-aws-account-may-write",
        ),
        pytest.param(
            {
                "acl_grants": [grant("AllUsers")],
                "public_access_block": {**ALL_OFF, "IgnorePublicAcls": True},
            },
            Outcome.COMPLIANT,
            "IgnorePublicAcls is on (bucket level)",
            id="ignored-at-the-bucket-level",
        ),
        pytest.param(
            {
                "acl_grants": [grant("AllUsers")],
                "account_public_access_block": {**ALL_OFF, "IgnorePublicAcls": True},
            },
            Outcome.COMPLIANT,
            "IgnorePublicAcls is on (account level)",
            id="ignored-at-the-account-level",
        ),
        pytest.param(
            {
                "acl_grants": [grant("AllUsers")],
                "public_access_block": None,
                "unknown": {"public_access_block": "AccessDenied"},
            },
            Outcome.UNKNOWN,
            "public_access_block could not be read",
            id="ignore-setting-unread",
        ),
    ],
)
def test_public_bucket_acl(config: dict[str, Any], outcome: Outcome, evidence: str) -> None:
    # GIVEN a bucket with ACLs enabled unless said otherwise, Block Public Access off
    base = {
        "object_ownership": "ObjectWriter",
        "public_access_block": ALL_OFF,
        "account_public_access_block": ALL_OFF,
    }
    # WHEN the ACL policy evaluates it
    verdict = evaluate("s3.public_bucket_acl", bucket(**{**base, **config}))
    # THEN a grant to everyone or to any AWS account fails, unless S3 ignores it
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- object-level logging (CloudTrail data events, on the account's s3.account) ------------------
def account(**config: Any) -> Resource:
    return Resource(
        arn="arn:aws:s3::111122223333:account",
        account_id="111122223333",
        service="s3",
        type="s3.account",
        scope="global",
        config=config,
        name="111122223333",
    )


def trail(
    basic: list[dict[str, Any]] | None = None,
    advanced: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A multi-region, logging trail with the given selectors (normalized as collected)."""
    return {
        "name": "main",
        "arn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
        "home_region": "us-east-1",
        "multi_region": True,
        "organization": False,
        "logging": True,
        "event_selectors": basic if basic is not None else [],
        "advanced_event_selectors": advanced if advanced is not None else [],
        **overrides,
    }


def basic(kind: str, *values: str) -> list[dict[str, Any]]:
    return [
        {
            "read_write_type": kind,
            "data_resources": [{"type": "AWS::S3::Object", "values": list(values)}],
        }
    ]


def advanced(*fields: dict[str, Any]) -> list[dict[str, Any]]:
    s3_data = [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
    ]
    return [{"name": "s3", "field_selectors": [*s3_data, *fields]}]


READ_ONLY = {"field": "readOnly", "equals": ["true"]}
WRITE_ONLY = {"field": "readOnly", "equals": ["false"]}


@pytest.mark.parametrize(
    ("trails", "write", "read"),
    [
        pytest.param([trail(basic("All", "arn:aws:s3"))], True, True, id="basic-all"),
        pytest.param([trail(basic("All", "arn:aws:s3:::"))], True, True, id="basic-all-colons"),
        pytest.param([trail(basic("WriteOnly", "arn:aws:s3"))], True, False, id="basic-write"),
        pytest.param([trail(basic("ReadOnly", "arn:aws:s3"))], False, True, id="basic-read"),
        pytest.param(
            [trail(basic("All", "arn:aws:s3:::data/", "arn:aws:s3:::logs/"))],
            False,
            False,
            id="basic-named-buckets-only",
        ),
        pytest.param([trail(advanced=advanced())], True, True, id="advanced-log-all-events"),
        pytest.param([trail(advanced=advanced(READ_ONLY))], False, True, id="advanced-read"),
        pytest.param([trail(advanced=advanced(WRITE_ONLY))], True, False, id="advanced-write"),
        pytest.param(
            [trail(advanced=advanced({"field": "resources.ARN", "starts_with": ["arn:aws:s3"]}))],
            True,
            True,
            id="advanced-all-buckets-prefix",
        ),
        pytest.param(
            [
                trail(
                    advanced=advanced(
                        {"field": "resources.ARN", "starts_with": ["arn:aws:s3:::data/"]}
                    )
                )
            ],
            False,
            False,
            id="advanced-one-bucket",
        ),
        pytest.param(
            [
                trail(
                    advanced=advanced(
                        {"field": "resources.ARN", "not_starts_with": ["arn:aws:s3:::tmp/"]}
                    )
                )
            ],
            False,
            False,
            id="advanced-all-but-one-bucket",
        ),
        pytest.param(
            [trail(advanced=advanced({"field": "eventName", "equals": ["PutObject"]}))],
            False,
            False,
            id="advanced-some-events",
        ),
        pytest.param(
            [
                trail(
                    advanced=[
                        {
                            "name": "mgmt",
                            "field_selectors": [
                                {"field": "eventCategory", "equals": ["Management"]}
                            ],
                        }
                    ]
                )
            ],
            False,
            False,
            id="advanced-management-only",
        ),
        pytest.param(
            [trail(advanced=[*advanced(READ_ONLY), *advanced(WRITE_ONLY)])],
            True,
            True,
            id="advanced-read-and-write-selectors",
        ),
        pytest.param(
            [trail(basic("All", "arn:aws:s3"), multi_region=False)],
            False,
            False,
            id="single-region",
        ),
        pytest.param(
            [trail(basic("All", "arn:aws:s3"), logging=False)], False, False, id="stopped"
        ),
        pytest.param(
            [
                trail(basic("ReadOnly", "arn:aws:s3"), name="reads"),
                trail(basic("WriteOnly", "arn:aws:s3"), name="writes"),
            ],
            True,
            True,
            id="two-trails-one-each",
        ),
        pytest.param([], False, False, id="no-trail"),
    ],
)
def test_object_level_logging(trails: list[dict[str, Any]], write: bool, read: bool) -> None:
    # GIVEN the account's trails
    resource = account(trails=trails)
    for policy_id, expected in (
        ("s3.object_write_logging", write),
        ("s3.object_read_logging", read),
    ):
        # WHEN each direction is evaluated
        verdict = evaluate(policy_id, resource)
        # THEN it passes only with a multi-region, logging trail covering every bucket
        assert verdict is not None
        wanted = Outcome.COMPLIANT if expected else Outcome.NON_COMPLIANT
        assert verdict.outcome == wanted, (policy_id, verdict.evidence)


@pytest.mark.parametrize(
    ("trails", "evidence"),
    [
        (
            [trail(basic("All", "arn:aws:s3"), logging=None, unknown={"logging": "AccessDenied"})],
            "logging status could not be read: AccessDenied",
        ),
        (
            [
                trail(
                    None,
                    None,
                    event_selectors=None,
                    advanced_event_selectors=None,
                    unknown={"selectors": "AccessDenied"},
                )
            ],
            "event selectors could not be read: AccessDenied",
        ),
    ],
)
def test_object_level_logging_unread_trail_is_unknown(
    trails: list[dict[str, Any]], evidence: str
) -> None:
    # GIVEN the only candidate trail's status or selectors could not be read
    # WHEN evaluated / THEN the verdict is unknown, naming what could not be read
    verdict = evaluate("s3.object_write_logging", account(trails=trails))
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert evidence in verdict.evidence


def test_object_level_logging_one_good_trail_decides_despite_unread_ones() -> None:
    # GIVEN one trail that could not be read and one that logs everything
    unread = trail(
        None,
        None,
        name="org",
        event_selectors=None,
        advanced_event_selectors=None,
        unknown={"selectors": "AccessDenied"},
    )
    resource = account(trails=[unread, trail(basic("All", "arn:aws:s3"))])
    # WHEN evaluated / THEN the readable trail's logging is enough
    verdict = evaluate("s3.object_read_logging", resource)
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT
    assert "trail 'main'" in verdict.evidence


def test_object_level_logging_trails_unread_is_unknown() -> None:
    # GIVEN DescribeTrails denied
    resource = account(trails=None, unknown={"trails": "AccessDenied"})
    # WHEN evaluated / THEN unknown
    verdict = evaluate("s3.object_read_logging", resource)
    assert verdict is not None
    assert verdict.evidence == "trails could not be read: AccessDenied"


# ---- edges, evidence word for word: what a reviewer reads, not only the outcome -----------------
PUBLIC_READ = "policy.Statement[PublicRead] allow everyone without a restricting condition"
NOT_PUBLIC = "no statement allows everyone without a restricting condition (policy_is_public=False)"
NO_DENY = "policy has no Deny statement for aws:SecureTransport=false covering arn:aws:s3:::data/*"
DENIES_HTTP = (
    "policy.Statement[DenyHttp] denies s3:* on arn:aws:s3:::data/* "
    "to every request without TLS (aws:SecureTransport=false)"
)


def cond(condition: dict[str, Any]) -> dict[str, Any]:
    return allow_all(Condition=condition)


def named(arn: str, name: str, **config: Any) -> Resource:
    return Resource(
        arn=arn,
        account_id="111122223333",
        service="s3",
        type="s3.bucket",
        scope="global",
        config=config,
        name=name,
    )


@pytest.mark.parametrize(
    ("policy_id", "target", "outcome", "evidence"),
    [
        # public policy: conditions
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringEquals": {"aws:SourceAccount": 111122223333}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="num-account",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringEquals": {"aws:SourceAccount": ""}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="empty-account",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringLike": {"aws:SourceArn": "AROAEXAMPLE:*"}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="aroa-not-userid",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringLike": {"aws:userid": "AROAEXAMPLE:*"}})),
            Outcome.COMPLIANT,
            NOT_PUBLIC,
            id="aroa-userid",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringLike": {"aws:SourceAccount": "11112222333?"}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="qmark",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="ifexists",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"ForAllValues:StringEquals": {"aws:SourceAccount": "111122223333"}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="forall",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"ForAnyValue:StringEquals": {"aws:SourceAccount": "111122223333"}})),
            Outcome.COMPLIANT,
            NOT_PUBLIC,
            id="foranyvalue",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(
                cond({"Bool": "junk", "StringEquals": {"aws:SourceAccount": "111122223333"}})
            ),
            Outcome.COMPLIANT,
            NOT_PUBLIC,
            id="nondict-then-restricting",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(Principal={"AWS": "arn:aws:iam::11112222333?:root"})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="principal-qmark",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(Principal="arn:aws:iam::111122223333:root")),
            Outcome.COMPLIANT,
            NOT_PUBLIC,
            id="principal-string-arn",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(), allow_all(Sid=None)),
            Outcome.NON_COMPLIANT,
            "policy.Statement[PublicRead, 1] allow everyone without a restricting condition",
            id="two-grants",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            bucket(policy=None),
            Outcome.COMPLIANT,
            "policy=None (no bucket policy)",
            id="none",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(policy="{not json", policy_is_public=None),
            Outcome.UNKNOWN,
            "policy could not be read: document is not a JSON policy",
            id="notjson",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(Principal={"AWS": "arn:aws:iam::1:root"}), policy_is_public=True),
            Outcome.NON_COMPLIANT,
            "GetBucketPolicyStatus reports the policy public (policy_is_public=True)",
            id="aws-public",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(
                allow_all(Principal={"AWS": "arn:aws:iam::1:root"}),
                policy_statements_dropped=4,
                policy_is_public=False,
            ),
            Outcome.COMPLIANT,
            NOT_PUBLIC,
            id="dropped-aws-false",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(Principal={"AWS": "arn:aws:iam::1:root"}), policy_is_public=None),
            Outcome.COMPLIANT,
            "no statement allows everyone without a restricting condition (policy_is_public=None)",
            id="nodrop-aws-none",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(
                allow_all(Principal={"AWS": "arn:aws:iam::1:root"}),
                policy_statements_dropped=4,
                policy_is_public=None,
            ),
            Outcome.UNKNOWN,
            "policy could not be read: 4 statement(s) dropped from an over-size policy",
            id="dropped-none",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(), account_public_access_block=ALL_ON),
            Outcome.COMPLIANT,
            "policy.Statement[PublicRead] allow everyone without a restricting condition, but "
            "RestrictPublicBuckets is on (account level): only AWS services and the bucket "
            "owner's account can use it",
            id="restricted",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(allow_all(), public_access_block="yes"),
            Outcome.UNKNOWN,
            "public_access_block could not be read: unexpected value 'yes'",
            id="bpa-weird",
        ),
        # acl
        pytest.param(
            "s3.public_bucket_acl",
            bucket(
                acl_grants=[grant("AllUsers"), grant("AuthenticatedUsers", "WRITE")],
                public_access_block=ALL_OFF,
                account_public_access_block=ALL_OFF,
            ),
            Outcome.NON_COMPLIANT,
            "acl_grants: READ to AllUsers, WRITE to AuthenticatedUsers",
            id="acl-two",
        ),
        pytest.param(
            "s3.public_bucket_acl",
            bucket(acl_grants=[]),
            Outcome.COMPLIANT,
            "acl_grants: nothing granted to AllUsers or AuthenticatedUsers",
            id="acl-none",
        ),
        # enc/versioning/mfa
        pytest.param(
            "s3.default_encryption",
            bucket(encryption=[]),
            Outcome.NON_COMPLIANT,
            "encryption=[] (no default encryption rule)",
            id="enc-none",
        ),
        pytest.param(
            "s3.versioning",
            bucket(versioning="Enabled"),
            Outcome.COMPLIANT,
            "versioning='Enabled'",
            id="ver-on",
        ),
        pytest.param(
            "s3.mfa_delete",
            bucket(versioning="Enabled", mfa_delete="Enabled"),
            Outcome.COMPLIANT,
            "mfa_delete='Enabled' (versioning='Enabled')",
            id="mfa-on",
        ),
        # tls
        pytest.param(
            "s3.tls_only",
            bucket(policy=None),
            Outcome.NON_COMPLIANT,
            "policy=None (no bucket policy denies HTTP requests)",
            id="tls-none",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy="{not json"),
            Outcome.UNKNOWN,
            "policy could not be read: document is not a JSON policy",
            id="tls-notjson",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http())),
            Outcome.COMPLIANT,
            DENIES_HTTP,
            id="tls-ok",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(Sid=None))),
            Outcome.COMPLIANT,
            "policy.Statement[0] denies s3:* on arn:aws:s3:::data/* to every request without TLS "
            "(aws:SecureTransport=false)",
            id="tls-ok-index",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(), policy_statements_dropped=2),
            Outcome.UNKNOWN,
            "policy could not be read: 2 statement(s) dropped from an over-size policy",
            id="tls-dropped",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(NotPrincipal={"AWS": "arn:aws:iam::1:root"}))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-notprincipal",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(NotAction="s3:GetObject"))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-notaction",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(NotResource="arn:aws:s3:::other/*"))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-notresource",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(Condition="junk"))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-cond-str",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(Condition={"Bool": "junk"}))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-cond-nondict",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(Condition={"Null": {"s3:TlsVersion": 1}}))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-null-num",
        ),
        pytest.param(
            "s3.tls_only",
            bucket(policy=doc(deny_http(Principal=["*"]))),
            Outcome.NON_COMPLIANT,
            NO_DENY,
            id="tls-principal-list",
        ),
        pytest.param(
            "s3.tls_only",
            named("arn:aws:s3:::data", "Data bucket", policy=doc(deny_http())),
            Outcome.COMPLIANT,
            DENIES_HTTP,
            id="tls-name",
        ),
        pytest.param(
            "s3.tls_only",
            named("arn:aws:s3:::", "data", policy=doc(deny_http())),
            Outcome.COMPLIANT,
            DENIES_HTTP,
            id="tls-emptyarn",
        ),
        # logging
        pytest.param(
            "s3.object_read_logging",
            account(
                trails=[
                    trail(
                        [
                            {
                                "data_resources": [
                                    {"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}
                                ]
                            }
                        ]
                    )
                ]
            ),
            Outcome.COMPLIANT,
            "trail 'main' (multi-region, logging) has event selector ReadWriteType=All, "
            "AWS::S3::Object arn:aws:s3",
            id="log-default-kind",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        [
                            {
                                "read_write_type": "All",
                                "data_resources": [
                                    "junk",
                                    {"type": "AWS::Lambda::Function", "values": ["arn:aws:lambda"]},
                                    {"type": "AWS::S3::Object", "values": ["arn:aws:s3"]},
                                ],
                            }
                        ]
                    )
                ]
            ),
            Outcome.COMPLIANT,
            "trail 'main' (multi-region, logging) has event selector ReadWriteType=All, "
            "AWS::S3::Object arn:aws:s3",
            id="log-junk-resources",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        advanced=[
                            {
                                "name": "s3",
                                "field_selectors": [
                                    "junk",
                                    {"field": "eventCategory", "equals": ["Data"]},
                                    {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                                ],
                            }
                        ]
                    )
                ]
            ),
            Outcome.COMPLIANT,
            "trail 'main' (multi-region, logging) has advanced event selector 's3'",
            id="log-adv-junk-field",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        advanced=[
                            {
                                "name": "s3",
                                "field_selectors": [
                                    {"field": "resources.type", "equals": ["AWS::S3::Object"]}
                                ],
                            }
                        ]
                    )
                ]
            ),
            Outcome.NON_COMPLIANT,
            "no multi-region, logging trail records S3 object-level write events for all current "
            "and future buckets: trail 'main' logs no S3 object-level write events for all buckets",
            id="log-adv-no-category",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        advanced=[
                            {
                                "field_selectors": [
                                    {"field": "eventCategory", "equals": ["Data"]},
                                    {
                                        "field": "resources.type",
                                        "equals": ["AWS::Lambda::Function"],
                                    },
                                ]
                            }
                        ]
                    )
                ]
            ),
            Outcome.NON_COMPLIANT,
            "no multi-region, logging trail records S3 object-level write events for all current "
            "and future buckets: trail 'main' logs no S3 object-level write events for all buckets",
            id="log-adv-lambda",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        advanced=advanced(
                            {
                                "field": "resources.ARN",
                                "equals": ["arn:aws:s3:::data/"],
                                "starts_with": ["arn:aws:s3"],
                            }
                        )
                    )
                ]
            ),
            Outcome.NON_COMPLIANT,
            "no multi-region, logging trail records S3 object-level write events for all current "
            "and future buckets: trail 'main' logs no S3 object-level write events for all buckets",
            id="log-adv-arn-equals",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(
                        advanced=[
                            {
                                "field_selectors": [
                                    {"field": "eventCategory", "equals": ["Data"]},
                                    {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                                ]
                            }
                        ]
                    )
                ]
            ),
            Outcome.COMPLIANT,
            "trail 'main' (multi-region, logging) has advanced event selector '(unnamed)'",
            id="log-adv-unnamed",
        ),
        pytest.param(
            "s3.object_read_logging",
            account(trails=[trail(advanced=advanced(READ_ONLY))]),
            Outcome.COMPLIANT,
            "trail 'main' (multi-region, logging) has advanced event selector 's3'",
            id="log-adv-named",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(trails=[trail(event_selectors=None)]),
            Outcome.UNKNOWN,
            "trails could not be read: trail 'main' event selectors could not be read: not "
            "collected",
            id="log-sel-unread-default",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(trails=[trail(basic("All", "arn:aws:s3"), logging=None)]),
            Outcome.UNKNOWN,
            "trails could not be read: trail 'main' logging status could not be read: not "
            "collected",
            id="log-status-unread-default",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(event_selectors=None, unknown="junk"),
                    trail(
                        basic("All", "arn:aws:s3"),
                        name="b",
                        logging=None,
                        unknown={"logging": "AccessDenied"},
                    ),
                ]
            ),
            Outcome.UNKNOWN,
            "trails could not be read: trail 'main' event selectors could not be read: not "
            "collected; trail 'b' logging status could not be read: AccessDenied",
            id="log-two-unread",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(trails=[]),
            Outcome.NON_COMPLIANT,
            "no CloudTrail trail (trails=[])",
            id="log-none",
        ),
        pytest.param(
            "s3.object_write_logging",
            account(
                trails=[
                    trail(basic("ReadOnly", "arn:aws:s3")),
                    trail(name="single", multi_region=False),
                ]
            ),
            Outcome.NON_COMPLIANT,
            "no multi-region, logging trail records S3 object-level write events for all current "
            "and future buckets: trail 'main' logs no S3 object-level write events for all "
            "buckets; trail 'single' is single-region",
            id="log-bad",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            open_bucket(cond({"StringEquals": {"aws:SourceAccount": []}})),
            Outcome.NON_COMPLIANT,
            PUBLIC_READ,
            id="no-values-restrict-nothing",
        ),
        pytest.param(
            "s3.public_bucket_acl",
            bucket(
                acl_grants=[grant("AllUsers")],
                public_access_block={**ALL_OFF, "IgnorePublicAcls": True},
                account_public_access_block=ALL_OFF,
            ),
            Outcome.COMPLIANT,
            "acl_grants: READ to AllUsers, but IgnorePublicAcls is on (bucket level)",
            id="acl-ignored",
        ),
    ],
)
def test_evidence_word_for_word(
    policy_id: str, target: Resource, outcome: Outcome, evidence: str
) -> None:
    # GIVEN a bucket or account at one of the policy's edges (built in the parameters)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the outcome and the whole evidence are exactly what a reviewer should read
    assert verdict is not None
    assert (verdict.outcome, verdict.evidence) == (outcome, evidence)
