"""IAM policies: compliant, non-compliant, unknown (missing data) and not-applicable cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qrie.domain import Resource
from qrie.policies import iam
from qrie.policies.base import Outcome, Verdict
from qrie.policies.registry import module_policies

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICIES = {policy.id: policy for policy in module_policies(iam)}
POLICY_TYPE = {policy.id: next(iter(policy.resource_types)) for policy in module_policies(iam)}
ARN_SUFFIX = {
    "iam.account": "root",
    "iam.user": "user/alice",
    "iam.password-policy": "password-policy",
    "iam.policy": "policy/Admin",
}


def ago(days: float, now: datetime = NOW) -> str:
    """An ISO 8601 UTC timestamp ``days`` before ``now``, as the collectors store it."""
    return (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def resource(type_: str, **config: Any) -> Resource:
    return Resource(
        arn=f"arn:aws:iam::111122223333:{ARN_SUFFIX[type_]}",
        account_id="111122223333",
        service="iam",
        type=type_,
        scope="global",
        config=config,
    )


def user(**config: Any) -> Resource:
    base: dict[str, Any] = {
        "user_name": "alice",
        "created": ago(400),
        "console_access": False,
        "mfa_devices": 0,
        "access_keys": [],
        "password_last_used": None,
    }
    return resource("iam.user", **{**base, **config})


def key(
    key_id: str = "AKIA1",
    created: str | None = None,
    last_used: str | None = None,
    status: str = "Active",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": key_id,
        "status": status,
        "created": ago(10) if created is None else created,
        "last_used": last_used,
        **extra,
    }


def admin_document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


STAR_STAR = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}


def evaluate(policy_id: str, target: Resource) -> Verdict | None:
    return POLICIES[policy_id].evaluate(target, NOW)


# ---- compliant / non-compliant ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "target", "outcome", "evidence"),
    [
        # root account
        pytest.param(
            "iam.root_mfa",
            resource("iam.account", root_mfa_enabled=True, root_access_keys_present=False),
            Outcome.COMPLIANT,
            "root_mfa_enabled=True",
            id="root-mfa-on",
        ),
        pytest.param(
            "iam.root_mfa",
            resource("iam.account", root_mfa_enabled=False, root_access_keys_present=False),
            Outcome.NON_COMPLIANT,
            "root_mfa_enabled=False",
            id="root-mfa-off",
        ),
        pytest.param(
            "iam.root_access_keys",
            resource("iam.account", root_mfa_enabled=True, root_access_keys_present=False),
            Outcome.COMPLIANT,
            "root_access_keys_present=False",
            id="root-no-keys",
        ),
        pytest.param(
            "iam.root_access_keys",
            resource("iam.account", root_mfa_enabled=True, root_access_keys_present=True),
            Outcome.NON_COMPLIANT,
            "root_access_keys_present=True",
            id="root-keys",
        ),
        # console MFA
        pytest.param(
            "iam.user_console_mfa",
            user(console_access=True, mfa_devices=1),
            Outcome.COMPLIANT,
            "mfa_devices=1",
            id="console-mfa",
        ),
        pytest.param(
            "iam.user_console_mfa",
            user(console_access=True, mfa_devices=0),
            Outcome.NON_COMPLIANT,
            "console_access=True, mfa_devices=0",
            id="console-no-mfa",
        ),
        # key rotation
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(created=ago(30))]),
            Outcome.COMPLIANT,
            "none older than 90 days",
            id="rotation-fresh-key",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(created=ago(120))]),
            Outcome.NON_COMPLIANT,
            f"access_keys[AKIA1].created={ago(120)} (120 days old)",
            id="rotation-old-key",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(created=ago(90))]),
            Outcome.COMPLIANT,
            "none older than 90 days",
            id="rotation-exactly-90-days",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(created=ago(90 + 1 / 86400))]),
            Outcome.NON_COMPLIANT,
            "(90 days old)",
            id="rotation-90-days-and-a-second",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(created=ago(400), status="Inactive")]),
            Outcome.COMPLIANT,
            "no Active access keys",
            id="rotation-inactive-old-key-ignored",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[]),
            Outcome.COMPLIANT,
            "no Active access keys",
            id="rotation-no-keys",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key("AKIA1", created="garbage"), key("AKIA2", created=ago(200))]),
            Outcome.NON_COMPLIANT,
            "access_keys[AKIA2]",
            id="rotation-old-key-wins-over-unreadable-key",
        ),
        # unused keys
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(300), last_used=ago(10))]),
            Outcome.COMPLIANT,
            "all used within 45 days",
            id="unused-recently-used",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(300), last_used=ago(60))]),
            Outcome.NON_COMPLIANT,
            f"access_keys[AKIA1].last_used={ago(60)} (60 days unused)",
            id="unused-60-days",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(300), last_used=ago(45))]),
            Outcome.NON_COMPLIANT,
            "(45 days unused)",
            id="unused-exactly-45-days",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(300), last_used=ago(44.9))]),
            Outcome.COMPLIANT,
            "all used within 45 days",
            id="unused-just-under-45-days",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(3), last_used=None)]),
            Outcome.COMPLIANT,
            "all used within 45 days",
            id="unused-fresh-never-used-key-grace",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(60), last_used=None)]),
            Outcome.NON_COMPLIANT,
            f"access_keys[AKIA1].created={ago(60)} (never used, 60 days old)",
            id="unused-never-used-old-key",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(created=ago(300), last_used=ago(200), status="Inactive")]),
            Outcome.COMPLIANT,
            "no Active access keys",
            id="unused-inactive-ignored",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(
                access_keys=[
                    key("AKIA1", last_used=None, unknown={"last_used": "AccessDenied"}),
                    key("AKIA2", created=ago(300), last_used=ago(100)),
                ]
            ),
            Outcome.NON_COMPLIANT,
            "access_keys[AKIA2].last_used",
            id="unused-stale-key-wins-over-unreadable-key",
        ),
        # console password unused
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used=ago(5)),
            Outcome.COMPLIANT,
            f"password_last_used={ago(5)} (5 days ago)",
            id="password-used",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used=ago(100)),
            Outcome.NON_COMPLIANT,
            f"password_last_used={ago(100)} (100 days ago)",
            id="password-stale",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used=None, created=ago(10)),
            Outcome.COMPLIANT,
            "password never used",
            id="password-never-used-new-user",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used=None, created=ago(90)),
            Outcome.NON_COMPLIANT,
            f"created={ago(90)} (90 days ago, password never used)",
            id="password-never-used-old-user",
        ),
        # password policy
        pytest.param(
            "iam.password_policy",
            resource("iam.password-policy", exists=True, minimum_length=14, reuse_prevention=24),
            Outcome.COMPLIANT,
            "minimum_length=14, reuse_prevention=24",
            id="password-policy-cis",
        ),
        pytest.param(
            "iam.password_policy",
            resource("iam.password-policy", exists=False, minimum_length=None),
            Outcome.NON_COMPLIANT,
            "exists=False",
            id="password-policy-missing",
        ),
        pytest.param(
            "iam.password_policy",
            resource("iam.password-policy", exists=True, minimum_length=8, reuse_prevention=24),
            Outcome.NON_COMPLIANT,
            "minimum_length=8 (< 14)",
            id="password-policy-short",
        ),
        pytest.param(
            "iam.password_policy",
            resource("iam.password-policy", exists=True, minimum_length=20, reuse_prevention=None),
            Outcome.NON_COMPLIANT,
            "reuse_prevention=None (< 24)",
            id="password-policy-no-reuse-prevention",
        ),
        pytest.param(
            "iam.password_policy",
            resource("iam.password-policy", exists=True, minimum_length=12, reuse_prevention=5),
            Outcome.NON_COMPLIANT,
            "minimum_length=12 (< 14), reuse_prevention=5 (< 24)",
            id="password-policy-both-weak",
        ),
        # *:* customer policies
        pytest.param(
            "iam.admin_star_policy",
            resource("iam.policy", document=admin_document(STAR_STAR), attachment_count=2),
            Outcome.NON_COMPLIANT,
            "document.Statement[All] allows Action '*' on Resource '*' (attachment_count=2)",
            id="star-star",
        ),
        pytest.param(
            "iam.admin_star_policy",
            resource(
                "iam.policy",
                document=admin_document(
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::data/*"},
                ),
                attachment_count=1,
            ),
            Outcome.COMPLIANT,
            "no statement allows Action '*' on Resource '*'",
            id="scoped-admin",
        ),
    ],
)
def test_verdicts(policy_id: str, target: Resource, outcome: Outcome, evidence: str) -> None:
    # GIVEN a resource (built in the parameters)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the outcome and the deciding attribute are reported
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- missing data -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "attribute", "config"),
    [
        ("iam.root_mfa", "root_mfa_enabled", {}),
        ("iam.root_access_keys", "root_access_keys_present", {}),
        ("iam.user_console_mfa", "console_access", {"mfa_devices": 0}),
        ("iam.user_console_mfa", "mfa_devices", {"console_access": True}),
        ("iam.access_key_rotation", "access_keys", {}),
        ("iam.access_key_unused", "access_keys", {}),
        ("iam.console_password_unused", "console_access", {"password_last_used": None}),
        ("iam.console_password_unused", "password_last_used", {"console_access": True}),
        ("iam.password_policy", "exists", {}),
        ("iam.password_policy", "minimum_length", {"exists": True, "reuse_prevention": 24}),
        ("iam.password_policy", "reuse_prevention", {"exists": True, "minimum_length": 14}),
        ("iam.admin_star_policy", "document", {"attachment_count": 1}),
    ],
)
def test_unreadable_attribute_is_unknown(
    policy_id: str, attribute: str, config: dict[str, Any]
) -> None:
    # GIVEN a resource whose attribute could not be read (None plus a reason under "unknown")
    target = resource(
        POLICY_TYPE[policy_id], **config, **{attribute: None}, unknown={attribute: "AccessDenied"}
    )
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the verdict is unknown and names the attribute and the reason, never a pass
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert verdict.evidence == f"{attribute} could not be read: AccessDenied"


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_uncollected_config_is_unknown_not_a_crash(policy_id: str) -> None:
    # GIVEN a resource of the policy's type with an empty config
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, resource(POLICY_TYPE[policy_id]))
    # THEN the verdict is unknown ("not collected")
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert "not collected" in verdict.evidence


@pytest.mark.parametrize(
    ("target", "attribute", "reason"),
    [
        pytest.param(
            user(access_keys=[key(last_used=None, unknown={"last_used": "Throttling"})]),
            "access_keys[AKIA1].last_used",
            "Throttling",
            id="key-level-reason",
        ),
        pytest.param(
            user(
                access_keys=[key(last_used=None)],
                unknown={"access_keys.last_used": "AccessDenied"},
            ),
            "access_keys[AKIA1].last_used",
            "AccessDenied",
            id="user-level-marker",
        ),
        pytest.param(
            user(access_keys=[key(created="yesterday", last_used=None)]),
            "access_keys[AKIA1].created",
            "not a timestamp: 'yesterday'",
            id="unparseable-created",
        ),
    ],
)
def test_unused_key_with_unreadable_last_use_is_unknown(
    target: Resource, attribute: str, reason: str
) -> None:
    # GIVEN an Active key whose last use (or creation) cannot be known
    # WHEN the unused-key policy evaluates the user
    verdict = evaluate("iam.access_key_unused", target)
    # THEN it is unknown: "never used" is not assumed
    assert verdict == Verdict.unknown(attribute, reason)


def test_rotation_key_without_created_is_unknown() -> None:
    # GIVEN an Active key with no creation time
    target = user(access_keys=[{"id": "AKIA9", "status": "Active", "created": None}])
    # WHEN the rotation policy evaluates the user
    verdict = evaluate("iam.access_key_rotation", target)
    # THEN it is unknown, naming the key
    assert verdict == Verdict.unknown("access_keys[AKIA9].created", "not a timestamp: None")


def test_password_never_used_and_user_created_unknown() -> None:
    # GIVEN a console user who never signed in and whose creation time is unknown
    target = user(
        console_access=True, password_last_used=None, created=None, unknown={"created": "x"}
    )
    # WHEN the console-password policy evaluates the user
    verdict = evaluate("iam.console_password_unused", target)
    # THEN it is unknown
    assert verdict == Verdict.unknown("created", "x")


# ---- not applicable -----------------------------------------------------------------------------
@pytest.mark.parametrize("policy_id", ["iam.user_console_mfa", "iam.console_password_unused"])
def test_console_policies_not_applicable_without_console_access(policy_id: str) -> None:
    # GIVEN a programmatic-only user without MFA and a stale password timestamp
    target = user(console_access=False, mfa_devices=0, password_last_used=ago(400))
    # WHEN a console policy evaluates the user
    # THEN it does not apply
    assert evaluate(policy_id, target) is None


# ---- *:* policy edge cases ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "outcome"),
    [
        pytest.param(
            admin_document({"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": ["*"]}),
            Outcome.NON_COMPLIANT,
            id="lists",
        ),
        pytest.param(
            {"Version": "2012-10-17", "Statement": STAR_STAR},
            Outcome.NON_COMPLIANT,
            id="single-statement-object",
        ),
        pytest.param(
            '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
            Outcome.NON_COMPLIANT,
            id="json-text",
        ),
        pytest.param(
            admin_document({"Effect": "Deny", "Action": "*", "Resource": "*"}),
            Outcome.COMPLIANT,
            id="deny",
        ),
        pytest.param(
            admin_document({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
            Outcome.COMPLIANT,
            id="not-action-is-out-of-scope",
        ),
        pytest.param(
            admin_document({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
            Outcome.COMPLIANT,
            id="service-wildcard",
        ),
        pytest.param({"Version": "2012-10-17"}, Outcome.COMPLIANT, id="no-statements"),
        pytest.param("not json", Outcome.UNKNOWN, id="unparseable"),
    ],
)
def test_admin_star_policy_document_shapes(document: object, outcome: Outcome) -> None:
    # GIVEN a customer-managed policy document in one of its shapes
    target = resource("iam.policy", document=document, attachment_count=1)
    # WHEN the *:* policy evaluates it
    verdict = evaluate("iam.admin_star_policy", target)
    # THEN the literal Allow "*" on "*" check decides
    assert verdict is not None
    assert verdict.outcome == outcome


def test_admin_star_policy_flags_unattached_policies_too() -> None:
    # GIVEN an unattached *:* policy
    target = resource("iam.policy", document=admin_document(STAR_STAR), attachment_count=0)
    # WHEN the *:* policy evaluates it
    verdict = evaluate("iam.admin_star_policy", target)
    # THEN it is flagged, with the attachment count in the evidence
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "attachment_count=0" in verdict.evidence


@pytest.mark.parametrize(
    ("statements", "outcome"),
    [
        pytest.param([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], Outcome.UNKNOWN),
        pytest.param([STAR_STAR], Outcome.NON_COMPLIANT),
    ],
    ids=["no-match-unknown", "kept-match-decides"],
)
def test_admin_star_policy_truncated_document(
    statements: list[dict[str, Any]], outcome: Outcome
) -> None:
    # GIVEN an over-size document the collector reduced by dropping statements
    target = resource(
        "iam.policy",
        document=admin_document(*statements),
        document_truncated=True,
        document_statements_dropped=4,
        attachment_count=1,
    )
    # WHEN the *:* policy evaluates it
    verdict = evaluate("iam.admin_star_policy", target)
    # THEN a kept match decides, and without one the verdict is unknown
    assert verdict is not None
    assert verdict.outcome == outcome
