"""The IAM collector against moto, through assumed member-account roles (as the engine runs it),
and the policy-document helpers it shares with the S3 collector."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from qrie.aws import AccountSessions
from qrie.domain import GLOBAL, Resource
from qrie.inventory import iam
from qrie.inventory.registry import get_collector
from qrie_local.members import deploy_member_role
from tests.support import HUB_ACCOUNT
from tests.unit.collectors_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    HookedSession,
    deny,
)

ADMIN_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READ_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


# ---- fixtures and helpers ----------------------------------------------------------------------


def list_users_paging(sent_page_sizes: list[int]) -> dict[str, Callable[..., Any]]:
    """Server-side ListUsers paging for moto, which ignores Marker/MaxItems (moto 5.2): take
    the collector's parameters off the request, let moto answer with every user, then cut the
    page and set Marker/IsTruncated as IAM does."""

    def take_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["page"] = (params.pop("MaxItems", None), params.pop("Marker", None))
        if context["page"][0] is not None:
            sent_page_sizes.append(context["page"][0])

    def cut_page(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        limit, marker = context.get("page", (None, None))
        if limit is None:
            return
        start = int(marker or 0)
        users = parsed.get("Users", [])
        parsed["Users"] = users[start : start + limit]
        parsed["IsTruncated"] = start + limit < len(users)
        if parsed["IsTruncated"]:
            parsed["Marker"] = str(start + limit)

    return {
        "before-parameter-build.iam.ListUsers": take_params,
        "after-call.iam.ListUsers": cut_page,
    }


def collect(session: Any, collector: iam.IamCollector = iam.COLLECTOR) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = {}
    for resource in collector.collect(session, GLOBAL):
        grouped.setdefault(resource.type, []).append(resource)
    return grouped


def by_name(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources}


# ---- collector ---------------------------------------------------------------------------------
def test_registry_and_scopes() -> None:
    # GIVEN the registered iam collector / WHEN asked for scopes
    collector = get_collector("iam")
    scopes = collector.scopes(None, ["eu-west-1"])  # type: ignore[arg-type]
    # THEN it is this module's collector and IAM is global
    assert collector is iam.COLLECTOR
    assert collector.service == "iam"
    assert scopes == [GLOBAL]


def test_each_account_inventory_holds_only_its_own(sessions: AccountSessions) -> None:
    # GIVEN three accounts with different users, policies and roles
    layout = {
        ACCOUNT_A: (["alice"], ["a-admin"], ["a-app"]),
        ACCOUNT_B: (["bob", "bea"], [], ["b-app", "b-batch"]),
        ACCOUNT_C: ([], ["c-read", "c-write"], []),
    }
    for account, (users, policies, roles) in layout.items():
        client = sessions.for_account(account).client("iam")
        for user in users:
            client.create_user(UserName=user)
        for policy in policies:
            client.create_policy(PolicyName=policy, PolicyDocument=json.dumps(READ_DOCUMENT))
        for role in roles:
            client.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))

    for account, (users, policies, roles) in layout.items():
        # WHEN the account's IAM inventory is collected through its assumed role
        found = collect(sessions.for_account(account))
        # THEN it holds exactly that account's users, customer policies and roles
        assert sorted(r.name for r in found.get("iam.user", [])) == sorted(users)
        assert sorted(r.name for r in found.get("iam.policy", [])) == sorted(policies)
        assert sorted(r.name for r in found.get("iam.role", [])) == sorted(roles)
        # AND one account summary and one password policy, all addressed in that account
        assert [r.arn for r in found["iam.account"]] == [f"arn:aws:iam::{account}:root"]
        assert [r.arn for r in found["iam.password-policy"]] == [
            f"arn:aws:iam::{account}:password-policy"
        ]
        every = [r for rs in found.values() for r in rs]
        assert {r.account_id for r in every} == {account}
        assert {r.scope for r in every} == {GLOBAL}
        assert all(r.arn.startswith(f"arn:aws:iam::{account}:") for r in every)
        json.dumps([r.config for r in every])


def test_user_attributes(sessions: AccountSessions) -> None:
    # GIVEN a console user with an MFA device and two access keys (one deactivated), and a bare
    # programmatic-less user
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("iam")
    client.create_user(UserName="console-user")
    client.create_login_profile(UserName="console-user", Password="Sup3r-secret-pw!")
    serial = client.create_virtual_mfa_device(VirtualMFADeviceName="console-user")[
        "VirtualMFADevice"
    ]["SerialNumber"]
    client.enable_mfa_device(
        UserName="console-user",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    first = client.create_access_key(UserName="console-user")["AccessKey"]["AccessKeyId"]
    second = client.create_access_key(UserName="console-user")["AccessKey"]["AccessKeyId"]
    client.update_access_key(UserName="console-user", AccessKeyId=second, Status="Inactive")
    client.create_user(UserName="bare-user")

    # WHEN collected
    users = by_name(collect(member)["iam.user"])

    # THEN console access, MFA devices and keys are read per user
    console = users["console-user"]
    assert console.arn == f"arn:aws:iam::{ACCOUNT_A}:user/console-user"
    assert console.config["user_name"] == "console-user"
    assert console.config["console_access"] is True
    assert console.config["mfa_devices"] == 1
    keys = {k["id"]: k for k in console.config["access_keys"]}
    assert set(keys) == {first, second}
    assert (keys[first]["status"], keys[second]["status"]) == ("Active", "Inactive")
    assert keys[first]["created"].endswith("Z")
    assert keys[first]["last_used"] is None  # never used
    assert "unknown" not in console.config
    # AND a user without a login profile has no console access (NoSuchEntity is data)
    bare = users["bare-user"].config
    assert (bare["console_access"], bare["mfa_devices"], bare["access_keys"]) == (False, 0, [])
    assert bare["password_last_used"] is None
    assert bare["created"].endswith("Z")


def test_access_key_last_use_is_normalized(sessions: AccountSessions) -> None:
    # GIVEN a key that GetAccessKeyLastUsed reports used (moto never records use without auth,
    # so the real answer gets the date IAM would return)
    member = sessions.for_account(ACCOUNT_B)
    client = member.client("iam")
    client.create_user(UserName="used-key")
    client.create_access_key(UserName="used-key")

    def used(parsed: dict[str, Any], **_: Any) -> None:
        parsed["AccessKeyLastUsed"]["LastUsedDate"] = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

    session = HookedSession(member, {"after-call.iam.GetAccessKeyLastUsed": used})
    # WHEN collected
    (user,) = collect(session)["iam.user"]
    # THEN the date is an ISO 8601 UTC string
    assert user.config["access_keys"][0]["last_used"] == "2024-05-01T12:30:00Z"
    assert session.calls["GetAccessKeyLastUsed"] == 1


def test_denied_user_reads_are_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call GetLoginProfile nor GetAccessKeyLastUsed
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("iam")
    client.create_user(UserName="guarded")
    key = client.create_access_key(UserName="guarded")["AccessKey"]["AccessKeyId"]
    session = HookedSession(
        member,
        {
            "before-call.iam.GetLoginProfile": deny("GetLoginProfile"),
            "before-call.iam.GetAccessKeyLastUsed": deny("GetAccessKeyLastUsed"),
        },
    )
    # WHEN collected
    (user,) = collect(session)["iam.user"]
    # THEN console access is unknown rather than False
    assert user.config["console_access"] is None
    assert user.unknown("console_access") == "AccessDenied"
    # AND the key is kept, with its last use unknown rather than "never used"
    (entry,) = user.config["access_keys"]
    assert entry["id"] == key
    assert entry["last_used"] is None
    assert entry["unknown"] == {"last_used": "AccessDenied"}
    assert user.unknown("access_keys.last_used") == "AccessDenied"
    assert user.config["mfa_devices"] == 0


def test_account_summary(sessions: AccountSessions) -> None:
    # GIVEN an account without root MFA nor root keys (moto's summary)
    member = sessions.for_account(ACCOUNT_C)
    # WHEN collected
    (account,) = collect(member)["iam.account"]
    # THEN both flags are plain booleans
    assert account.name == "root"
    assert account.config == {"root_mfa_enabled": False, "root_access_keys_present": False}

    # AND GIVEN a summary reporting root MFA on and a root key present
    def root_set(parsed: dict[str, Any], **_: Any) -> None:
        parsed["SummaryMap"].update(AccountMFAEnabled=1, AccountAccessKeysPresent=1)

    hooked = HookedSession(member, {"after-call.iam.GetAccountSummary": root_set})
    # WHEN collected / THEN they are True
    (account,) = collect(hooked)["iam.account"]
    assert account.config == {"root_mfa_enabled": True, "root_access_keys_present": True}


def test_denied_account_summary_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call GetAccountSummary
    session = HookedSession(
        sessions.for_account(ACCOUNT_A),
        {"before-call.iam.GetAccountSummary": deny("GetAccountSummary")},
    )
    # WHEN collected
    (account,) = collect(session)["iam.account"]
    # THEN both attributes are unknown (a policy reports unknown, never a pass)
    assert account.config == {
        "root_mfa_enabled": None,
        "root_access_keys_present": None,
        "unknown": {"root_mfa_enabled": "AccessDenied", "root_access_keys_present": "AccessDenied"},
    }


def test_password_policy_absent_present_and_denied(sessions: AccountSessions) -> None:
    # GIVEN an account with no password policy
    member = sessions.for_account(ACCOUNT_A)
    # WHEN collected / THEN it "does not exist" (NoSuchEntity is data) and nothing is unknown
    (absent,) = collect(member)["iam.password-policy"]
    assert absent.config["exists"] is False
    assert absent.config["minimum_length"] is None
    assert "unknown" not in absent.config

    # GIVEN a password policy is set
    member.client("iam").update_account_password_policy(
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=False,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )
    # WHEN collected / THEN its settings are normalized
    (present,) = collect(member)["iam.password-policy"]
    assert present.config == {
        "exists": True,
        "minimum_length": 14,
        "reuse_prevention": 24,
        "require_symbols": True,
        "require_numbers": True,
        "require_uppercase": True,
        "require_lowercase": False,
        "max_age_days": 90,
    }

    # GIVEN the role may not read it / WHEN collected / THEN every setting is unknown
    denied_session = HookedSession(
        member, {"before-call.iam.GetAccountPasswordPolicy": deny("GetAccountPasswordPolicy")}
    )
    (denied,) = collect(denied_session)["iam.password-policy"]
    assert denied.config["exists"] is None
    assert denied.unknown("exists") == "AccessDenied"
    assert denied.unknown("minimum_length") == "AccessDenied"
    assert denied.config["require_symbols"] is None


def test_customer_policies_default_version_documents(sessions: AccountSessions) -> None:
    # GIVEN a customer policy whose default version became admin, one under a path, and the
    # AWS-managed policies moto knows about
    member = sessions.for_account(ACCOUNT_B)
    client = member.client("iam")
    arn = client.create_policy(PolicyName="drifted", PolicyDocument=json.dumps(READ_DOCUMENT))[
        "Policy"
    ]["Arn"]
    client.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(ADMIN_DOCUMENT), SetAsDefault=True
    )
    client.create_policy(
        PolicyName="scoped", Path="/team/", PolicyDocument=json.dumps(READ_DOCUMENT)
    )
    client.create_user(UserName="holder")
    client.attach_user_policy(UserName="holder", PolicyArn=arn)

    # WHEN collected
    policies = by_name(collect(member)["iam.policy"])

    # THEN only customer policies are inventoried, with their default version's document
    assert set(policies) == {"drifted", "scoped"}
    drifted = policies["drifted"]
    assert drifted.arn == arn
    assert drifted.config == {
        "policy_name": "drifted",
        "default_version": "v2",
        "attachment_count": 1,
        "document": ADMIN_DOCUMENT,
    }
    assert policies["scoped"].arn == f"arn:aws:iam::{ACCOUNT_B}:policy/team/scoped"
    assert policies["scoped"].config["document"] == READ_DOCUMENT


def test_users_are_paginated(sessions: AccountSessions) -> None:
    # GIVEN 25 users, listed 10 per page
    member = sessions.for_account(ACCOUNT_C)
    client = member.client("iam")
    users = [f"user-{i:02d}" for i in range(25)]
    for user in users:
        client.create_user(UserName=user)
    sent: list[int] = []
    session = HookedSession(member, list_users_paging(sent))

    # WHEN collected
    found = collect(session, iam.IamCollector(page_size=10))

    # THEN every user is collected over three ListUsers pages of at most 10
    assert sorted(r.name for r in found["iam.user"]) == users
    assert session.calls["ListUsers"] == 3
    assert sent == [10, 10, 10]
    # AND each user got its own reads
    assert session.calls["GetLoginProfile"] == 25
    assert session.calls["ListMFADevices"] == 25


def test_policies_are_paginated(sessions: AccountSessions) -> None:
    # GIVEN 12 customer policies, listed 5 per page
    member = sessions.for_account(ACCOUNT_C)
    client = member.client("iam")
    policies = [f"policy-{i:02d}" for i in range(12)]
    for policy in policies:
        client.create_policy(PolicyName=policy, PolicyDocument=json.dumps(READ_DOCUMENT))
    session = HookedSession(member)

    # WHEN collected
    found = collect(session, iam.IamCollector(page_size=5))

    # THEN every policy is collected over three ListPolicies pages, each policy's default
    # version read once
    assert sorted(r.name for r in found["iam.policy"]) == policies
    assert session.calls["ListPolicies"] == 3
    assert session.calls["GetPolicyVersion"] == 12


def test_roles_keep_trust_policy_without_get_role(sessions: AccountSessions) -> None:
    # GIVEN 7 roles, listed 5 per page
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("iam")
    names = [f"role-{i}" for i in range(7)]
    for name in names:
        client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    session = HookedSession(member)

    # WHEN collected
    roles = by_name(collect(session, iam.IamCollector(page_size=5))["iam.role"])

    # THEN each role has its parsed trust policy, from two ListRoles pages and no GetRole
    assert sorted(roles) == names
    role = roles["role-3"]
    assert role.arn == f"arn:aws:iam::{ACCOUNT_A}:role/role-3"
    assert role.config["trust_policy"] == EC2_TRUST
    assert role.config["created"].endswith("Z")
    assert session.calls["ListRoles"] == 2
    assert session.calls["GetRole"] == 0
    # AND last use, which ListRoles does not return, is unknown rather than "never"
    assert role.config["last_used"] is None
    assert role.unknown("last_used") == iam.NOT_LISTED


def test_role_last_used_is_read_when_listed(sessions: AccountSessions) -> None:
    # GIVEN a ListRoles answer that carries RoleLastUsed
    member = sessions.for_account(ACCOUNT_A)
    member.client("iam").create_role(
        RoleName="busy", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )

    def with_last_used(parsed: dict[str, Any], **_: Any) -> None:
        for role in parsed["Roles"]:
            role["RoleLastUsed"] = {"LastUsedDate": datetime(2025, 1, 2, tzinfo=UTC)}

    session = HookedSession(member, {"after-call.iam.ListRoles": with_last_used})
    # WHEN collected / THEN it is used, as an ISO string, and nothing is unknown
    (role,) = collect(session)["iam.role"]
    assert role.config["last_used"] == "2025-01-02T00:00:00Z"
    assert "unknown" not in role.config


def test_list_users_failure_propagates(sessions: AccountSessions) -> None:
    # GIVEN a role that may not list users
    member = sessions.for_account(ACCOUNT_A)
    member.client("iam").create_user(UserName="hidden")
    session = HookedSession(member, {"before-call.iam.ListUsers": deny("ListUsers")})
    # WHEN collected / THEN the listing error is raised (the engine must not sweep the scope)
    with pytest.raises(ClientError) as caught:
        collect(session)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_list_policies_failure_propagates(sessions: AccountSessions) -> None:
    # GIVEN a role that may list users but not policies
    session = HookedSession(
        sessions.for_account(ACCOUNT_B), {"before-call.iam.ListPolicies": deny("ListPolicies")}
    )
    # WHEN collected / THEN the listing error is raised
    with pytest.raises(ClientError):
        collect(session)
    assert session.calls["ListUsers"] == 1


# ---- policy documents --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [ADMIN_DOCUMENT, json.dumps(ADMIN_DOCUMENT), quote(json.dumps(ADMIN_DOCUMENT))],
    ids=["dict", "json", "url-encoded-json"],
)
def test_documents_parse_from_every_form(raw: object) -> None:
    # GIVEN a document as boto3 decodes it, as S3 returns it, or URL-encoded as IAM sends it
    # WHEN parsed / THEN it is the same dict
    assert iam.parse_policy_document(raw) == ADMIN_DOCUMENT


def test_unparseable_document_is_unknown() -> None:
    # GIVEN a document that is not JSON
    config: dict[str, Any] = {}
    # WHEN stored
    iam.store_document(config, "document", "{not json")
    # THEN it is unknown, not "no document"
    assert config == {"document": None, "unknown": {"document": iam.UNPARSEABLE_DOCUMENT}}


def test_small_documents_are_kept_whole() -> None:
    # GIVEN a document under the limit, with Sids / WHEN stored / THEN it is kept as is
    document = {
        "Version": "2012-10-17",
        "Statement": {"Sid": "One", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    }
    config: dict[str, Any] = {}
    iam.store_document(config, "document", document)
    assert config == {"document": document}


def test_oversized_document_drops_statements_until_it_fits() -> None:
    # GIVEN a document that stays over the limit even with only the deciding keys kept: many
    # long-resource statements and, last, a short admin statement
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::bucket-{i}-{j}/*" for j in range(10)],
        }
        for i in range(40)
    ]
    statements.append({"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"})
    document = {"Version": "2012-10-17", "Statement": statements}
    config: dict[str, Any] = {}

    # WHEN stored
    iam.store_document(config, "document", document)

    # THEN it fits, is marked truncated with the number of statements dropped, and the short
    # admin statement survived
    stored = config["document"]
    assert iam.document_size(stored) <= iam.MAX_DOCUMENT_BYTES
    assert config["document_truncated"] is True
    assert config["document_statements_dropped"] > 0
    assert len(stored["Statement"]) + config["document_statements_dropped"] == 41
    assert stored["Statement"][-1] == {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert stored["Version"] == "2012-10-17"


def test_trust_policies_are_stored_without_external_ids(sessions: AccountSessions) -> None:
    # GIVEN qrie's own member role deployed in a member account (its trust requires the
    # ExternalId), and a role whose trust names ExternalIds under other operators and spellings
    deploy_member_role(ACCOUNT_A, "QrieAudit", "qrie-secret-external-id", HUB_ACCOUNT)
    member = sessions.for_account(ACCOUNT_A)
    other = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringLike": {"STS:EXTERNALID": ["vendor-id-1", "vendor-id-2"]},
                    "ForAnyValue:StringEquals": {"sts:externalid": "vendor-id-3"},
                    "StringEquals": {"aws:PrincipalAccount": "999999999999"},
                },
            }
        ],
    }
    member.client("iam").create_role(RoleName="vendor", AssumeRolePolicyDocument=json.dumps(other))

    # WHEN the account's IAM is inventoried
    found = collect(HookedSession(member))
    roles = by_name(found["iam.role"])

    # THEN no ExternalId is stored anywhere; each reads "<redacted>" where it was
    stored = json.dumps([r.config for rs in found.values() for r in rs])
    for secret in ("qrie-secret-external-id", "vendor-id-1", "vendor-id-2", "vendor-id-3"):
        assert secret not in stored
    (qrie,) = roles["QrieAudit"].config["trust_policy"]["Statement"]
    assert qrie["Condition"]["StringEquals"] == {"sts:ExternalId": "<redacted>"}
    # AND everything else of the trust is kept as it is: the worker's ARN, other conditions
    assert qrie["Condition"]["ArnLike"]["aws:PrincipalArn"].endswith("/inventory-worker/*")
    (vendor,) = roles["vendor"].config["trust_policy"]["Statement"]
    assert vendor["Condition"] == {
        "StringLike": {"STS:EXTERNALID": ["<redacted>", "<redacted>"]},
        "ForAnyValue:StringEquals": {"sts:externalid": "<redacted>"},
        "StringEquals": {"aws:PrincipalAccount": "999999999999"},
    }
