"""The IAM collector against moto (with the local AWS's patches: an IAM-like credential report,
paged authorization details, IAM Access Analyzer), through assumed member-account roles as the
engine runs it; and the policy-document helpers it shares with the S3 collector."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from qrie.aws import AccountSessions
from qrie.domain import GLOBAL, Resource
from qrie.errors import TransientTaskError
from qrie.inventory import _credential_report as report
from qrie.inventory import iam
from qrie.inventory.registry import get_collector
from qrie_local.certificates import pem_certificate
from qrie_local.members import deploy_member_role
from tests.support import HUB_ACCOUNT
from tests.unit.collectors_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    HookedSession,
    deny,
)

REGIONS = ["us-east-1", "eu-west-1"]
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
class Sleeps(list[float]):
    """Records the collector's waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast(**kwargs: Any) -> iam.IamCollector:
    """The collector, its report polls recorded rather than slept."""
    return iam.IamCollector(sleep=kwargs.pop("sleep", Sleeps()), **kwargs)


def collect(session: Any, collector: iam.IamCollector | None = None) -> dict[str, list[Resource]]:
    """Every scope, as the engine runs them: ``scopes``, then ``collect`` per scope."""
    collector = collector or fast()
    grouped: dict[str, list[Resource]] = {}
    for scope in collector.scopes(session, REGIONS):
        for resource in collector.collect(session, scope):
            grouped.setdefault(resource.type, []).append(resource)
    return grouped


def by_name(resources: list[Resource]) -> dict[str, Resource]:
    return {r.name: r for r in resources}


def rewrite_report(change: Callable[[list[dict[str, str]]], None]) -> dict[str, Callable[..., Any]]:
    """A hook that edits the credential report's rows (dicts by column) as IAM would have
    written them, before the collector parses it."""

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        text = parsed["Content"].decode()
        columns = text.splitlines()[0].split(",")
        rows = list(csv.DictReader(io.StringIO(text)))
        change(rows)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        parsed["Content"] = out.getvalue().encode()

    return {"after-call.iam.GetCredentialReport": rewrite}


def row_of(name: str, **cells: str) -> Callable[[list[dict[str, str]]], None]:
    def change(rows: list[dict[str, str]]) -> None:
        for row in rows:
            if row["user"] == name:
                row.update(cells)

    return change


def answer(operation: str, parsed: dict[str, Any]) -> Callable[..., Any]:
    """A before-call hook that answers ``operation`` with ``parsed`` (an AWS answer moto cannot
    give), without calling the local AWS."""

    def handler(**_: Any) -> Any:
        response: Any = {"ResponseMetadata": {"HTTPStatusCode": 200}}
        return (type("Http", (), {"status_code": 200, "headers": {}})(), {**response, **parsed})

    return handler


# ---- scopes and accounts ------------------------------------------------------------------------
def test_registry_and_scopes(sessions: AccountSessions) -> None:
    # GIVEN the registered iam collector and a member account
    collector = get_collector("iam")
    member = sessions.for_account(ACCOUNT_A)
    # WHEN asked for its scopes over two regions
    scopes = collector.scopes(member, REGIONS)
    # THEN it is this module's collector: IAM is global, and Access Analyzer is per region
    assert collector is iam.COLLECTOR
    assert collector.service == "iam"
    assert scopes == [GLOBAL, *REGIONS]


def test_disabled_regions_get_no_access_analyzer_scope(sessions: AccountSessions) -> None:
    # GIVEN a region the account has not opted in to (DescribeRegions says "not-opted-in")
    member = sessions.for_account(ACCOUNT_B)

    def not_opted_in(parsed: dict[str, Any], **_: Any) -> None:
        for region in parsed["Regions"]:
            if region["RegionName"] == "eu-west-1":
                region["OptInStatus"] = "not-opted-in"

    session = HookedSession(member, {"after-call.ec2.DescribeRegions": not_opted_in})
    # WHEN asked for scopes / THEN only the enabled region is one (CIS: "every active region")
    assert iam.COLLECTOR.scopes(session, REGIONS) == [GLOBAL, "us-east-1"]


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
        # AND one account, one password policy and one analyzer listing per region
        assert [r.arn for r in found["iam.account"]] == [f"arn:aws:iam::{account}:root"]
        assert [r.arn for r in found["iam.password-policy"]] == [
            f"arn:aws:iam::{account}:password-policy"
        ]
        analyzers = found["iam.access-analyzers"]
        assert [(r.scope, r.arn) for r in analyzers] == [
            (region, f"arn:aws:access-analyzer:{region}:{account}:analyzers") for region in REGIONS
        ]
        every = [r for rs in found.values() for r in rs]
        assert {r.account_id for r in every} == {account}
        assert {r.scope for r in every if r.type != "iam.access-analyzers"} == {GLOBAL}
        json.dumps([r.config for r in every])


# ---- users: the credential report and the authorization details --------------------------------
def test_user_credentials_come_from_the_credential_report(sessions: AccountSessions) -> None:
    # GIVEN a console user with an MFA device and two access keys (the second deactivated), in a
    # group and with an attached and an inline policy; and a bare user
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
    client.create_access_key(UserName="console-user")
    second = client.create_access_key(UserName="console-user")["AccessKey"]["AccessKeyId"]
    client.update_access_key(UserName="console-user", AccessKeyId=second, Status="Inactive")
    client.create_group(GroupName="ops")
    client.add_user_to_group(GroupName="ops", UserName="console-user")
    arn = client.create_policy(PolicyName="read", PolicyDocument=json.dumps(READ_DOCUMENT))[
        "Policy"
    ]["Arn"]
    client.attach_user_policy(UserName="console-user", PolicyArn=arn)
    client.put_user_policy(
        UserName="console-user", PolicyName="own", PolicyDocument=json.dumps(READ_DOCUMENT)
    )
    client.create_user(UserName="bare-user")
    session = HookedSession(member)

    # WHEN collected
    users = by_name(collect(session)["iam.user"])

    # THEN the console user's password, MFA and both keys are the report's, keys by slot
    console = users["console-user"].config
    assert users["console-user"].arn == f"arn:aws:iam::{ACCOUNT_A}:user/console-user"
    assert console["console_access"] is True
    assert console["mfa_active"] is True
    assert console["password_last_used"] is None  # no_information: never used
    assert console["password_last_changed"].endswith("Z")
    assert [(k["slot"], k["status"], k["last_used"]) for k in console["access_keys"]] == [
        (1, "Active", None),
        (2, "Inactive", None),
    ]
    assert all(k["last_rotated"].endswith("Z") for k in console["access_keys"])
    assert console["credentials_as_of"].endswith("Z")
    # AND its group and its own policies come from the authorization details
    assert console["groups"] == ["ops"]
    assert console["attached_policies"] == [arn]
    assert console["inline_policies"] == ["own"]
    assert "unknown" not in console
    # AND a user without a password or keys has them as data, not unknown
    bare = users["bare-user"].config
    assert (bare["console_access"], bare["mfa_active"], bare["access_keys"]) == (False, False, [])
    assert (bare["password_last_used"], bare["password_last_changed"]) == (None, None)
    assert (bare["groups"], bare["attached_policies"], bare["inline_policies"]) == ([], [], [])
    assert "unknown" not in bare
    # AND no call was made per user
    per_user = {"GetLoginProfile", "ListMFADevices", "ListAccessKeys", "GetAccessKeyLastUsed"}
    assert per_user.isdisjoint(session.calls)


def test_report_dates_and_markers_are_normalized(sessions: AccountSessions) -> None:
    # GIVEN report rows as IAM writes them for used credentials (dates with offsets) and for a
    # password never used (no_information)
    member = sessions.for_account(ACCOUNT_B)
    client = member.client("iam")
    for name in ("used", "never"):
        client.create_user(UserName=name)
        client.create_login_profile(UserName=name, Password="a-Long-password-1")
        client.create_access_key(UserName=name)
    used_row = row_of(
        "used",
        password_last_used="2025-05-01T12:30:00+00:00",
        access_key_1_last_used_date="2025-05-02T08:00:00+00:00",
        access_key_1_last_used_region="eu-west-1",
        access_key_1_last_used_service="s3",
    )
    never = row_of("never", password_last_used="no_information")

    def both(rows: list[dict[str, str]]) -> None:
        used_row(rows)
        never(rows)

    hooks = rewrite_report(both)
    # WHEN collected
    users = by_name(collect(HookedSession(member, hooks))["iam.user"])
    # THEN dates are ISO 8601 UTC strings and never-used reads None
    used = users["used"].config
    assert used["password_last_used"] == "2025-05-01T12:30:00Z"
    assert used["access_keys"][0]["last_used"] == "2025-05-02T08:00:00Z"
    assert users["never"].config["password_last_used"] is None


def test_a_user_created_after_the_report_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a report generated before a user was created (IAM keeps a report four hours)
    member = sessions.for_account(ACCOUNT_C)
    client = member.client("iam")
    client.create_user(UserName="old")
    client.create_user(UserName="new")
    hooks = rewrite_report(lambda rows: rows.remove(next(r for r in rows if r["user"] == "new")))
    # WHEN collected
    users = by_name(collect(HookedSession(member, hooks))["iam.user"])
    # THEN the new user is still inventoried, its credentials unknown rather than "none"
    new = users["new"]
    for attribute in report.USER_FIELDS:
        assert new.config[attribute] is None
        assert new.unknown(attribute) == report.NOT_IN_REPORT
    assert new.config["groups"] == []  # what the authorization details say is kept
    assert "unknown" not in users["old"].config


def test_a_malformed_row_makes_only_that_user_unknown(sessions: AccountSessions) -> None:
    # GIVEN a report whose row for one user holds a value that is neither flag nor date
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("iam")
    client.create_user(UserName="odd")
    client.create_user(UserName="fine")
    hooks = rewrite_report(row_of("odd", mfa_active="maybe"))
    # WHEN collected
    users = by_name(collect(HookedSession(member, hooks))["iam.user"])
    # THEN that user's credentials are unknown (MalformedCredentialReport), the other's are read
    assert users["odd"].unknown("mfa_active") == report.MALFORMED
    assert users["odd"].unknown("access_keys") == report.MALFORMED
    assert users["fine"].config["mfa_active"] is False


def test_a_denied_report_makes_every_credential_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not generate the credential report
    member = sessions.for_account(ACCOUNT_B)
    member.client("iam").create_user(UserName="someone")
    session = HookedSession(
        member, {"before-call.iam.GenerateCredentialReport": deny("GenerateCredentialReport")}
    )
    # WHEN collected
    found = collect(session)
    # THEN users are still inventoried with their credentials unknown, never "no password"
    (user,) = found["iam.user"]
    assert user.config["console_access"] is None
    assert user.unknown("console_access") == "AccessDenied"
    assert user.unknown("access_keys") == "AccessDenied"
    # AND the root user's last uses are unknown too
    (account,) = found["iam.account"]
    for attribute in report.ROOT_FIELDS:
        assert account.unknown(attribute) == "AccessDenied"


def test_the_report_is_polled_with_backoff_until_complete(sessions: AccountSessions) -> None:
    # GIVEN IAM answering "STARTED", then "INPROGRESS" twice, then "COMPLETE"
    member = sessions.for_account(ACCOUNT_C)
    member.client("iam").create_user(UserName="someone")
    states = iter(["STARTED", "INPROGRESS", "INPROGRESS"])

    def state(parsed: dict[str, Any], **_: Any) -> None:
        parsed["State"] = next(states, "COMPLETE")

    session = HookedSession(member, {"after-call.iam.GenerateCredentialReport": state})
    sleeps = Sleeps()
    # WHEN collected
    (user,) = collect(session, fast(sleep=sleeps))["iam.user"]
    # THEN it asked four times, waiting longer each time, then read the report once
    assert session.calls["GenerateCredentialReport"] == 4
    assert session.calls["GetCredentialReport"] == 1
    assert sleeps == [0.1, 0.2, 0.4]
    assert user.config["console_access"] is False


def test_an_expired_report_is_generated_again(sessions: AccountSessions) -> None:
    # GIVEN a report that expires between COMPLETE and its download, once
    member = sessions.for_account(ACCOUNT_A)
    expired = iter([True])

    def expire(**_: Any) -> None:
        if next(expired, False):
            deny("GetCredentialReport", "ReportExpired")()

    session = HookedSession(member, {"before-call.iam.GetCredentialReport": expire})
    # WHEN collected / THEN it generated again and read the next one
    (account,) = collect(session)["iam.account"]
    assert session.calls["GetCredentialReport"] == 2
    assert "root_password_last_used" in account.config
    assert account.unknown("root_password_last_used") is None


def test_a_report_never_ready_fails_the_scope_as_transient(sessions: AccountSessions) -> None:
    # GIVEN IAM still generating the report after the collector's wait
    member = sessions.for_account(ACCOUNT_B)

    def still(parsed: dict[str, Any], **_: Any) -> None:
        parsed["State"] = "INPROGRESS"

    session = HookedSession(member, {"after-call.iam.GenerateCredentialReport": still})
    collector = fast(report_wait=1.0)
    # WHEN the global scope is collected / THEN it fails as transient (the task is retried)
    with pytest.raises(TransientTaskError, match="credential report not ready"):
        list(collector.collect(session, GLOBAL))
    assert session.calls["GetCredentialReport"] == 0


def test_throttling_of_the_report_is_raised_not_recorded(sessions: AccountSessions) -> None:
    # GIVEN GenerateCredentialReport throttled beyond botocore's retries
    session = HookedSession(
        sessions.for_account(ACCOUNT_C),
        {"before-call.iam.GenerateCredentialReport": deny("Generate", "Throttling")},
    )
    # WHEN collected / THEN the error propagates (transient for the engine), nothing is unknown
    with pytest.raises(ClientError) as caught:
        list(fast().collect(session, GLOBAL))
    assert caught.value.response["Error"]["Code"] == "Throttling"


def test_user_calls_do_not_grow_with_users(sessions: AccountSessions) -> None:
    # GIVEN an account of 2 users and one of 25, half of each with a key and a console
    # password, listed 10 per page
    calls = {}
    for account, count in ((ACCOUNT_B, 2), (ACCOUNT_C, 25)):
        member = sessions.for_account(account)
        client = member.client("iam")
        users = [f"user-{i:02d}" for i in range(count)]
        for index, user in enumerate(users):
            client.create_user(UserName=user)
            if index % 2:
                client.create_access_key(UserName=user)
                client.create_login_profile(UserName=user, Password="a-Long-password-1")
        sent: list[int | None] = []

        def page_size(params: dict[str, Any], sent: list[int | None] = sent, **_: Any) -> None:
            sent.append(params.get("MaxItems"))

        session = HookedSession(
            member, {"before-parameter-build.iam.GetAccountAuthorizationDetails": page_size}
        )
        # WHEN each is collected
        found = collect(session, fast(page_size=10))
        # THEN every user is collected, from pages of at most 10
        assert sorted(r.name for r in found["iam.user"]) == users
        assert set(sent) == {10}
        calls[count] = session.calls

    # AND 23 more users cost two more pages of users, nothing per user
    assert calls[25]["GetAccountAuthorizationDetails"] == 3 + 1  # + one page of policies
    assert calls[25]["GetCredentialReport"] == calls[2]["GetCredentialReport"] == 1
    assert sum(calls[25].values()) - sum(calls[2].values()) == 2


# ---- the account ---------------------------------------------------------------------------------
def test_account_summary_and_root_row(sessions: AccountSessions) -> None:
    # GIVEN an account without root MFA nor root keys, whose root user keeps its password
    member = sessions.for_account(ACCOUNT_C)
    # WHEN collected
    (account,) = collect(member)["iam.account"]
    # THEN the summary's flags are booleans and the root row says "never used"
    assert account.name == "root"
    config = account.config
    assert (config["root_mfa_enabled"], config["root_access_keys_present"]) == (False, False)
    assert config["root_password_present"] is True
    assert config["root_password_last_used"] is None
    assert config["root_access_key_1_last_used"] is None
    assert config["root_virtual_mfa"] is False
    assert "unknown" not in config

    # AND GIVEN a summary with root MFA, a root key, no root password, and a root row with uses
    def root_set(parsed: dict[str, Any], **_: Any) -> None:
        parsed["SummaryMap"].update(
            AccountMFAEnabled=1, AccountAccessKeysPresent=1, AccountPasswordPresent=0
        )

    hooks = {
        "after-call.iam.GetAccountSummary": root_set,
        **rewrite_report(
            row_of(
                "<root_account>",
                password_last_used="2025-05-01T00:00:00+00:00",
                access_key_2_last_used_date="2025-05-03T00:00:00+00:00",
            )
        ),
    }
    # WHEN collected / THEN they are read
    (account,) = collect(HookedSession(member, hooks))["iam.account"]
    config = account.config
    assert (config["root_mfa_enabled"], config["root_access_keys_present"]) == (True, True)
    assert config["root_password_present"] is False
    assert config["root_password_last_used"] == "2025-05-01T00:00:00Z"
    assert config["root_access_key_1_last_used"] is None
    assert config["root_access_key_2_last_used"] == "2025-05-03T00:00:00Z"


def test_summary_without_password_key_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a summary that does not name AccountPasswordPresent
    def drop(parsed: dict[str, Any], **_: Any) -> None:
        parsed["SummaryMap"].pop("AccountPasswordPresent", None)

    session = HookedSession(
        sessions.for_account(ACCOUNT_A), {"after-call.iam.GetAccountSummary": drop}
    )
    # WHEN collected / THEN root_password_present is unknown, not "no password"
    (account,) = collect(session)["iam.account"]
    assert account.config["root_password_present"] is None
    assert account.unknown("root_password_present") == iam.NOT_RETURNED


def test_denied_account_summary_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call GetAccountSummary
    session = HookedSession(
        sessions.for_account(ACCOUNT_A),
        {"before-call.iam.GetAccountSummary": deny("GetAccountSummary")},
    )
    # WHEN collected
    (account,) = collect(session)["iam.account"]
    # THEN every summary attribute is unknown (a policy reports unknown, never a pass)
    for attribute in ("root_mfa_enabled", "root_access_keys_present", "root_password_present"):
        assert account.config[attribute] is None
        assert account.unknown(attribute) == "AccessDenied"


@pytest.mark.parametrize(
    ("device", "virtual"),
    [
        ({"SerialNumber": "arn:aws:iam::{account}:mfa/root-account-mfa-device"}, True),
        (
            {
                "SerialNumber": "arn:aws:iam::{account}:mfa/my-phone",
                "User": {"Arn": "arn:aws:iam::{account}:root"},
            },
            True,
        ),
        (
            {
                "SerialNumber": "arn:aws:iam::{account}:mfa/alice",
                "User": {"Arn": "arn:aws:iam::{account}:user/alice"},
            },
            False,
        ),
    ],
    ids=["console-root-serial", "named-device-of-root", "a-users-device"],
)
def test_root_virtual_mfa_device(
    sessions: AccountSessions, device: dict[str, Any], virtual: bool
) -> None:
    # GIVEN an assigned virtual MFA device (moto cannot assign one to the root user)
    member = sessions.for_account(ACCOUNT_B)
    listed = json.loads(json.dumps(device).replace("{account}", ACCOUNT_B))
    session = HookedSession(
        member,
        {
            "before-call.iam.ListVirtualMFADevices": answer(
                "ListVirtualMFADevices", {"VirtualMFADevices": [listed], "IsTruncated": False}
            )
        },
    )
    # WHEN collected / THEN root_virtual_mfa says whether it is the root user's
    (account,) = collect(session)["iam.account"]
    assert account.config["root_virtual_mfa"] is virtual


def test_support_role_attachments(
    sessions: AccountSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an account with AWS-managed policies (as every AWS account), AWSSupportAccess
    # attached to a role and a user
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    member = sessions.for_account(ACCOUNT_C)
    client = member.client("iam")
    support = "arn:aws:iam::aws:policy/AWSSupportAccess"
    client.create_role(RoleName="support", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    client.attach_role_policy(RoleName="support", PolicyArn=support)
    client.create_user(UserName="helpdesk")
    client.attach_user_policy(UserName="helpdesk", PolicyArn=support)
    # WHEN collected
    found = collect(member)
    # THEN the account names who holds it
    (account,) = found["iam.account"]
    assert account.config["support_policy_roles"] == ["support"]
    assert account.config["support_policy_users"] == ["helpdesk"]
    assert account.config["support_policy_groups"] == []
    # AND the AWS-managed policy in use is inventoried with its document, under AWS's ARN
    policies = by_name(found["iam.policy"])
    assert policies["AWSSupportAccess"].arn == support
    assert policies["AWSSupportAccess"].config["aws_managed"] is True
    assert policies["AWSSupportAccess"].config["attachment_count"] == 2
    assert policies["AWSSupportAccess"].config["document"]["Statement"]


def test_support_policy_absent_or_denied(sessions: AccountSessions) -> None:
    # GIVEN the local AWS without AWS-managed policies (AWSSupportAccess does not exist)
    member = sessions.for_account(ACCOUNT_A)
    # WHEN collected / THEN nothing can be attached to it: no roles, users or groups
    (account,) = collect(member)["iam.account"]
    assert account.config["support_policy_roles"] == []
    # AND GIVEN a role that may not list the policy's entities / THEN they are unknown
    session = HookedSession(
        member, {"before-call.iam.ListEntitiesForPolicy": deny("ListEntitiesForPolicy")}
    )
    (account,) = collect(session)["iam.account"]
    assert account.unknown("support_policy_roles") == "AccessDenied"
    assert account.config["support_policy_users"] is None


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


# ---- managed policies, roles, certificates, analyzers ------------------------------------------
def test_customer_policies_default_version_documents(sessions: AccountSessions) -> None:
    # GIVEN a customer policy whose default version became admin, and one under a path
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
    session = HookedSession(member)

    # WHEN collected
    policies = by_name(collect(session)["iam.policy"])

    # THEN customer policies come with their default version's document, in one call
    assert set(policies) == {"drifted", "scoped"}
    drifted = policies["drifted"]
    assert drifted.arn == arn
    assert drifted.config == {
        "policy_name": "drifted",
        "default_version": "v2",
        "attachment_count": 1,
        "aws_managed": False,
        "document": ADMIN_DOCUMENT,
    }
    assert policies["scoped"].arn == f"arn:aws:iam::{ACCOUNT_B}:policy/team/scoped"
    assert policies["scoped"].config["document"] == READ_DOCUMENT
    assert session.calls["GetPolicyVersion"] == 0


def test_roles_keep_trust_policy_without_get_role(sessions: AccountSessions) -> None:
    # GIVEN 7 roles, listed 5 per page
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("iam")
    names = [f"role-{i}" for i in range(7)]
    for name in names:
        client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    session = HookedSession(member)

    # WHEN collected
    roles = by_name(collect(session, fast(page_size=5))["iam.role"])

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


def test_server_certificates(sessions: AccountSessions) -> None:
    # GIVEN two certificates stored in IAM, one expired in 2020
    member = sessions.for_account(ACCOUNT_B)
    client = member.client("iam")
    for name, until in (
        ("old", datetime(2020, 3, 1, tzinfo=UTC)),
        ("new", datetime(2031, 1, 1, tzinfo=UTC)),
    ):
        client.upload_server_certificate(
            ServerCertificateName=name,
            CertificateBody=pem_certificate(until),
            PrivateKey="-",
            Path="/web/",
        )
    # WHEN collected
    certificates = by_name(collect(member)["iam.server-certificate"])
    # THEN each is a resource with its own expiration
    old = certificates["old"]
    assert old.arn == f"arn:aws:iam::{ACCOUNT_B}:server-certificate/web/old"
    assert old.config["expiration"] == "2020-03-01T00:00:00Z"
    assert certificates["new"].config["expiration"] == "2031-01-01T00:00:00Z"
    assert old.config["path"] == "/web/"


def test_access_analyzers_per_region(sessions: AccountSessions) -> None:
    # GIVEN an account-level analyzer in one region and an unused-access one in the other
    member = sessions.for_account(ACCOUNT_C)
    member.client("accessanalyzer", "us-east-1").create_analyzer(
        analyzerName="external", type="ACCOUNT"
    )
    member.client("accessanalyzer", "eu-west-1").create_analyzer(
        analyzerName="unused", type="ACCOUNT_UNUSED_ACCESS"
    )
    # WHEN collected
    found = {r.scope: r for r in collect(member)["iam.access-analyzers"]}
    # THEN each region lists its own analyzers
    assert found["us-east-1"].config["analyzers"] == [
        {"name": "external", "type": "ACCOUNT", "status": "ACTIVE"}
    ]
    assert found["eu-west-1"].config["analyzers"] == [
        {"name": "unused", "type": "ACCOUNT_UNUSED_ACCESS", "status": "ACTIVE"}
    ]
    assert found["eu-west-1"].config["region"] == "eu-west-1"


def test_denied_access_analyzer_is_unknown_not_a_failed_scope(sessions: AccountSessions) -> None:
    # GIVEN a role without access-analyzer:ListAnalyzers
    session = HookedSession(
        sessions.for_account(ACCOUNT_A),
        {
            "before-call.accessanalyzer.ListAnalyzers": deny(
                "ListAnalyzers", "AccessDeniedException"
            )
        },
    )
    # WHEN a region scope is collected / THEN its analyzers are unknown, the scope succeeds
    (listing,) = fast().collect(session, "eu-west-1")
    assert listing.config["analyzers"] is None
    assert listing.unknown("analyzers") == "AccessDeniedException"


@pytest.mark.parametrize(
    "operation",
    ["GetAccountAuthorizationDetails", "ListPolicies", "ListRoles", "ListServerCertificates"],
)
def test_listing_failures_propagate(sessions: AccountSessions, operation: str) -> None:
    # GIVEN a role that may not make one of the listing calls
    member = sessions.for_account(ACCOUNT_A)
    member.client("iam").create_user(UserName="hidden")
    session = HookedSession(member, {f"before-call.iam.{operation}": deny(operation)})
    # WHEN the global scope is collected / THEN the error is raised (the scope is not swept)
    with pytest.raises(ClientError) as caught:
        list(fast().collect(session, GLOBAL))
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


# ---- the report's parser -------------------------------------------------------------------------
HEADER = ",".join(
    [
        "user,arn,user_creation_time,password_enabled,password_last_used",
        "password_last_changed,password_next_rotation,mfa_active",
        "access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date",
        "access_key_1_last_used_region,access_key_1_last_used_service",
        "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date",
        "access_key_2_last_used_region,access_key_2_last_used_service",
        "cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated",
    ]
)
ROOT = (
    "<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,"
    "2025-04-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,"
    "N/A,N/A,N/A,N/A,false,N/A,false,N/A"
)
# IAM's own examples: upper-case flags, a password never used, keys never used and used
ALICE = (
    "alice,arn:aws:iam::111122223333:user/alice,2024-01-01T00:00:00+00:00,TRUE,no_information,"
    "2024-01-01T00:00:05+00:00,N/A,FALSE,TRUE,2024-01-01T00:00:03+00:00,N/A,N/A,N/A,TRUE,"
    "2024-06-01T00:00:00+00:00,2025-05-01T00:00:00+00:00,us-east-1,s3,false,N/A,false,N/A"
)
BOB = (
    "bob,arn:aws:iam::111122223333:user/bob,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,"
    "false,N/A,N/A,N/A,N/A,false,2024-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A"
)


def test_parse_report_values() -> None:
    # GIVEN a report with the root row and two users (markers N/A, no_information,
    # not_supported; flags in either case)
    parsed = report.CredentialReport.parse(
        "\n".join([HEADER, ROOT, ALICE, BOB]).encode(), "2025-06-01T00:00:00Z"
    )
    alice: dict[str, Any] = {}
    bob: dict[str, Any] = {}
    root: dict[str, Any] = {}
    # WHEN users and the root are filled in
    parsed.fill_user(alice, "alice")
    parsed.fill_user(bob, "bob")
    parsed.fill_root(root)
    # THEN each value is data
    assert alice == {
        "credentials_as_of": "2025-06-01T00:00:00Z",
        "console_access": True,
        "password_last_used": None,
        "password_last_changed": "2024-01-01T00:00:05Z",
        "mfa_active": False,
        "access_keys": [
            {
                "slot": 1,
                "status": "Active",
                "last_rotated": "2024-01-01T00:00:03Z",
                "last_used": None,
            },
            {
                "slot": 2,
                "status": "Active",
                "last_rotated": "2024-06-01T00:00:00Z",
                "last_used": "2025-05-01T00:00:00Z",
            },
        ],
    }
    # AND an inactive key the report still dates is kept as Inactive; an undated one is none
    assert bob["console_access"] is False
    assert bob["password_last_changed"] is None
    assert bob["access_keys"] == [
        {"slot": 2, "status": "Inactive", "last_rotated": "2024-02-01T00:00:00Z", "last_used": None}
    ]
    # AND the root row gives the root user's last uses
    assert root["root_password_last_used"] == "2025-04-01T10:00:00Z"
    assert root["root_access_key_1_last_used"] is None
    assert "unknown" not in root


@pytest.mark.parametrize(
    "content",
    [b"not,a,report\n1,2,3\n", b"\xff\xfe", HEADER.replace("mfa_active", "mfa").encode()],
    ids=["other-columns", "not-utf8", "a-column-missing"],
)
def test_a_report_without_the_documented_columns_is_unavailable(content: bytes) -> None:
    # GIVEN report content without the documented columns / WHEN parsed
    parsed = report.CredentialReport.parse(content, None)
    config: dict[str, Any] = {}
    parsed.fill_user(config, "alice")
    # THEN every credential attribute is unknown, MalformedCredentialReport
    assert parsed.unavailable == report.MALFORMED
    assert config["unknown"] == dict.fromkeys(report.USER_FIELDS, report.MALFORMED)


def test_a_short_row_is_left_out() -> None:
    # GIVEN a row cut short (fewer cells than columns) / WHEN parsed
    parsed = report.CredentialReport.parse(f"{HEADER}\n{ALICE}\nbob,arn,2024\n".encode(), None)
    config: dict[str, Any] = {}
    parsed.fill_user(config, "bob")
    # THEN that user is as if absent from the report, the others are read
    assert config["unknown"]["mfa_active"] == report.NOT_IN_REPORT
    assert "alice" in parsed.rows


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
