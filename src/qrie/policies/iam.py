"""IAM policies: the root user, the password policy, users and their credentials, managed
policies, the support role, server certificates and IAM Access Analyzer (CIS section 1).

Resource types and config keys are those of ``qrie.inventory.schema``: ``iam.account`` (ARN
``…:root``: the account summary, the credential report's ``<root_account>`` row, the root
user's virtual MFA device, the ``AWSSupportAccess`` attachments), ``iam.password-policy``,
``iam.user`` (its credentials from the credential report), ``iam.policy`` (customer-managed
policies and the AWS-managed ones attached in the account, with their default version's
document), ``iam.server-certificate`` and ``iam.access-analyzers`` (one per region).

Each evaluator follows the benchmark's audit procedure: what it reads, when it does not apply
(None) and when it cannot judge (``unknown``: an attribute that could not be read is never a
pass). Where CIS v3.0 and v5.0 audit a control differently the policies differ too, and each
answers only its version's control (``iam.root_mfa`` / ``iam.root_console_mfa``). Ages are
taken from the credential's own dates (``password_last_changed``, ``last_rotated``,
``last_used``), never from the user's creation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._util import (
    age,
    as_list,
    expect_flag,
    parse_time,
    policy_statements,
    require,
    statements_dropped,
    wildcard_match,
)
from qrie.policies.base import Verdict, needs, policy

ACCOUNT = frozenset({"iam.account"})
USER = frozenset({"iam.user"})
PASSWORD_POLICY = frozenset({"iam.password-policy"})
MANAGED_POLICY = frozenset({"iam.policy"})
SERVER_CERTIFICATE = frozenset({"iam.server-certificate"})
ACCESS_ANALYZERS = frozenset({"iam.access-analyzers"})

KEY_MAX_AGE = timedelta(days=90)  # CIS: rotated every 90 days or less
UNUSED_AFTER = timedelta(days=45)  # CIS: unused for 45 days or greater
ROOT_RECENT_USE = timedelta(days=90)  # the benchmark names no period: a quarter (see below)
SETUP_WINDOW = timedelta(minutes=10)  # a key this close to the user's creation came with it
MIN_PASSWORD_LENGTH = 14
MIN_PASSWORD_REUSE_PREVENTION = 24
EXTERNAL_ACCESS_TYPES = frozenset({"ACCOUNT", "ORGANIZATION"})
# IAM actions that let whoever holds them on every resource grant themselves any permission
# (attach or write a policy, make another version the default, join a group, change who may
# assume a role). A statement that allows every action but a few, and not all of these, grants
# full administrative access in effect.
PERMISSION_GRANTING_ACTIONS = (
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
)


def _between(earlier: object, later: object) -> timedelta | None:
    first, second = parse_time(earlier), parse_time(later)
    return second - first if first is not None and second is not None else None


def _ago(moment: str, now: datetime) -> str:
    idle = age(moment, now)
    return f"{moment} ({idle.days} days ago)" if idle is not None else moment


# ---- root user ----------------------------------------------------------------------------------
@policy(
    id="iam.root_access_keys",
    resource_types=ACCOUNT,
    title="Root user has access keys",
    severity=Severity.CRITICAL,
    remediation=(
        "Console: sign in as the root user, open Security credentials, and under Access keys "
        "make each key inactive, then delete it; use IAM roles for programmatic access. Only "
        "the root user can delete its keys; with centralized root access, from the management "
        "account: aws sts assume-root --target-principal <account id> --task-policy-arn "
        "arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials, then aws iam "
        "delete-access-key --access-key-id <id> with that session."
    ),
)
def root_access_keys(resource: Resource, _now: datetime) -> Verdict | None:
    """The root user has no access keys: ``AccountAccessKeysPresent`` of GetAccountSummary is 0
    (the benchmark's command-line audit).

    Rationale: the root user's keys carry unrestricted access to the whole account and cannot
    be limited by any policy; removing them removes a standing way in."""
    return expect_flag(resource, "root_access_keys_present", False)


@policy(
    id="iam.root_mfa",
    resource_types=ACCOUNT,
    title="Root user does not have MFA enabled",
    severity=Severity.CRITICAL,
    remediation=(
        "Console: sign in as the root user, open Security credentials, choose Assign MFA "
        "device and register a hardware key, passkey or authenticator app. There is no CLI "
        "call: only the root user, signed in, can assign its MFA."
    ),
)
def root_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.5: ``AccountMFAEnabled`` of GetAccountSummary is 1. v3.0 makes no exception:
    a root user whose password was removed (centralized root access) and has no MFA fails here;
    CIS v5.0 1.4 accepts it (``iam.root_console_mfa``).

    Rationale: MFA adds a second factor to the one principal no policy can restrict."""
    return expect_flag(resource, "root_mfa_enabled", True)


@policy(
    id="iam.root_console_mfa",
    resource_types=ACCOUNT,
    title="Root user has a password but no MFA",
    severity=Severity.CRITICAL,
    remediation=(
        "Console: sign in as the root user, open Security credentials, choose Assign MFA "
        "device and register a hardware key, passkey or authenticator app; or, in an "
        "organization with centralized root access, delete the member's root credentials "
        "(IAM console > Root access management; CLI: aws iam delete-login-profile in a root "
        "session from aws sts assume-root)."
    ),
)
def root_console_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v5.0 1.4: ``AccountMFAEnabled`` is 1, or ``AccountPasswordPresent`` is 0 (the root
    user has no password to sign in with). Unknown when MFA is off and whether a password
    remains could not be read.

    Rationale: MFA protects the root user's console sign-in; without a password there is no
    sign-in to protect."""
    if missing := require(resource, "root_mfa_enabled"):
        return missing
    if resource.config["root_mfa_enabled"] is True:
        return Verdict.compliant("root_mfa_enabled=True")
    if missing := require(resource, "root_password_present"):
        return missing
    present = resource.config["root_password_present"]
    evidence = f"root_mfa_enabled=False, root_password_present={present!r}"
    return Verdict.compliant(evidence) if present is False else Verdict.violation(evidence)


@policy(
    id="iam.root_hardware_mfa",
    resource_types=ACCOUNT,
    title="Root user's MFA is not a hardware device",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: sign in as the root user, open Security credentials, remove the virtual MFA "
        "device and assign a hardware TOTP token or FIDO security key (Assign MFA device > "
        "Hardware TOTP token / Passkey or security key). Not available from the CLI."
    ),
)
def root_hardware_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.6: root MFA is enabled (``AccountMFAEnabled`` 1) and no virtual MFA device
    is assigned to the root user (ListVirtualMFADevices: a device whose user is the root ARN,
    or the console's ``root-account-mfa-device`` serial). No MFA at all fails too.

    Rationale: a hardware device has a smaller attack surface than a virtual one living on a
    phone."""
    if missing := require(resource, "root_mfa_enabled"):
        return missing
    if resource.config["root_mfa_enabled"] is not True:
        return Verdict.violation("root_mfa_enabled=False (no MFA at all)")
    if missing := require(resource, "root_virtual_mfa"):
        return missing
    virtual = resource.config["root_virtual_mfa"]
    evidence = f"root_mfa_enabled=True, root_virtual_mfa={virtual!r}"
    return Verdict.violation(evidence) if virtual is True else Verdict.compliant(evidence)


@policy(
    id="iam.root_recent_use",
    resource_types=ACCOUNT,
    title="Root user was used in the last 90 days",
    severity=Severity.HIGH,
    remediation=(
        "Use IAM roles or IAM Identity Center users for administration. If the use was not one "
        "of the tasks only the root user can do, change the root password (console: sign in "
        "as root > Security credentials > Change password), deactivate and delete root access "
        "keys, and review what the root user did (CLI: aws cloudtrail lookup-events "
        "--lookup-attributes AttributeKey=Username,AttributeValue=root). Mute this check with "
        "the reason when the use was a root-only task."
    ),
)
def root_recent_use(resource: Resource, now: datetime) -> Verdict | None:
    """CIS v3.0 1.7 / v5.0 1.6: the credential report's ``<root_account>`` row, its
    ``password_last_used``, ``access_key_1_last_used_date`` and ``access_key_2_last_used_date``:
    non-compliant when the latest of them is less than 90 days before the scan. The benchmark
    asks the auditor to review when the root user was last used and names no period: qrie
    flags any use within the last quarter for that review (a use exactly 90 days ago passes).
    Never used (``no_information`` / ``N/A``) is compliant. Unknown when a date could not be
    read, unless another one already shows a recent use.

    Rationale: the root user has unrestricted access; daily or administrative use of it goes
    against least privilege and separation of duties."""
    uses: list[tuple[str, str]] = []
    unknown: Verdict | None = None
    for attribute in (
        "root_password_last_used",
        "root_access_key_1_last_used",
        "root_access_key_2_last_used",
    ):
        if missing := needs(resource, attribute):
            unknown = unknown or missing
            continue
        value = resource.config[attribute]
        if value is None:
            continue
        if parse_time(value) is None:
            unknown = unknown or Verdict.unknown(attribute, f"not a timestamp: {value!r}")
            continue
        uses.append((attribute, str(value)))
    recent = [
        (a, v) for a, v in uses if (since := age(v, now)) is not None and since < ROOT_RECENT_USE
    ]
    if recent:
        return Verdict.violation(", ".join(f"{a}={_ago(v, now)}" for a, v in recent))
    if unknown is not None:
        return unknown
    if not uses:
        return Verdict.compliant("the root user was never used (no password or key use)")
    attribute, value = max(uses, key=lambda use: parse_time(use[1]) or now)
    return Verdict.compliant(f"last use {attribute}={_ago(value, now)}")


# ---- password policy ----------------------------------------------------------------------------
def _password_setting(resource: Resource, attribute: str, minimum: int) -> Verdict:
    """A numeric password-policy setting at ``minimum`` or more; no password policy, or the
    setting unset, fails."""
    if missing := require(resource, "exists"):
        return missing
    if resource.config["exists"] is not True:
        return Verdict.violation("exists=False (no account password policy)")
    if missing := needs(resource, attribute):
        return missing
    value = resource.config[attribute]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        return Verdict.violation(f"{attribute}={value!r} (< {minimum})")
    return Verdict.compliant(f"{attribute}={value}")


@policy(
    id="iam.password_policy",
    resource_types=PASSWORD_POLICY,
    title="Account password policy does not require at least 14 characters",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: IAM > Account settings > Password policy > Edit, set Minimum password length "
        "to 14 or more. CLI: aws iam update-account-password-policy --minimum-password-length "
        "14 (the call replaces the whole policy: repeat the other settings you keep)."
    ),
)
def password_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.8 / v5.0 1.7: GetAccountPasswordPolicy's ``MinimumPasswordLength`` is 14 or
    more (13 fails, 14 passes). No account password policy fails (IAM's default then allows 8
    characters).

    Rationale: longer passwords resist brute-force attempts."""
    return _password_setting(resource, "minimum_length", MIN_PASSWORD_LENGTH)


@policy(
    id="iam.password_reuse_prevention",
    resource_types=PASSWORD_POLICY,
    title="Account password policy does not prevent reusing the last 24 passwords",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: IAM > Account settings > Password policy > Edit, check Prevent password "
        "reuse and set Remember 24 passwords. CLI: aws iam update-account-password-policy "
        "--password-reuse-prevention 24 (the call replaces the whole policy: repeat the other "
        "settings you keep)."
    ),
)
def password_reuse_prevention(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.9 / v5.0 1.8: ``PasswordReusePrevention`` is 24 (IAM's maximum; 23 fails).
    No account password policy, or reuse prevention unset, fails.

    Rationale: preventing reuse keeps a leaked old password from becoming valid again."""
    return _password_setting(resource, "reuse_prevention", MIN_PASSWORD_REUSE_PREVENTION)


# ---- users --------------------------------------------------------------------------------------
def _console_user(resource: Resource) -> Verdict | bool:
    """Whether the user has a console password (``password_enabled``), or why that is unknown."""
    if missing := require(resource, "console_access"):
        return missing
    return resource.config["console_access"] is True


@policy(
    id="iam.user_console_mfa",
    resource_types=USER,
    title="IAM user with a console password has no MFA",
    severity=Severity.HIGH,
    remediation=(
        "Console: IAM > Users > the user > Security credentials > Assign MFA device. CLI: aws "
        "iam create-virtual-mfa-device, then aws iam enable-mfa-device --user-name <user> "
        "--serial-number <arn> --authentication-code1 <code> --authentication-code2 <code>; or "
        "remove the console password if it is not needed (aws iam delete-login-profile "
        "--user-name <user>)."
    ),
)
def user_console_mfa(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.10 / v5.0 1.9: every credential-report row with ``password_enabled`` true has
    ``mfa_active`` true. Not applicable to users without a console password.

    Rationale: a console password alone is one factor; MFA makes a stolen password useless on
    its own."""
    console = _console_user(resource)
    if isinstance(console, Verdict):
        return console
    if not console:
        return None
    if missing := require(resource, "mfa_active"):
        return missing
    active = resource.config["mfa_active"]
    evidence = f"console_access=True, mfa_active={active!r}"
    return Verdict.compliant(evidence) if active is True else Verdict.violation(evidence)


def _active_keys(resource: Resource) -> list[dict[str, Any]]:
    keys = as_list(resource.config["access_keys"])
    return [k for k in keys if isinstance(k, dict) and k.get("status") == "Active"]


def _key_label(key: dict[str, Any]) -> str:
    return f"access_key_{key.get('slot', '?')}"


def _keys_verdict(
    failing: list[str], unknown: Verdict | None, active: list[dict[str, Any]], passing: str
) -> Verdict:
    """A failing key decides, then a key that could not be judged; otherwise compliant."""
    if failing:
        return Verdict.violation("; ".join(failing))
    if unknown is not None:
        return unknown
    if not active:
        return Verdict.compliant("no active access keys")
    return Verdict.compliant(f"{len(active)} active access key(s), {passing}")


def _key_date(key: dict[str, Any], attribute: str) -> tuple[str | None, Verdict | None]:
    """The key's ``attribute`` timestamp, or the unknown verdict when it is not one."""
    value = key.get(attribute)
    if parse_time(value) is None:
        return None, Verdict.unknown(
            f"{_key_label(key)}.{attribute}", f"not a timestamp: {value!r}"
        )
    return str(value), None


@policy(
    id="iam.user_setup_access_keys",
    resource_types=USER,
    title="IAM user with a console password has an unused access key created with the user",
    severity=Severity.LOW,
    remediation=(
        "Console: IAM > Users > the user > Security credentials > Access keys: deactivate and "
        "delete the key. CLI: aws iam delete-access-key --user-name <user> --access-key-id "
        "<key id> (aws iam list-access-keys --user-name <user> names it). Let users who need "
        "keys create them later, as a separate step."
    ),
)
def user_setup_access_keys(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.11 (v5.0 1.10, Manual): a user with a console password has no active access
    key that was created at the user's setup and never used. The benchmark compares the key's
    creation with the user's (console audit) and looks for active keys without a last-used date
    (credential report: ``access_key_<n>_active`` true, ``access_key_<n>_last_used_date``
    ``N/A``); qrie takes a key created within 10 minutes of the user as created with it. Not
    applicable to users without a console password.

    Rationale: keys made with the user, in case, are credentials nobody asked for; asking for
    them as a separate step shows they are needed and where they are used."""
    console = _console_user(resource)
    if isinstance(console, Verdict):
        return console
    if not console:
        return None
    if missing := require(resource, "access_keys", "created"):
        return missing
    created = resource.config["created"]
    if parse_time(created) is None:
        return Verdict.unknown("created", f"not a timestamp: {created!r}")
    active = _active_keys(resource)
    setup: list[str] = []
    unknown: Verdict | None = None
    for key in active:
        if key.get("last_used") is not None:
            continue
        rotated, bad = _key_date(key, "last_rotated")
        if rotated is None:
            unknown = unknown or bad
            continue
        gap = _between(created, rotated)
        if gap is not None and abs(gap) <= SETUP_WINDOW:
            setup.append(
                f"{_key_label(key)}.last_rotated={rotated} ({int(gap.total_seconds())} s after "
                f"the user's creation {created}), never used"
            )
    return _keys_verdict(setup, unknown, active, "none created with the user and unused")


@policy(
    id="iam.access_key_unused",
    resource_types=USER,
    title="IAM user has an active access key unused for 45 days or more",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: IAM > Users > the user > Security credentials > Access keys: Actions > "
        "Deactivate, then delete it once nothing breaks. CLI: aws iam update-access-key "
        "--user-name <user> --access-key-id <key id> --status Inactive; aws iam "
        "delete-access-key --user-name <user> --access-key-id <key id>."
    ),
)
def access_key_unused(resource: Resource, now: datetime) -> Verdict | None:
    """CIS v3.0 1.12 / v5.0 1.11 (keys): every active key's ``access_key_<n>_last_used_date`` is
    less than 45 days before the scan (exactly 45 days fails); a key never used (``N/A``) is
    judged by its ``access_key_<n>_last_rotated`` (its creation) instead, so a new key gets the
    same 45 days. Inactive keys are disabled already; a user without active keys is compliant.
    A key whose date cannot be read makes the verdict unknown unless another key fails.

    Rationale: credentials nobody uses only wait to be found; disabling them shortens the
    window in which a compromised or abandoned one can be used."""
    if missing := require(resource, "access_keys"):
        return missing
    active = _active_keys(resource)
    unused: list[str] = []
    unknown: Verdict | None = None
    for key in active:
        attribute = "last_used" if key.get("last_used") is not None else "last_rotated"
        value, bad = _key_date(key, attribute)
        if value is None:
            unknown = unknown or bad
            continue
        idle = age(value, now)
        if idle is not None and idle >= UNUSED_AFTER:
            note = "unused" if attribute == "last_used" else "never used, created"
            unused.append(f"{_key_label(key)}.{attribute}={value} ({note} {idle.days} days ago)")
    return _keys_verdict(unused, unknown, active, "each used (or created) within 45 days")


@policy(
    id="iam.console_password_unused",
    resource_types=USER,
    title="IAM user has a console password unused for 45 days or more",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: IAM > Users > the user > Security credentials > Console sign-in: Manage > "
        "Disable console access. CLI: aws iam delete-login-profile --user-name <user>."
    ),
)
def console_password_unused(resource: Resource, now: datetime) -> Verdict | None:
    """CIS v3.0 1.12 / v5.0 1.11 (password): ``password_last_used`` is less than 45 days before
    the scan (exactly 45 days fails); a password never used (``no_information``) is judged by
    ``password_last_changed`` (when it was set), never by the user's creation. Not applicable
    to users without a console password.

    Rationale: an unused password is an open door nobody watches."""
    console = _console_user(resource)
    if isinstance(console, Verdict):
        return console
    if not console:
        return None
    if missing := needs(resource, "password_last_used"):
        return missing
    attribute = "password_last_used"
    if resource.config["password_last_used"] is None:
        attribute = "password_last_changed"
        if missing := require(resource, attribute):
            return missing
    value = resource.config[attribute]
    idle = age(value, now)
    if idle is None:
        return Verdict.unknown(attribute, f"not a timestamp: {value!r}")
    note = f"{idle.days} days ago" + ("" if attribute == "password_last_used" else ", never used")
    evidence = f"{attribute}={value} ({note})"
    return Verdict.violation(evidence) if idle >= UNUSED_AFTER else Verdict.compliant(evidence)


@policy(
    id="iam.user_single_active_key",
    resource_types=USER,
    title="IAM user has more than one active access key",
    severity=Severity.MEDIUM,
    remediation=(
        "Keep one key: move its consumers to the newer key, then deactivate and delete the "
        "other. Console: IAM > Users > the user > Security credentials > Access keys: Actions "
        "> Deactivate, then Delete. CLI: aws iam update-access-key --user-name <user> "
        "--access-key-id <key id> --status Inactive; aws iam delete-access-key ..."
    ),
)
def user_single_active_key(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.13 / v5.0 1.12: a user has at most one access key whose status is Active
    (both ``access_key_1_active`` and ``access_key_2_active`` true fails; an inactive second
    key does not count).

    Rationale: two active keys double what can leak, and the older one usually outlives the
    rotation it was kept for."""
    if missing := require(resource, "access_keys"):
        return missing
    active = _active_keys(resource)
    labels = ", ".join(_key_label(k) for k in active) or "none"
    evidence = f"{len(active)} active access key(s): {labels}"
    return Verdict.violation(evidence) if len(active) > 1 else Verdict.compliant(evidence)


@policy(
    id="iam.access_key_rotation",
    resource_types=USER,
    title="IAM user has an active access key older than 90 days",
    severity=Severity.MEDIUM,
    remediation=(
        "Create a second key (console: IAM > Users > the user > Security credentials > Create "
        "access key; CLI: aws iam create-access-key --user-name <user>), move its consumers to "
        "it, then deactivate and delete the old key (aws iam update-access-key --status "
        "Inactive ...; aws iam delete-access-key ...)."
    ),
)
def access_key_rotation(resource: Resource, now: datetime) -> Verdict | None:
    """CIS v3.0 1.14 / v5.0 1.13: every active key's ``access_key_<n>_last_rotated`` (its
    creation) is at most 90 days before the scan (exactly 90 days passes). Inactive keys are
    not judged; a user without active keys is compliant. A key too old decides even when
    another key's date cannot be read; otherwise that key makes the verdict unknown.

    Rationale: a key that lives for months has had months to leak; rotation bounds that."""
    if missing := require(resource, "access_keys"):
        return missing
    active = _active_keys(resource)
    old: list[str] = []
    unknown: Verdict | None = None
    for key in active:
        rotated, bad = _key_date(key, "last_rotated")
        if rotated is None:
            unknown = unknown or bad
            continue
        key_age = age(rotated, now)
        if key_age is not None and key_age > KEY_MAX_AGE:
            old.append(f"{_key_label(key)}.last_rotated={rotated} ({key_age.days} days old)")
    return _keys_verdict(old, unknown, active, "none older than 90 days")


@policy(
    id="iam.user_permissions_through_groups",
    resource_types=USER,
    title="IAM user has policies attached directly or inline",
    severity=Severity.LOW,
    remediation=(
        "Put the user in a group that holds the permissions, then remove the user's own "
        "policies. Console: IAM > Users > the user > Permissions: Remove each policy. CLI: aws "
        "iam detach-user-policy --user-name <user> --policy-arn <arn>; aws iam "
        "delete-user-policy --user-name <user> --policy-name <name>."
    ),
)
def user_permissions_through_groups(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.15 / v5.0 1.14: the user has no managed policy attached to it
    (ListAttachedUserPolicies) and no inline policy (ListUserPolicies); qrie reads both from
    GetAccountAuthorizationDetails. Group membership is not required: a user without any
    policy passes.

    Rationale: permissions granted through groups are managed in one place, by role; policies
    on single users drift and pile up."""
    if missing := require(resource, "attached_policies", "inline_policies"):
        return missing
    attached = as_list(resource.config["attached_policies"])
    inline = as_list(resource.config["inline_policies"])
    if not attached and not inline:
        groups = as_list(resource.config.get("groups"))
        return Verdict.compliant(f"no user policies (groups: {', '.join(groups) or 'none'})")
    parts = []
    if attached:
        count = resource.config.get("attached_policies_count") or len(attached)
        parts.append(f"attached_policies ({count}): {', '.join(attached)}")
    if inline:
        count = resource.config.get("inline_policies_count") or len(inline)
        parts.append(f"inline_policies ({count}): {', '.join(inline)}")
    return Verdict.violation("; ".join(parts))


# ---- managed policies ---------------------------------------------------------------------------
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov"})


def _only_wildcards(part: str) -> bool:
    return bool(part) and set(part) == {"*"}


def _every_action(pattern: object) -> bool:
    """An action pattern that matches every action: ``*`` or ``*:*``."""
    parts = str(pattern).split(":")
    return len(parts) <= 2 and all(_only_wildcards(part) for part in parts)


def _every_resource(pattern: object) -> bool:
    """A resource pattern that matches every resource: ``*``, ``arn:*``, ``arn:aws:*:*:*:*``."""
    text = str(pattern)
    if _only_wildcards(text):
        return True
    parts = text.split(":")
    return (
        parts[0] == "arn"
        and len(parts) >= 2
        and (_only_wildcards(parts[1]) or parts[1] in PARTITIONS)
        and all(_only_wildcards(part) for part in parts[2:])
    )


def _on_every_resource(statement: dict[str, Any]) -> str | None:
    """How the statement applies to every resource (its evidence), or None."""
    if "Resource" in statement:
        resources = [str(r) for r in as_list(statement["Resource"])]
        return "Resource '*'" if any(_every_resource(r) for r in resources) else None
    if "NotResource" in statement:
        excluded = [str(r) for r in as_list(statement["NotResource"])]
        if any(_every_resource(r) for r in excluded):
            return None  # excludes every resource: grants nothing
        return f"NotResource {excluded} (every other resource)"
    return None


def _matches(patterns: object, action: str) -> bool:
    """Whether an Action / NotAction list names ``action`` (IAM compares actions in any case)."""
    return any(wildcard_match(str(p).lower(), action.lower()) for p in as_list(patterns))


def _grants(statement: dict[str, Any], action: str) -> bool:
    if "Action" in statement:
        return _matches(statement["Action"], action)
    if "NotAction" in statement:
        return not _matches(statement["NotAction"], action)
    return False


def admin_statements(statements: list[dict[str, Any]]) -> list[str]:
    """What in a policy's statements grants full administrative privileges, as evidence.

    A statement does when it allows, on every resource, either every action (Action ``*`` or
    ``*:*``: CIS's "*:*"), or every action but those its NotAction lists while those leave one
    of :data:`PERMISSION_GRANTING_ACTIONS` allowed -- by that statement or by another Allow on
    every resource -- so the holder can grant itself the rest (``NotAction: iam:*`` alone, as in
    AWS's PowerUserAccess, does not). Conditions do not change the verdict (they are named in
    the evidence); Deny statements are not credited, as the benchmark reads the Allow."""
    broad = [
        (index, s, where)
        for index, s in enumerate(statements)
        if s.get("Effect") == "Allow" and (where := _on_every_resource(s)) is not None
    ]
    found: list[str] = []
    for index, statement, where in broad:
        label = statement.get("Sid") or index
        condition = " (with a Condition)" if statement.get("Condition") else ""
        if "Action" in statement:
            if any(_every_action(a) for a in as_list(statement["Action"])):
                found.append(f"Statement[{label}] allows Action '*' on {where}{condition}")
        elif "NotAction" in statement:
            granted = [
                action
                for action in PERMISSION_GRANTING_ACTIONS
                if any(_grants(other, action) for _, other, _ in broad)
            ]
            if granted:
                excluded = [str(a) for a in as_list(statement["NotAction"])]
                found.append(
                    f"Statement[{label}] allows every action but NotAction {excluded} on "
                    f"{where}{condition}, and {granted[0]} stays allowed"
                )
    return found


@policy(
    id="iam.admin_star_policy",
    resource_types=MANAGED_POLICY,
    title="Attached IAM policy allows full '*:*' administrative privileges",
    severity=Severity.HIGH,
    remediation=(
        "Write a policy with only the actions and resources the principals need, attach it, "
        "and detach the full-access policy (console: IAM > Policies > the policy > Entities "
        "attached > Detach; CLI: aws iam list-entities-for-policy --policy-arn <arn>, then aws "
        "iam detach-user-policy / detach-group-policy / detach-role-policy --policy-arn <arn> "
        "...). For a customer policy you may instead publish a narrowed version as default "
        "(aws iam create-policy-version --policy-arn <arn> --policy-document file://p.json "
        "--set-as-default)."
    ),
)
def admin_star_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.16 / v5.0 1.15: no attached managed policy (customer-managed, or AWS-managed
    in use: ``list-policies --only-attached``) has, in its default version, an Allow statement
    with Action ``*`` on Resource ``*``. Judged by what the statements grant, not by their
    spelling: ``*:*``, ``arn:aws:*:*:*:*``, NotResource, and NotAction statements that allow
    every action but a few and leave IAM's permission-granting actions allowed count too
    (``admin_statements``). Not applicable to a policy attached to nothing
    (``attachment_count`` 0). Unknown when no kept statement decides but statements were
    dropped from an over-size document.

    Rationale: a full-access policy grants everything a principal could ever need, and so
    everything an attacker could want; least privilege starts from nothing."""
    if missing := require(resource, "attachment_count"):
        return missing
    attached = resource.config["attachment_count"]
    if isinstance(attached, int) and attached == 0:
        return None
    if missing := require(resource, "document"):
        return missing
    statements = policy_statements(resource.config["document"])
    if statements is None:
        return Verdict.unknown("document", "not a JSON policy document")
    found = admin_statements(statements)
    if found:
        return Verdict.violation(f"{'; '.join(found)} (attachment_count={attached!r})")
    if dropped := statements_dropped(resource, "document"):
        return Verdict.unknown(
            "document", f"{dropped} statement(s) dropped from an over-size document"
        )
    return Verdict.compliant(
        f"no statement grants full administrative privileges (attachment_count={attached!r})"
    )


# ---- support role -------------------------------------------------------------------------------
@policy(
    id="iam.support_role",
    resource_types=ACCOUNT,
    title="No IAM role has the AWSSupportAccess policy",
    severity=Severity.LOW,
    remediation=(
        "Create a role for the people who manage AWS Support cases and attach AWSSupportAccess "
        "(console: IAM > Roles > Create role, trusted entity: your account or identity provider, "
        "permissions: AWSSupportAccess). CLI: aws iam create-role --role-name <name> "
        "--assume-role-policy-document file://trust.json; aws iam attach-role-policy "
        "--role-name <name> --policy-arn arn:aws:iam::aws:policy/AWSSupportAccess."
    ),
)
def support_role(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.17 / v5.0 1.16: ``list-entities-for-policy --policy-arn
    arn:aws:iam::aws:policy/AWSSupportAccess`` returns at least one role (``PolicyRoles`` not
    empty). The benchmark asks for a role: the policy attached only to users or groups does
    not pass (the evidence names them).

    Rationale: a role for AWS Support lets incidents be handled by the people meant to, with
    least privilege, instead of by whoever holds broad credentials."""
    if missing := require(resource, "support_policy_roles"):
        return missing
    roles = as_list(resource.config["support_policy_roles"])
    if roles:
        count = resource.config.get("support_policy_roles_count") or len(roles)
        return Verdict.compliant(
            f"AWSSupportAccess attached to {count} role(s): {', '.join(roles)}"
        )
    others = [
        f"{kind}: {', '.join(as_list(resource.config.get(f'support_policy_{kind}')))}"
        for kind in ("users", "groups")
        if as_list(resource.config.get(f"support_policy_{kind}"))
    ]
    where = f" (attached to {'; '.join(others)} only)" if others else ""
    return Verdict.violation(f"AWSSupportAccess attached to no role{where}")


# ---- server certificates ------------------------------------------------------------------------
@policy(
    id="iam.expired_server_certificate",
    resource_types=SERVER_CERTIFICATE,
    title="Expired SSL/TLS server certificate stored in IAM",
    severity=Severity.MEDIUM,
    remediation=(
        "Delete the expired certificate (the console does not show IAM server certificates). "
        "CLI: aws iam delete-server-certificate --server-certificate-name <name>. Move HTTPS "
        "endpoints to AWS Certificate Manager where the region supports it."
    ),
)
def expired_server_certificate(resource: Resource, now: datetime) -> Verdict | None:
    """CIS v3.0 1.19 / v5.0 1.18: each certificate of ListServerCertificates has an
    ``Expiration`` after the scan; one whose expiration has passed fails (the certificate is
    still valid at its expiration instant). An account without certificates has nothing to
    judge.

    Rationale: an expired certificate deployed by mistake (e.g. to a load balancer) breaks
    the site and its users' trust; deleting it removes the mistake."""
    if missing := require(resource, "expiration"):
        return missing
    expiration = resource.config["expiration"]
    expires = parse_time(expiration)
    if expires is None:
        return Verdict.unknown("expiration", f"not a timestamp: {expiration!r}")
    since = age(expires, now) or timedelta(0)
    if since > timedelta(0):
        return Verdict.violation(f"expiration={expiration} (expired {since.days} days ago)")
    return Verdict.compliant(f"expiration={expiration} ({(-since).days} days left)")


# ---- IAM Access Analyzer ------------------------------------------------------------------------
@policy(
    id="iam.access_analyzer_enabled",
    resource_types=ACCESS_ANALYZERS,
    title="No active IAM Access Analyzer for external access in the region",
    severity=Severity.MEDIUM,
    remediation=(
        "In each region: console: IAM > Access analyzer > Analyzer settings > Create analyzer "
        "(external access, zone of trust: account or organization). CLI: aws accessanalyzer "
        "create-analyzer --analyzer-name <name> --type ACCOUNT --region <region> (ORGANIZATION "
        "from the management or delegated administrator account)."
    ),
)
def access_analyzer_enabled(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v3.0 1.20 / v5.0 1.19: in each enabled region qrie inventories,
    ``accessanalyzer list-analyzers`` returns at least one external-access analyzer (type
    ``ACCOUNT`` or ``ORGANIZATION``) whose status is ``ACTIVE``. Unused-access and
    internal-access analyzers do not count, nor do ones still ``CREATING`` or ``DISABLED``.
    An organization analyzer is listed only in the account that owns it (the management or
    delegated administrator account): as the benchmark audits each account, a member account
    covered only by it fails.

    Rationale: Access Analyzer finds the resources shared outside the zone of trust (buckets,
    roles, keys, functions, queues) from their resource policies."""
    if missing := require(resource, "analyzers"):
        return missing
    analyzers = [a for a in as_list(resource.config["analyzers"]) if isinstance(a, dict)]
    active = [
        a
        for a in analyzers
        if a.get("type") in EXTERNAL_ACCESS_TYPES and a.get("status") == "ACTIVE"
    ]
    region = resource.config.get("region") or resource.scope
    if active:
        names = ", ".join(f"{a.get('name')} ({a.get('type')})" for a in active)
        return Verdict.compliant(f"{region}: active external-access analyzer(s): {names}")
    listed = ", ".join(f"{a.get('name')} ({a.get('type')}, {a.get('status')})" for a in analyzers)
    return Verdict.violation(
        f"{region}: no active ACCOUNT or ORGANIZATION analyzer (analyzers: {listed or 'none'})"
    )
