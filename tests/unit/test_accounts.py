"""Account registry: manual registration, validation, and the AWS Organizations sync."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from qrie.accounts import registry
from qrie.accounts.registry import ACTIVE, SUSPENDED
from qrie.aws import Clients
from qrie.config import Settings
from qrie.domain import SkippedAccount
from qrie.errors import ValidationError
from qrie.jobs.service import JobService
from qrie.queue import TaskQueue
from qrie.store.table import Store
from tests.support import REGION, Stack


@pytest.fixture
def store(stack: Stack) -> Store:
    return Store(stack.table)


def organization(count: int) -> tuple[Any, list[str]]:
    """An organization (moto) with ``count`` member accounts; returns (client, member ids)."""
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(count):
        status = org.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")
        ids.append(status["CreateAccountStatus"]["AccountId"])
    return org, ids


def count_calls(client: Any, operation: str) -> list[int]:
    calls: list[int] = []
    client.meta.events.register(
        f"before-call.organizations.{operation}", lambda **_kw: calls.append(1)
    )
    return calls


# ---------------------------------------------------------------------------- manual registry
def test_add_list_and_remove_an_account(store: Store) -> None:
    # GIVEN an empty registry
    # WHEN an account is added with a name and tags, then updated with another tag
    registry.add_account(store, "111122223333", "prod", {"team": "sec"})
    registry.add_account(store, "111122223333", None, {"env": "prod"})
    registry.add_account(store, "444455556666")

    # THEN it is ACTIVE, keeps its name and has both tags
    accounts = {a.account_id: a for a in registry.list_accounts(store)}
    assert list(accounts) == ["111122223333", "444455556666"]
    prod = accounts["111122223333"]
    assert prod.status == ACTIVE
    assert prod.name == "prod"
    assert prod.tags == {"team": "sec", "env": "prod"}
    assert prod.source == "manual"

    # WHEN it is removed (twice)
    # THEN the first removal succeeds and the second says it was not registered
    assert registry.remove_account(store, "111122223333") is True
    assert registry.remove_account(store, "111122223333") is False
    assert [a.account_id for a in registry.list_accounts(store)] == ["444455556666"]


@pytest.mark.parametrize("bad", ["123", "12345678901a", "1234567890123", "", "arn:aws:iam::1"])
def test_an_invalid_account_id_is_refused_with_a_clear_error(store: Store, bad: str) -> None:
    # GIVEN an id that is not 12 digits
    # WHEN it is registered or removed
    # THEN a ValidationError names the rule and the value, and nothing is written
    with pytest.raises(ValidationError, match="12 digits") as info:
        registry.add_account(store, bad, "x")
    assert repr(bad) in info.value.message
    assert info.value.field == "account_id"
    with pytest.raises(ValidationError, match="12 digits"):
        registry.remove_account(store, bad)
    assert registry.list_accounts(store) == []


def test_parse_tags_and_account_lists() -> None:
    # GIVEN key=value pairs and comma-separated ids
    # WHEN they are parsed
    # THEN good input parses, bad input names what is wrong
    assert registry.parse_tags(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ValidationError, match="key=value"):
        registry.parse_tags(["novalue"])
    with pytest.raises(ValidationError, match="key=value"):
        registry.parse_tags(["=v"])
    assert registry.parse_account_list("111122223333, 444455556666,111122223333") == [
        "111122223333",
        "444455556666",
    ]
    with pytest.raises(ValidationError, match="12 digits: '123'"):
        registry.parse_account_list("111122223333,123")


# ---------------------------------------------------------------------------- Organizations
def test_org_status_mapping_on_a_list_accounts_page() -> None:
    # GIVEN a ListAccounts page with every account state Organizations knows
    page = {
        "Accounts": [
            {"Id": "100000000001", "Name": "a", "Status": "ACTIVE", "State": "ACTIVE"},
            {"Id": "100000000002", "Name": "s", "Status": "SUSPENDED"},
            {"Id": "100000000003", "Name": "p", "Status": "PENDING_CLOSURE"},
            {"Id": "100000000004", "Name": "c", "Status": "SUSPENDED", "State": "CLOSED"},
            {"Id": "100000000005", "Name": "n", "State": "PENDING_ACTIVATION"},
            {"Id": "not-an-id", "Name": "junk", "Status": "ACTIVE"},
        ]
    }
    # WHEN it is mapped
    mapped = {a.account_id: (a.status, a.org_status) for a in registry.org_accounts(page)}
    # THEN ACTIVE stays ACTIVE, every other state is SUSPENDED (State wins over Status), and
    # an id that is not 12 digits is never registered
    assert mapped == {
        "100000000001": (ACTIVE, "ACTIVE"),
        "100000000002": (SUSPENDED, "SUSPENDED"),
        "100000000003": (SUSPENDED, "PENDING_CLOSURE"),
        "100000000004": (SUSPENDED, "CLOSED"),
        "100000000005": (SUSPENDED, "PENDING_ACTIVATION"),
    }


def test_sync_from_organizations_paginates_and_marks_suspended(store: Store) -> None:
    # GIVEN an organization with 5 members, one of them closed (moto: SUSPENDED), and a
    # registry holding one of them under a chosen name plus an account outside the org
    org, members = organization(5)
    org.close_account(AccountId=members[2])
    registry.add_account(store, members[0], "my name for it")
    registry.add_account(store, "999988887777", "outside")
    list_calls = count_calls(org, "ListAccounts")

    # WHEN the registry is synced with pages of 2 accounts
    report = registry.sync_from_organizations(store, org, page_size=2)

    # THEN every page was read (management account + 5 members = 6 accounts, 3 pages)
    assert len(list_calls) == 3
    assert report.seen == 6
    accounts = {a.account_id: a for a in registry.list_accounts(store)}
    # the closed account is SUSPENDED, the others ACTIVE, with their Organizations names
    assert accounts[members[2]].status == SUSPENDED
    assert report.suspended == [members[2]]
    assert report.org_statuses == {members[2]: "SUSPENDED"}
    assert all(accounts[m].status == ACTIVE for m in members if m != members[2])
    assert accounts[members[1]].name == "member-1"
    assert accounts[members[1]].source == "organizations"
    # a name chosen earlier is kept
    assert accounts[members[0]].name == "my name for it"
    assert members[0] in report.updated  # it gained its organization state
    assert len(report.added) == 5
    # the account outside the organization is reported, not deleted
    assert report.not_in_org == ["999988887777"]
    assert accounts["999988887777"].status == ACTIVE

    # WHEN the sync runs again with nothing changed
    again = registry.sync_from_organizations(store, org)
    # THEN nothing is added or updated
    assert again.added == []
    assert again.updated == []
    assert len(again.unchanged) == 6


def test_sync_dry_run_writes_nothing(store: Store) -> None:
    # GIVEN an organization with 2 members
    org, _ = organization(2)
    # WHEN a dry run syncs
    report = registry.sync_from_organizations(store, org, dry_run=True)
    # THEN it reports 3 additions and writes none
    assert len(report.added) == 3
    assert registry.list_accounts(store) == []


def test_a_suspended_account_is_skipped_by_jobs_over_all_accounts(store: Store) -> None:
    # GIVEN a synced organization with one closed member
    org, members = organization(3)
    org.close_account(AccountId=members[0])
    registry.sync_from_organizations(store, org)
    service = JobService(Settings.from_env(), store, TaskQueue(Clients()))

    # WHEN the job service resolves "*"
    run, skipped = service.resolve_accounts("*")
    # THEN the suspended account is skipped with a reason, the others run
    assert members[0] not in run
    assert skipped == [SkippedAccount(members[0], "account is SUSPENDED")]
    assert set(members[1:]) <= set(run)
