"""IAM policies: root account, users and their credentials, password policy, customer policies.

Resource types and config keys are those of ``qrie.inventory.schema``: ``iam.account`` (the
account summary, ARN ``…:root``), ``iam.user``, ``iam.password-policy``, ``iam.policy``
(customer-managed policies with their default version's document).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._util import (
    age,
    as_list,
    expect_flag,
    policy_statements,
    require,
    statements_dropped,
)
from qrie.policies.base import Verdict, needs, policy

ACCOUNT = frozenset({"iam.account"})
USER = frozenset({"iam.user"})
PASSWORD_POLICY = frozenset({"iam.password-policy"})
CUSTOMER_POLICY = frozenset({"iam.policy"})

KEY_MAX_AGE = timedelta(days=90)  # CIS: rotated every 90 days or less
UNUSED_AFTER = timedelta(days=45)  # CIS: unused for 45 days or greater
MIN_PASSWORD_LENGTH = 14
MIN_PASSWORD_REUSE_PREVENTION = 24


# ---- root account -------------------------------------------------------------------------------
@policy(
    id="iam.root_mfa",
    resource_types=ACCOUNT,
    title="Root user does not have MFA enabled",
    severity=Severity.CRITICAL,
    remediation=(
        "Sign in as the root user and assign an MFA device (hardware preferred) under "
        "Security credentials; or remove root credentials with centralized root access."
    ),
)
def root_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """The root user must have MFA (AccountSummary.AccountMFAEnabled)."""
    return expect_flag(resource, "root_mfa_enabled", True)


@policy(
    id="iam.root_access_keys",
    resource_types=ACCOUNT,
    title="Root user has access keys",
    severity=Severity.CRITICAL,
    remediation=(
        "Sign in as the root user and delete its access keys under Security credentials; "
        "use IAM roles for programmatic access instead."
    ),
)
def root_access_keys(resource: Resource, _now: datetime) -> Verdict | None:
    """The root user must have no access keys (AccountSummary.AccountAccessKeysPresent)."""
    return expect_flag(resource, "root_access_keys_present", False)


# ---- users --------------------------------------------------------------------------------------
@policy(
    id="iam.user_console_mfa",
    resource_types=USER,
    title="IAM user with console access has no MFA device",
    severity=Severity.HIGH,
    remediation=(
        "Assign an MFA device to the user (aws iam enable-mfa-device), or remove the "
        "console password (aws iam delete-login-profile) if the user does not need it."
    ),
)
def user_console_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """A user with a console password must have at least one MFA device.

    Not applicable (None) to users without console access.
    """
    if missing := require(resource, "console_access"):
        return missing
    if resource.config["console_access"] is not True:
        return None
    if missing := require(resource, "mfa_devices"):
        return missing
    devices = resource.config["mfa_devices"]
    if not isinstance(devices, int) or devices < 1:
        return Verdict.violation(f"console_access=True, mfa_devices={devices!r}")
    return Verdict.compliant(f"console_access=True, mfa_devices={devices}")


def _active_keys(resource: Resource) -> list[dict[str, Any]]:
    keys = as_list(resource.config["access_keys"])
    return [k for k in keys if isinstance(k, dict) and k.get("status") == "Active"]


def _key_label(key: dict[str, Any]) -> str:
    return f"access_keys[{key.get('id', '?')}]"


def _keys_verdict(
    failing: list[str], unknown: Verdict | None, active: list[dict[str, Any]], passing: str
) -> Verdict:
    """A failing key decides, then a key that could not be judged; otherwise compliant."""
    if failing:
        return Verdict.violation("; ".join(failing))
    if unknown is not None:
        return unknown
    if not active:
        return Verdict.compliant("no Active access keys")
    return Verdict.compliant(f"{len(active)} Active access key(s), {passing}")


@policy(
    id="iam.access_key_rotation",
    resource_types=USER,
    title="IAM user has an active access key older than 90 days",
    severity=Severity.MEDIUM,
    remediation=(
        "Create a new access key, move its consumers to it, then deactivate and delete the "
        "old key (aws iam update-access-key --status Inactive; aws iam delete-access-key)."
    ),
)
def access_key_rotation(resource: Resource, now: datetime) -> Verdict | None:
    """Every Active access key must be at most 90 days old (exactly 90 days passes).

    Inactive keys are ignored; a user without Active keys is compliant. A key that is too old
    decides even when another key's ``created`` cannot be read; otherwise that key makes the
    verdict unknown.
    """
    if missing := require(resource, "access_keys"):
        return missing
    active = _active_keys(resource)
    old: list[str] = []
    unknown: Verdict | None = None
    for key in active:
        created = key.get("created")
        key_age = age(created, now)
        if key_age is None:
            unknown = unknown or Verdict.unknown(
                f"{_key_label(key)}.created", f"not a timestamp: {created!r}"
            )
        elif key_age > KEY_MAX_AGE:
            old.append(f"{_key_label(key)}.created={created} ({key_age.days} days old)")
    return _keys_verdict(old, unknown, active, "none older than 90 days")


def _last_used_unknown(resource: Resource, key: dict[str, Any]) -> str | None:
    """Why ``key``'s last use could not be read (the key's own ``unknown`` or the user's
    ``access_keys.last_used``), or None when ``last_used`` is data."""
    if key.get("last_used") is not None:
        return None
    reasons = key.get("unknown") or {}
    reason = reasons.get("last_used") if isinstance(reasons, dict) else None
    if reason is not None:
        return str(reason)
    return resource.unknown("access_keys.last_used")


@policy(
    id="iam.access_key_unused",
    resource_types=USER,
    title="IAM user has an active access key unused for 45 days or more",
    severity=Severity.MEDIUM,
    remediation=(
        "Deactivate the unused access key (aws iam update-access-key --status Inactive) and "
        "delete it once nothing breaks."
    ),
)
def access_key_unused(resource: Resource, now: datetime) -> Verdict | None:
    """No Active access key may go unused for 45 days or more.

    A key that was used is judged by ``last_used``: non-compliant when that is 45 or more days
    before ``now``. A key that was never used (``last_used`` None, and no ``unknown`` reason for
    it) is judged by ``created``: a fresh never-used key gets the same 45-day grace period
    (compliant while younger than 45 days), then it is non-compliant. A key whose last use could
    not be read makes the verdict unknown unless another key already fails. Inactive keys are
    ignored; a user without Active keys is compliant.
    """
    if missing := require(resource, "access_keys"):
        return missing
    active = _active_keys(resource)
    unused: list[str] = []
    unknown: Verdict | None = None
    for key in active:
        label = _key_label(key)
        if (reason := _last_used_unknown(resource, key)) is not None:
            unknown = unknown or Verdict.unknown(f"{label}.last_used", reason)
            continue
        last_used = key.get("last_used")
        if last_used is not None:
            attribute, value = "last_used", last_used
        else:
            attribute, value = "created", key.get("created")
        idle = age(value, now)
        if idle is None:
            unknown = unknown or Verdict.unknown(
                f"{label}.{attribute}", f"not a timestamp: {value!r}"
            )
        elif idle >= UNUSED_AFTER:
            note = f"{idle.days} days unused" if last_used else f"never used, {idle.days} days old"
            unused.append(f"{label}.{attribute}={value} ({note})")
    return _keys_verdict(unused, unknown, active, "all used within 45 days")


@policy(
    id="iam.console_password_unused",
    resource_types=USER,
    title="IAM user has a console password unused for 45 days or more",
    severity=Severity.MEDIUM,
    remediation=(
        "Remove the user's console password (aws iam delete-login-profile); create it again "
        "if the user needs console access later."
    ),
)
def console_password_unused(resource: Resource, now: datetime) -> Verdict | None:
    """A console password must not go unused for 45 days or more.

    Judged by ``password_last_used``; a password never used is judged by the user's ``created``
    time (a new user gets a 45-day grace period). Not applicable (None) without console access.
    """
    if missing := require(resource, "console_access"):
        return missing
    if resource.config["console_access"] is not True:
        return None
    if missing := needs(resource, "password_last_used"):
        return missing
    last_used = resource.config["password_last_used"]
    if last_used is not None:
        attribute, value = "password_last_used", last_used
    else:
        if missing := require(resource, "created"):
            return missing
        attribute, value = "created", resource.config["created"]
    idle = age(value, now)
    if idle is None:
        return Verdict.unknown(attribute, f"not a timestamp: {value!r}")
    note = f"{idle.days} days ago" + ("" if last_used else ", password never used")
    if idle >= UNUSED_AFTER:
        return Verdict.violation(f"{attribute}={value} ({note})")
    return Verdict.compliant(f"{attribute}={value} ({note})")


# ---- password policy ----------------------------------------------------------------------------
@policy(
    id="iam.password_policy",
    resource_types=PASSWORD_POLICY,
    title="Account password policy is weaker than CIS (length >= 14, reuse prevention 24)",
    severity=Severity.MEDIUM,
    remediation=(
        "Set the account password policy to require at least 14 characters and prevent "
        "reuse of the last 24 passwords (aws iam update-account-password-policy "
        "--minimum-password-length 14 --password-reuse-prevention 24)."
    ),
)
def password_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """The account password policy must exist, require at least 14 characters and prevent the
    reuse of the last 24 passwords (an unset value fails)."""
    if missing := require(resource, "exists"):
        return missing
    if resource.config["exists"] is not True:
        return Verdict.violation("exists=False (no account password policy)")
    if missing := needs(resource, "minimum_length", "reuse_prevention"):
        return missing
    length = resource.config["minimum_length"]
    reuse = resource.config["reuse_prevention"]
    weak: list[str] = []
    if not isinstance(length, int) or length < MIN_PASSWORD_LENGTH:
        weak.append(f"minimum_length={length!r} (< {MIN_PASSWORD_LENGTH})")
    if not isinstance(reuse, int) or reuse < MIN_PASSWORD_REUSE_PREVENTION:
        weak.append(f"reuse_prevention={reuse!r} (< {MIN_PASSWORD_REUSE_PREVENTION})")
    if weak:
        return Verdict.violation(", ".join(weak))
    return Verdict.compliant(f"minimum_length={length}, reuse_prevention={reuse}")


# ---- customer-managed policies ------------------------------------------------------------------
def _allows_star_star(statement: dict[str, Any]) -> bool:
    """The literal check: Effect Allow, Action "*" and Resource "*" (str or list)."""
    return (
        statement.get("Effect") == "Allow"
        and "*" in as_list(statement.get("Action"))
        and "*" in as_list(statement.get("Resource"))
    )


@policy(
    id="iam.admin_star_policy",
    resource_types=CUSTOMER_POLICY,
    title="Customer-managed policy allows full '*:*' administrative privileges",
    severity=Severity.HIGH,
    remediation=(
        "Replace the Allow '*' on '*' statement with the specific actions and resources the "
        "principals need, detach the policy, and publish the narrowed version as default."
    ),
)
def admin_star_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """A customer-managed policy's default version must not allow Action "*" on Resource "*".

    Only the literal form counts (``NotAction`` and service wildcards such as ``iam:*`` do not).
    Flagged whether or not the policy is attached; the evidence gives ``attachment_count``.
    Unknown when no kept statement matches but the collector dropped statements from an
    over-size document.
    """
    if missing := require(resource, "document"):
        return missing
    statements = policy_statements(resource.config["document"])
    if statements is None:
        return Verdict.unknown("document", "not a JSON policy document")
    for index, statement in enumerate(statements):
        if _allows_star_star(statement):
            label = statement.get("Sid") or index
            attached = resource.config.get("attachment_count")
            return Verdict.violation(
                f"document.Statement[{label}] allows Action '*' on Resource '*' "
                f"(attachment_count={attached!r})"
            )
    if dropped := statements_dropped(resource, "document"):
        return Verdict.unknown(
            "document", f"{dropped} statement(s) dropped from an over-size document"
        )
    return Verdict.compliant("no statement allows Action '*' on Resource '*'")
