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
            {"public_access_block": ALL_ON},
            Outcome.COMPLIANT,
            "all four flags True",
            id="pab-all-on",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": {**ALL_ON, "BlockPublicPolicy": False}},
            Outcome.NON_COMPLIANT,
            "public_access_block.BlockPublicPolicy=False",
            id="pab-one-off",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": dict.fromkeys(ALL_ON, False)},
            Outcome.NON_COMPLIANT,
            "public_access_block.RestrictPublicBuckets=False",
            id="pab-not-configured",
        ),
        pytest.param(
            "s3.public_access_block",
            {"public_access_block": {"BlockPublicAcls": True}},
            Outcome.NON_COMPLIANT,
            "public_access_block.IgnorePublicAcls=None",
            id="pab-flag-missing",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            {"policy_is_public": False},
            Outcome.COMPLIANT,
            "policy_is_public=False",
            id="public-policy-no",
        ),
        pytest.param(
            "s3.public_bucket_policy",
            {"policy_is_public": True},
            Outcome.NON_COMPLIANT,
            "policy_is_public=True",
            id="public-policy-yes",
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
        ("s3.public_bucket_policy", "policy_is_public", {}),
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
        ("s3.public_bucket_policy", "policy_is_public"),
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


# ---- not applicable -----------------------------------------------------------------------------
def test_mfa_delete_not_applicable_to_never_versioned_bucket() -> None:
    # GIVEN a bucket whose versioning was never configured
    resource = bucket(versioning="Disabled", mfa_delete="Disabled")
    # WHEN the MFA delete policy evaluates it
    # THEN it does not apply
    assert evaluate("s3.mfa_delete", resource) is None


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
