"""IAM policies, control by control, from the CIS benchmark's audit procedures (v3.0 numbering
first, v5.0 second): pass, fail, not applicable and unknown, with the boundaries and the edge
cases the benchmark's wording decides."""

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
    "iam.server-certificate": "server-certificate/web",
    "iam.access-analyzers": "analyzers",
}
PASS, FAIL, UNKNOWN = Outcome.COMPLIANT, Outcome.NON_COMPLIANT, Outcome.UNKNOWN
NA = None  # not applicable: evaluate returns None


def ago(days: float, now: datetime = NOW) -> str:
    """An ISO 8601 UTC timestamp ``days`` before ``now``, as the collectors store it."""
    return (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def resource(type_: str, **config: Any) -> Resource:
    return Resource(
        arn=f"arn:aws:iam::111122223333:{ARN_SUFFIX[type_]}",
        account_id="111122223333",
        service="iam",
        type=type_,
        scope="eu-west-1" if type_ == "iam.access-analyzers" else "global",
        config=config,
    )


def account(**config: Any) -> Resource:
    base: dict[str, Any] = {
        "root_mfa_enabled": True,
        "root_access_keys_present": False,
        "root_password_present": True,
        "root_password_last_used": None,
        "root_access_key_1_last_used": None,
        "root_access_key_2_last_used": None,
        "root_virtual_mfa": False,
        "support_policy_roles": [],
        "support_policy_users": [],
        "support_policy_groups": [],
    }
    return resource("iam.account", **{**base, **config})


def user(**config: Any) -> Resource:
    """A user as the credential report and the authorization details describe it."""
    base: dict[str, Any] = {
        "user_name": "alice",
        "created": ago(400),
        "groups": [],
        "attached_policies": [],
        "inline_policies": [],
        "console_access": False,
        "password_last_used": None,
        "password_last_changed": None,
        "mfa_active": False,
        "access_keys": [],
    }
    return resource("iam.user", **{**base, **config})


def key(
    slot: int = 1,
    last_rotated: str | None = None,
    last_used: str | None = None,
    status: str = "Active",
) -> dict[str, Any]:
    return {
        "slot": slot,
        "status": status,
        "last_rotated": ago(10) if last_rotated is None else last_rotated,
        "last_used": last_used,
    }


def password_policy(**config: Any) -> Resource:
    base: dict[str, Any] = {"exists": True, "minimum_length": 14, "reuse_prevention": 24}
    return resource("iam.password-policy", **{**base, **config})


def managed(*statements: dict[str, Any], attachment_count: int = 1, **config: Any) -> Resource:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return resource("iam.policy", document=document, attachment_count=attachment_count, **config)


def allow(**statement: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **statement}


def evaluate(policy_id: str, target: Resource, now: datetime = NOW) -> Verdict | None:
    return POLICIES[policy_id].evaluate(target, now)


def check(policy_id: str, target: Resource, outcome: Outcome | None, evidence: str = "") -> None:
    verdict = evaluate(policy_id, target)
    if outcome is None:
        assert verdict is None, verdict
        return
    assert verdict is not None
    assert verdict.outcome == outcome, verdict
    assert evidence in verdict.evidence, verdict.evidence


Case = tuple[Resource, Outcome | None, str]


def cases(*params: Any) -> Any:
    return pytest.mark.parametrize(("target", "outcome", "evidence"), list(params))


# ---- 1.4 / 1.3 root access keys -----------------------------------------------------------------
@cases(
    pytest.param(account(), PASS, "root_access_keys_present=False", id="no-keys"),
    pytest.param(account(root_access_keys_present=True), FAIL, "=True", id="keys"),
    pytest.param(
        account(root_access_keys_present=None, unknown={"root_access_keys_present": "Denied"}),
        UNKNOWN,
        "root_access_keys_present could not be read: Denied",
        id="summary-unreadable",
    ),
)
def test_root_access_keys(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    # GIVEN GetAccountSummary's AccountAccessKeysPresent (the benchmark's CLI audit)
    check("iam.root_access_keys", target, outcome, evidence)


# ---- v3.0 1.5 root MFA / v5.0 1.4 root console MFA ----------------------------------------------
@cases(
    pytest.param(account(root_mfa_enabled=True), PASS, "root_mfa_enabled=True", id="mfa"),
    pytest.param(account(root_mfa_enabled=False), FAIL, "root_mfa_enabled=False", id="no-mfa"),
    # v3.0 makes no exception for a root user without a password
    pytest.param(
        account(root_mfa_enabled=False, root_password_present=False),
        FAIL,
        "root_mfa_enabled=False",
        id="no-mfa-no-password-still-fails-v3",
    ),
)
def test_root_mfa_v3(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.root_mfa", target, outcome, evidence)


@cases(
    pytest.param(account(root_mfa_enabled=True), PASS, "root_mfa_enabled=True", id="mfa"),
    pytest.param(
        account(root_mfa_enabled=False, root_password_present=True),
        FAIL,
        "root_password_present=True",
        id="password-without-mfa",
    ),
    # v5.0: "AccountMFAEnabled is 1 or AccountPasswordPresent is 0"
    pytest.param(
        account(root_mfa_enabled=False, root_password_present=False),
        PASS,
        "root_password_present=False",
        id="no-password-no-mfa-passes-v5",
    ),
    pytest.param(
        account(root_mfa_enabled=True, root_password_present=None, unknown={"x": "y"}),
        PASS,
        "root_mfa_enabled=True",
        id="mfa-decides-without-password-data",
    ),
    pytest.param(
        account(
            root_mfa_enabled=False,
            root_password_present=None,
            unknown={"root_password_present": "NotReturned"},
        ),
        UNKNOWN,
        "root_password_present could not be read: NotReturned",
        id="no-mfa-password-unknown",
    ),
)
def test_root_console_mfa_v5(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.root_console_mfa", target, outcome, evidence)


# ---- v3.0 1.6 hardware MFA for root ------------------------------------------------------------
@cases(
    pytest.param(account(root_mfa_enabled=True, root_virtual_mfa=False), PASS, "", id="hardware"),
    pytest.param(
        account(root_mfa_enabled=True, root_virtual_mfa=True),
        FAIL,
        "root_virtual_mfa=True",
        id="virtual-device",
    ),
    pytest.param(
        account(root_mfa_enabled=False, root_virtual_mfa=False),
        FAIL,
        "no MFA at all",
        id="no-mfa",
    ),
    pytest.param(
        account(root_mfa_enabled=True, root_virtual_mfa=None, unknown={"root_virtual_mfa": "D"}),
        UNKNOWN,
        "root_virtual_mfa could not be read: D",
        id="devices-unreadable",
    ),
    pytest.param(
        account(root_mfa_enabled=False, root_virtual_mfa=None, unknown={"root_virtual_mfa": "D"}),
        FAIL,
        "no MFA at all",
        id="no-mfa-decides-without-device-data",
    ),
)
def test_root_hardware_mfa(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.root_hardware_mfa", target, outcome, evidence)


# ---- v3.0 1.7 / v5.0 1.6 root used recently ------------------------------------------------------
@cases(
    pytest.param(account(), PASS, "never used", id="never-used"),
    pytest.param(
        account(root_password_last_used=ago(89.9)),
        FAIL,
        "root_password_last_used=",
        id="password-used-89-days-ago",
    ),
    pytest.param(
        account(root_password_last_used=ago(90)),
        PASS,
        "(90 days ago)",
        id="exactly-90-days-passes",
    ),
    pytest.param(
        account(root_password_last_used=ago(300), root_access_key_2_last_used=ago(1)),
        FAIL,
        "root_access_key_2_last_used=",
        id="a-key-used-yesterday",
    ),
    pytest.param(
        account(root_password_last_used=ago(300), root_access_key_1_last_used=ago(200)),
        PASS,
        "last use root_access_key_1_last_used=",
        id="latest-use-named",
    ),
    pytest.param(
        account(root_password_last_used=ago(0)),
        FAIL,
        "(0 days ago)",
        id="used-right-now",
    ),
    pytest.param(
        account(
            root_password_last_used=None,
            root_access_key_1_last_used=None,
            root_access_key_2_last_used=None,
            unknown=dict.fromkeys(
                ["root_password_last_used", "root_access_key_1_last_used"], "AccessDenied"
            ),
        ),
        UNKNOWN,
        "root_password_last_used could not be read: AccessDenied",
        id="report-unreadable",
    ),
    pytest.param(
        account(
            root_password_last_used=None,
            root_access_key_1_last_used=ago(3),
            unknown={"root_password_last_used": "NotInCredentialReport"},
        ),
        FAIL,
        "root_access_key_1_last_used",
        id="recent-use-decides-despite-unknown",
    ),
    pytest.param(
        account(root_password_last_used="last tuesday"),
        UNKNOWN,
        "not a timestamp",
        id="unparseable-date",
    ),
)
def test_root_recent_use(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.root_recent_use", target, outcome, evidence)


# ---- 1.8 / 1.7 password length, 1.9 / 1.8 reuse prevention --------------------------------------
@cases(
    pytest.param(password_policy(minimum_length=14), PASS, "minimum_length=14", id="14"),
    pytest.param(password_policy(minimum_length=40), PASS, "minimum_length=40", id="40"),
    pytest.param(password_policy(minimum_length=13), FAIL, "minimum_length=13 (< 14)", id="13"),
    pytest.param(password_policy(minimum_length=None), FAIL, "None", id="unset"),
    pytest.param(
        password_policy(exists=False, minimum_length=None, reuse_prevention=None),
        FAIL,
        "no account password policy",
        id="no-policy",
    ),
    pytest.param(
        password_policy(minimum_length=14, reuse_prevention=1),
        PASS,
        "",
        id="weak-reuse-does-not-fail-the-length-control",
    ),
    pytest.param(
        password_policy(exists=None, unknown={"exists": "AccessDenied"}),
        UNKNOWN,
        "exists could not be read",
        id="unreadable",
    ),
)
def test_password_minimum_length(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.password_policy", target, outcome, evidence)


@cases(
    pytest.param(password_policy(reuse_prevention=24), PASS, "reuse_prevention=24", id="24"),
    pytest.param(password_policy(reuse_prevention=23), FAIL, "(< 24)", id="23"),
    pytest.param(password_policy(reuse_prevention=None), FAIL, "reuse_prevention=None", id="off"),
    pytest.param(
        password_policy(exists=False, minimum_length=None, reuse_prevention=None),
        FAIL,
        "no account password policy",
        id="no-policy",
    ),
    pytest.param(
        password_policy(minimum_length=6, reuse_prevention=24),
        PASS,
        "",
        id="short-length-does-not-fail-the-reuse-control",
    ),
    pytest.param(
        password_policy(reuse_prevention=True),
        FAIL,
        "reuse_prevention=True",
        id="a-bool-is-not-a-number",
    ),
)
def test_password_reuse_prevention(
    target: Resource, outcome: Outcome | None, evidence: str
) -> None:
    check("iam.password_reuse_prevention", target, outcome, evidence)


# ---- 1.10 / 1.9 console users have MFA ----------------------------------------------------------
@cases(
    pytest.param(user(console_access=True, mfa_active=True), PASS, "mfa_active=True", id="mfa"),
    pytest.param(user(console_access=True, mfa_active=False), FAIL, "False", id="no-mfa"),
    pytest.param(user(console_access=False, mfa_active=False), NA, "", id="no-password"),
    pytest.param(
        user(console_access=None, unknown={"console_access": "NotInCredentialReport"}),
        UNKNOWN,
        "console_access could not be read: NotInCredentialReport",
        id="not-in-report",
    ),
    pytest.param(
        user(console_access=True, mfa_active=None, unknown={"mfa_active": "Malformed"}),
        UNKNOWN,
        "mfa_active could not be read",
        id="mfa-unreadable",
    ),
)
def test_user_console_mfa(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.user_console_mfa", target, outcome, evidence)


# ---- 1.11 (v5.0 1.10, Manual) no access keys at user setup ---------------------------------------
CREATED = ago(200)


def at_setup(seconds: float, **kwargs: Any) -> dict[str, Any]:
    """A key created ``seconds`` after the user (the report's last_rotated)."""
    moment = datetime.fromisoformat(CREATED.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return key(last_rotated=moment.isoformat().replace("+00:00", "Z"), **kwargs)


@cases(
    pytest.param(
        user(console_access=True, created=CREATED, access_keys=[at_setup(2)]),
        FAIL,
        "access_key_1.last_rotated=",
        id="key-with-the-user-never-used",
    ),
    pytest.param(
        user(console_access=True, created=CREATED, access_keys=[at_setup(600)]),
        FAIL,
        "(600 s after",
        id="ten-minutes-is-still-setup",
    ),
    pytest.param(
        user(console_access=True, created=CREATED, access_keys=[at_setup(601)]),
        PASS,
        "none created with the user",
        id="created-later-is-not-setup",
    ),
    pytest.param(
        user(console_access=True, created=CREATED, access_keys=[at_setup(2, last_used=ago(1))]),
        PASS,
        "",
        id="setup-key-in-use",
    ),
    pytest.param(
        user(console_access=True, created=CREATED, access_keys=[at_setup(2, status="Inactive")]),
        PASS,
        "no active access keys",
        id="setup-key-deactivated",
    ),
    pytest.param(
        user(console_access=False, created=CREATED, access_keys=[at_setup(2)]),
        NA,
        "",
        id="no-console-password",
    ),
    pytest.param(
        user(
            console_access=True,
            created=CREATED,
            access_keys=[at_setup(2, slot=1, last_used=ago(1)), at_setup(3, slot=2)],
        ),
        FAIL,
        "access_key_2",
        id="second-slot",
    ),
    pytest.param(
        user(
            console_access=True,
            access_keys=None,
            unknown={"access_keys": "NotInCredentialReport"},
        ),
        UNKNOWN,
        "access_keys could not be read",
        id="keys-unreadable",
    ),
)
def test_user_setup_access_keys(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.user_setup_access_keys", target, outcome, evidence)


# ---- 1.12 / 1.11 credentials unused 45 days ------------------------------------------------------
@cases(
    pytest.param(
        user(access_keys=[key(last_rotated=ago(300), last_used=ago(10))]),
        PASS,
        "each used (or created) within 45 days",
        id="used-10-days-ago",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(300), last_used=ago(45))]),
        FAIL,
        "access_key_1.last_used=",
        id="exactly-45-days-fails",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(300), last_used=ago(44.99))]),
        PASS,
        "",
        id="just-under-45-days",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(3), last_used=None)]),
        PASS,
        "",
        id="new-key-never-used-judged-by-last-rotated",
    ),
    pytest.param(
        user(created=ago(2), access_keys=[key(last_rotated=ago(60), last_used=None)]),
        FAIL,
        "access_key_1.last_rotated=",
        id="old-key-never-used",
    ),
    pytest.param(
        user(created=ago(900), access_keys=[key(last_rotated=ago(5), last_used=None)]),
        PASS,
        "",
        id="age-from-the-key-not-the-user",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(300), last_used=ago(200), status="Inactive")]),
        PASS,
        "no active access keys",
        id="inactive-key-is-disabled",
    ),
    pytest.param(
        user(
            access_keys=[
                key(slot=1, last_rotated="garbage"),
                key(slot=2, last_rotated=ago(300), last_used=ago(100)),
            ]
        ),
        FAIL,
        "access_key_2",
        id="stale-key-wins-over-unreadable-key",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated="garbage")]),
        UNKNOWN,
        "access_key_1.last_rotated could not be read: not a timestamp",
        id="unreadable-date",
    ),
)
def test_access_key_unused(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.access_key_unused", target, outcome, evidence)


@cases(
    pytest.param(
        user(console_access=True, password_last_used=ago(5)),
        PASS,
        "password_last_used=",
        id="used-5-days-ago",
    ),
    pytest.param(
        user(console_access=True, password_last_used=ago(45)),
        FAIL,
        "(45 days ago)",
        id="exactly-45-days-fails",
    ),
    # "password_last_used no_information: ensure password_last_changed is less than 45 days ago"
    pytest.param(
        user(
            console_access=True,
            created=ago(800),
            password_last_used=None,
            password_last_changed=ago(10),
        ),
        PASS,
        "password_last_changed=",
        id="never-used-new-password-on-an-old-user",
    ),
    pytest.param(
        user(
            console_access=True,
            created=ago(1),
            password_last_used=None,
            password_last_changed=ago(50),
        ),
        FAIL,
        "never used",
        id="never-used-old-password",
    ),
    pytest.param(user(console_access=False), NA, "", id="no-console-password"),
    pytest.param(
        user(console_access=True, password_last_used=None, password_last_changed=None),
        UNKNOWN,
        "password_last_changed could not be read: no value recorded",
        id="no-date-at-all",
    ),
    pytest.param(
        user(
            console_access=True,
            password_last_used=None,
            unknown={"password_last_used": "AccessDenied"},
        ),
        UNKNOWN,
        "password_last_used could not be read",
        id="report-unreadable",
    ),
)
def test_console_password_unused(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.console_password_unused", target, outcome, evidence)


# ---- 1.13 / 1.12 one active key -----------------------------------------------------------------
@cases(
    pytest.param(
        user(access_keys=[key(slot=1), key(slot=2)]),
        FAIL,
        "2 active access key(s): access_key_1, access_key_2",
        id="two-active-keys",
    ),
    pytest.param(
        user(access_keys=[key(slot=1), key(slot=2, status="Inactive")]),
        PASS,
        "1 active access key(s): access_key_1",
        id="second-key-inactive",
    ),
    pytest.param(user(access_keys=[]), PASS, "0 active", id="no-keys"),
    pytest.param(
        user(access_keys=None, unknown={"access_keys": "AccessDenied"}),
        UNKNOWN,
        "access_keys could not be read",
        id="unreadable",
    ),
)
def test_user_single_active_key(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.user_single_active_key", target, outcome, evidence)


# ---- 1.14 / 1.13 rotation within 90 days --------------------------------------------------------
@cases(
    pytest.param(user(access_keys=[key(last_rotated=ago(30))]), PASS, "none older", id="30-days"),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(90))]),
        PASS,
        "none older than 90 days",
        id="exactly-90-days-passes",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(90 + 1 / 86400))]),
        FAIL,
        "(90 days old)",
        id="90-days-and-a-second",
    ),
    pytest.param(
        user(created=ago(5), access_keys=[key(last_rotated=ago(120))]),
        FAIL,
        f"access_key_1.last_rotated={ago(120)} (120 days old)",
        id="age-from-the-key-not-the-user",
    ),
    pytest.param(
        user(access_keys=[key(last_rotated=ago(400), status="Inactive")]),
        PASS,
        "no active access keys",
        id="inactive-old-key-ignored",
    ),
    pytest.param(
        user(access_keys=[key(1, last_rotated="garbage"), key(2, last_rotated=ago(200))]),
        FAIL,
        "access_key_2",
        id="old-key-wins-over-unreadable-key",
    ),
    pytest.param(
        user(access_keys=[key(1, last_rotated="garbage")]),
        UNKNOWN,
        "access_key_1.last_rotated",
        id="unreadable-key",
    ),
)
def test_access_key_rotation(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.access_key_rotation", target, outcome, evidence)


# ---- 1.15 / 1.14 permissions only through groups ------------------------------------------------
@cases(
    pytest.param(user(groups=["ops"]), PASS, "no user policies (groups: ops)", id="groups-only"),
    pytest.param(user(), PASS, "groups: none", id="no-permissions-at-all"),
    pytest.param(
        user(attached_policies=["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
        FAIL,
        "attached_policies (1): arn:aws:iam::aws:policy/ReadOnlyAccess",
        id="attached",
    ),
    pytest.param(user(inline_policies=["own"]), FAIL, "inline_policies (1): own", id="inline"),
    pytest.param(
        user(attached_policies=[f"arn:p{i}" for i in range(20)], attached_policies_count=23),
        FAIL,
        "attached_policies (23)",
        id="cut-list-keeps-its-count",
    ),
    pytest.param(
        user(attached_policies=None, unknown={"attached_policies": "x"}),
        UNKNOWN,
        "attached_policies could not be read",
        id="unreadable",
    ),
)
def test_user_permissions_through_groups(
    target: Resource, outcome: Outcome | None, evidence: str
) -> None:
    check("iam.user_permissions_through_groups", target, outcome, evidence)


# ---- 1.16 / 1.15 no full "*:*" policy attached --------------------------------------------------
STAR = allow(Action="*", Resource="*")


@cases(
    pytest.param(managed(STAR), FAIL, "Statement[0] allows Action '*' on Resource '*'", id="*"),
    pytest.param(
        managed(allow(Sid="All", Action=["s3:GetObject", "*:*"], Resource=["arn:x", "*"])),
        FAIL,
        "Statement[All]",
        id="*:*-in-lists",
    ),
    pytest.param(
        managed(allow(Action="*", Resource="arn:aws:*:*:*:*")),
        FAIL,
        "",
        id="every-resource-spelled-as-an-arn",
    ),
    pytest.param(
        managed(allow(Action="*", NotResource="arn:aws:s3:::audit-logs/*")),
        FAIL,
        "NotResource",
        id="not-resource-grants-the-rest",
    ),
    pytest.param(
        managed(allow(NotAction=["s3:DeleteBucket"], Resource="*")),
        FAIL,
        "every action but NotAction ['s3:DeleteBucket']",
        id="not-action-grants-admin",
    ),
    pytest.param(
        managed(allow(NotAction=["iam:Attach*", "iam:Put*"], Resource="*")),
        FAIL,
        "iam:CreatePolicyVersion stays allowed",
        id="not-action-leaving-a-way-to-grant-itself",
    ),
    pytest.param(
        managed(allow(NotAction=["iam:*", "organizations:*", "account:*"], Resource="*")),
        PASS,
        "no statement grants",
        id="power-user-is-not-admin",
    ),
    pytest.param(
        managed(allow(NotAction="iam:*", Resource="*"), allow(Action="iam:*", Resource="*")),
        FAIL,
        "iam:AttachUserPolicy stays allowed",
        id="not-action-completed-by-another-statement",
    ),
    pytest.param(
        managed(allow(NotAction="iam:*", Resource="*"), allow(Action="iam:List*", Resource="*")),
        PASS,
        "",
        id="not-action-with-read-only-iam",
    ),
    pytest.param(
        managed(
            allow(
                Action="*", Resource="*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            )
        ),
        FAIL,
        "(with a Condition)",
        id="condition-still-grants",
    ),
    pytest.param(managed(allow(Action="iam:*", Resource="*")), PASS, "", id="service-wildcard"),
    pytest.param(managed(allow(Action="*", Resource="arn:aws:s3:::b/*")), PASS, "", id="scoped"),
    pytest.param(
        managed({"Effect": "Deny", "Action": "*", "Resource": "*"}), PASS, "", id="deny-star"
    ),
    pytest.param(
        managed(allow(Action="*", NotResource="*")), PASS, "", id="not-resource-everything"
    ),
    pytest.param(managed(STAR, attachment_count=0), NA, "", id="not-attached"),
    pytest.param(
        managed(STAR, aws_managed=True, policy_name="AdministratorAccess"),
        FAIL,
        "attachment_count=1",
        id="aws-managed-administrator-access",
    ),
    pytest.param(
        resource("iam.policy", attachment_count=1, document="{not json"),
        UNKNOWN,
        "not a JSON policy document",
        id="unparseable",
    ),
    pytest.param(
        managed(allow(Action="s3:GetObject", Resource="*"), document_statements_dropped=3),
        UNKNOWN,
        "3 statement(s) dropped",
        id="truncated-without-a-decision",
    ),
    pytest.param(
        managed(STAR, document_statements_dropped=3),
        FAIL,
        "",
        id="truncated-but-a-kept-statement-decides",
    ),
)
def test_admin_star_policy(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.admin_star_policy", target, outcome, evidence)


def test_admin_statements_match_actions_in_any_case() -> None:
    # GIVEN a NotAction excluding IAM written in upper case (IAM compares actions in any case)
    statements = [allow(NotAction=["IAM:*"], Resource="*")]
    # WHEN judged / THEN IAM is excluded, as AWS reads it
    assert iam.admin_statements(statements) == []


# ---- 1.17 / 1.16 support role -------------------------------------------------------------------
@cases(
    pytest.param(
        account(support_policy_roles=["support"]), PASS, "1 role(s): support", id="a-role"
    ),
    pytest.param(account(), FAIL, "attached to no role", id="nowhere"),
    pytest.param(
        account(support_policy_users=["helpdesk"], support_policy_groups=["ops"]),
        FAIL,
        "(attached to users: helpdesk; groups: ops only)",
        id="users-and-groups-are-not-a-role",
    ),
    pytest.param(
        account(support_policy_roles=None, unknown={"support_policy_roles": "AccessDenied"}),
        UNKNOWN,
        "support_policy_roles could not be read",
        id="unreadable",
    ),
)
def test_support_role(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.support_role", target, outcome, evidence)


# ---- 1.19 / 1.18 expired server certificates ----------------------------------------------------
def certificate(expiration: object) -> Resource:
    return resource("iam.server-certificate", certificate_name="web", expiration=expiration)


@cases(
    pytest.param(certificate(ago(-30)), PASS, "(30 days left)", id="valid"),
    pytest.param(certificate(ago(1)), FAIL, "(expired 1 days ago)", id="expired"),
    pytest.param(certificate(ago(0)), PASS, "", id="valid-at-its-expiration-instant"),
    pytest.param(certificate(ago(1 / 86400)), FAIL, "", id="a-second-after"),
    pytest.param(certificate("soon"), UNKNOWN, "not a timestamp", id="unparseable"),
    pytest.param(certificate(None), UNKNOWN, "no value recorded", id="no-expiration-listed"),
)
def test_expired_server_certificate(
    target: Resource, outcome: Outcome | None, evidence: str
) -> None:
    check("iam.expired_server_certificate", target, outcome, evidence)


# ---- 1.20 / 1.19 IAM Access Analyzer in every region ---------------------------------------------
def analyzers(*entries: tuple[str, str, str]) -> Resource:
    listed = [{"name": n, "type": t, "status": s} for n, t, s in entries]
    return resource("iam.access-analyzers", region="eu-west-1", analyzers=listed)


@cases(
    pytest.param(
        analyzers(("a", "ACCOUNT", "ACTIVE")), PASS, "eu-west-1: active", id="account-analyzer"
    ),
    pytest.param(analyzers(("o", "ORGANIZATION", "ACTIVE")), PASS, "", id="organization"),
    pytest.param(analyzers(), FAIL, "(analyzers: none)", id="none"),
    pytest.param(
        analyzers(("u", "ACCOUNT_UNUSED_ACCESS", "ACTIVE")),
        FAIL,
        "u (ACCOUNT_UNUSED_ACCESS, ACTIVE)",
        id="unused-access-does-not-count",
    ),
    pytest.param(
        analyzers(("a", "ACCOUNT", "CREATING"), ("b", "ACCOUNT", "DISABLED")),
        FAIL,
        "no active ACCOUNT or ORGANIZATION analyzer",
        id="not-active",
    ),
    pytest.param(
        resource("iam.access-analyzers", analyzers=None, unknown={"analyzers": "AccessDenied"}),
        UNKNOWN,
        "analyzers could not be read: AccessDenied",
        id="unreadable",
    ),
)
def test_access_analyzer_enabled(target: Resource, outcome: Outcome | None, evidence: str) -> None:
    check("iam.access_analyzer_enabled", target, outcome, evidence)


# ---- every policy --------------------------------------------------------------------------------
@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_uncollected_config_is_unknown_not_a_crash(policy_id: str) -> None:
    # GIVEN a resource of the policy's type with an empty config
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, resource(POLICY_TYPE[policy_id]))
    # THEN the verdict is unknown ("not collected"), never a pass
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert "not collected" in verdict.evidence


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_each_policy_states_its_rationale_and_a_cli_remediation(policy_id: str) -> None:
    # GIVEN a registered IAM policy
    record = POLICIES[policy_id]
    # THEN its description gives the rationale and the remediation names a CLI call or says
    # why there is none
    assert "Rationale:" in record.description
    assert "aws " in record.remediation or "CLI" in record.remediation


# ---- edges, evidence word for word: what a reviewer reads, not only the outcome -----------------
NO_ADMIN = "no statement grants full administrative privileges (attachment_count=1)"


@pytest.mark.parametrize(
    ("policy_id", "target", "outcome", "evidence"),
    [
        pytest.param(
            "iam.root_console_mfa", account(), PASS, "root_mfa_enabled=True", id="console-mfa-on"
        ),
        pytest.param(
            "iam.root_hardware_mfa",
            account(root_mfa_enabled=False),
            FAIL,
            "root_mfa_enabled=False (no MFA at all)",
            id="hw-mfa-off",
        ),
        pytest.param(
            "iam.root_recent_use",
            account(root_password_last_used=ago(3), root_access_key_2_last_used=ago(89)),
            FAIL,
            "root_password_last_used=2025-05-29T12:00:00Z (3 days ago), "
            "root_access_key_2_last_used=2025-03-04T12:00:00Z (89 days ago)",
            id="root-two-recent",
        ),
        pytest.param(
            "iam.root_recent_use",
            account(root_password_last_used="garbage", root_access_key_1_last_used=ago(10)),
            FAIL,
            "root_access_key_1_last_used=2025-05-22T12:00:00Z (10 days ago)",
            id="root-bad-then-recent",
        ),
        pytest.param(
            "iam.root_recent_use",
            account(root_password_last_used="garbage", root_access_key_1_last_used="junk"),
            UNKNOWN,
            "root_password_last_used could not be read: not a timestamp: 'garbage'",
            id="root-bad-then-bad",
        ),
        pytest.param(
            "iam.root_recent_use",
            account(),
            PASS,
            "the root user was never used (no password or key use)",
            id="root-never",
        ),
        pytest.param(
            "iam.password_policy",
            password_policy(exists=False),
            FAIL,
            "exists=False (no account password policy)",
            id="pp-none",
        ),
        pytest.param(
            "iam.password_reuse_prevention",
            resource("iam.password-policy", exists=True),
            UNKNOWN,
            "reuse_prevention could not be read: not collected",
            id="pp-reuse-unset",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(console_access=True, password_last_used=ago(1), created=None),
            UNKNOWN,
            "created could not be read: no value recorded",
            id="setup-no-created",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            resource("iam.user", console_access=True, access_keys=[]),
            UNKNOWN,
            "created could not be read: not collected",
            id="setup-created-missing",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(console_access=True, created="garbage"),
            UNKNOWN,
            "created could not be read: not a timestamp: 'garbage'",
            id="setup-created-bad",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(
                console_access=True,
                created=ago(400),
                access_keys=[key(1, last_rotated="junk"), key(2, last_rotated=ago(400))],
            ),
            FAIL,
            "access_key_2.last_rotated=2024-04-27T12:00:00Z (0 s after the user's creation "
            "2024-04-27T12:00:00Z), never used",
            id="setup-bad-then-setup",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(console_access=True, created=ago(400), access_keys=[key(1, last_rotated="junk")]),
            UNKNOWN,
            "access_key_1.last_rotated could not be read: not a timestamp: 'junk'",
            id="setup-bad-only",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(
                console_access=True, created=ago(400), access_keys=[key(1, last_rotated=ago(300))]
            ),
            PASS,
            "1 active access key(s), none created with the user and unused",
            id="setup-pass",
        ),
        pytest.param(
            "iam.user_setup_access_keys",
            user(console_access=True, created=ago(400), access_keys=[]),
            PASS,
            "no active access keys",
            id="setup-none",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(1, last_used=ago(45)), key(2, last_rotated=ago(100))]),
            FAIL,
            "access_key_1.last_used=2025-04-17T12:00:00Z (unused 45 days ago); "
            "access_key_2.last_rotated=2025-02-21T12:00:00Z (never used, created 100 days ago)",
            id="unused-two",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(1, last_used="junk"), key(2, last_used=ago(50))]),
            FAIL,
            "access_key_2.last_used=2025-04-12T12:00:00Z (unused 50 days ago)",
            id="unused-bad-then-old",
        ),
        pytest.param(
            "iam.access_key_unused",
            user(access_keys=[key(1, last_used=ago(44))]),
            PASS,
            "1 active access key(s), each used (or created) within 45 days",
            id="unused-pass",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used="junk"),
            UNKNOWN,
            "password_last_used could not be read: not a timestamp: 'junk'",
            id="pw-bad",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_changed=ago(10)),
            PASS,
            "password_last_changed=2025-05-22T12:00:00Z (10 days ago, never used)",
            id="pw-never",
        ),
        pytest.param(
            "iam.console_password_unused",
            user(console_access=True, password_last_used=ago(45)),
            FAIL,
            "password_last_used=2025-04-17T12:00:00Z (45 days ago)",
            id="pw-used",
        ),
        pytest.param(
            "iam.user_single_active_key",
            user(access_keys=[]),
            PASS,
            "0 active access key(s): none",
            id="single-none",
        ),
        pytest.param(
            "iam.user_single_active_key",
            user(access_keys=[{"status": "Active", "last_rotated": ago(1)}]),
            PASS,
            "1 active access key(s): access_key_?",
            id="single-noslot",
        ),
        pytest.param(
            "iam.access_key_rotation",
            user(access_keys=[key(1, last_rotated=ago(90))]),
            PASS,
            "1 active access key(s), none older than 90 days",
            id="rot-pass",
        ),
        pytest.param(
            "iam.user_permissions_through_groups",
            user(groups=["admins", "devs"]),
            PASS,
            "no user policies (groups: admins, devs)",
            id="groups-ok",
        ),
        pytest.param(
            "iam.user_permissions_through_groups",
            resource("iam.user", attached_policies=[]),
            UNKNOWN,
            "inline_policies could not be read: not collected",
            id="groups-inline-missing",
        ),
        pytest.param(
            "iam.user_permissions_through_groups",
            user(attached_policies=["A", "B"], inline_policies=["x", "y"], inline_policies_count=5),
            FAIL,
            "attached_policies (2): A, B; inline_policies (5): x, y",
            id="groups-both",
        ),
        pytest.param(
            "iam.admin_star_policy",
            resource("iam.policy", attachment_count=1, document="{nope"),
            UNKNOWN,
            "document could not be read: not a JSON policy document",
            id="admin-notjson",
        ),
        pytest.param(
            "iam.admin_star_policy",
            resource("iam.policy", attachment_count=1),
            UNKNOWN,
            "document could not be read: not collected",
            id="admin-nodoc",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(
                allow(Action="*", Resource="*"),
                allow(
                    Sid="B",
                    Action="*:*",
                    Resource="arn:aws:*:*:*:*",
                    Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                ),
            ),
            FAIL,
            "Statement[0] allows Action '*' on Resource '*'; Statement[B] allows Action '*' on "
            "Resource '*' (with a Condition) (attachment_count=1)",
            id="admin-two",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="s3:*", Resource="*"), document_statements_dropped=3),
            UNKNOWN,
            "document could not be read: 3 statement(s) dropped from an over-size document",
            id="admin-dropped",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*:*:*", Resource="*")),
            PASS,
            NO_ADMIN,
            id="admin-action-3parts",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*", Resource="arn")),
            PASS,
            NO_ADMIN,
            id="admin-res-arn",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*", Resource="arn:*")),
            FAIL,
            "Statement[0] allows Action '*' on Resource '*' (attachment_count=1)",
            id="admin-res-arn-star",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*", Resource="arn:aws:s3:*:*:*")),
            PASS,
            NO_ADMIN,
            id="admin-res-arn-aws-s3",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*", Resource="arn:foo:*")),
            PASS,
            NO_ADMIN,
            id="admin-res-arn-foo",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Action="*", Resource="arn:aws:*:*:*:bucket")),
            PASS,
            NO_ADMIN,
            id="admin-res-arn-aws-star-bucket",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(Resource="*")),
            PASS,
            NO_ADMIN,
            id="admin-noaction",
        ),
        pytest.param(
            "iam.admin_star_policy",
            managed(allow(NotAction=["iam:*"], Resource="*"), allow(Resource="*")),
            PASS,
            NO_ADMIN,
            id="admin-notaction-and-actionless",
        ),
        pytest.param(
            "iam.support_role",
            account(support_policy_roles=["r1", "r2"], support_policy_roles_count=7),
            PASS,
            "AWSSupportAccess attached to 7 role(s): r1, r2",
            id="support-many",
        ),
        pytest.param(
            "iam.support_role",
            account(support_policy_users=["u1", "u2"], support_policy_groups=["g1"]),
            FAIL,
            "AWSSupportAccess attached to no role (attached to users: u1, u2; groups: g1 only)",
            id="support-others",
        ),
        pytest.param(
            "iam.support_role",
            account(),
            FAIL,
            "AWSSupportAccess attached to no role",
            id="support-none",
        ),
        pytest.param(
            "iam.expired_server_certificate",
            resource("iam.server-certificate", expiration="junk"),
            UNKNOWN,
            "expiration could not be read: not a timestamp: 'junk'",
            id="cert-bad",
        ),
        pytest.param(
            "iam.access_analyzer_enabled",
            resource(
                "iam.access-analyzers",
                region="us-east-2",
                analyzers=[
                    {"name": "a", "type": "ACCOUNT", "status": "ACTIVE"},
                    {"name": "o", "type": "ORGANIZATION", "status": "ACTIVE"},
                ],
            ),
            PASS,
            "us-east-2: active external-access analyzer(s): a (ACCOUNT), o (ORGANIZATION)",
            id="aa-active",
        ),
        pytest.param(
            "iam.access_analyzer_enabled",
            resource(
                "iam.access-analyzers",
                analyzers=[
                    {"name": "a", "type": "ACCOUNT", "status": "CREATING"},
                    {"name": "u", "type": "ACCOUNT_UNUSED_ACCESS", "status": "ACTIVE"},
                ],
            ),
            FAIL,
            "eu-west-1: no active ACCOUNT or ORGANIZATION analyzer (analyzers: a (ACCOUNT, "
            "CREATING), u (ACCOUNT_UNUSED_ACCESS, ACTIVE))",
            id="aa-none",
        ),
        pytest.param(
            "iam.access_analyzer_enabled",
            resource("iam.access-analyzers", analyzers=[]),
            FAIL,
            "eu-west-1: no active ACCOUNT or ORGANIZATION analyzer (analyzers: none)",
            id="aa-empty",
        ),
        pytest.param("iam.root_mfa", account(), PASS, "root_mfa_enabled=True", id="root-mfa-on"),
    ],
)
def test_evidence_word_for_word(
    policy_id: str, target: Resource, outcome: Outcome, evidence: str
) -> None:
    # GIVEN an IAM resource at one of the policy's edges (built in the parameters)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the outcome and the whole evidence are exactly what a reviewer should read
    assert verdict is not None
    assert (verdict.outcome, verdict.evidence) == (outcome, evidence)
