"""Findings as a team reads them through their life: the state filters across accounts, the
dashboard summary, and which registered policy's open findings a query reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qrie.domain import (
    Account,
    Finding,
    FindingState,
    PolicyTally,
    Resource,
    Severity,
    timestamp,
)
from qrie.domain.findings import REASON_COMPLIANT
from qrie.policies.base import Policy
from qrie.policies.registry import all_policies
from qrie.scan import findings
from qrie.store.table import Store
from tests.unit.test_findings_export import spy
from tests.unit.test_scan_engine import create_table

A1, A2 = "666666666661", "666666666662"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = timestamp(T0)
ENCRYPTED = Policy("s3.encrypted", "s3", frozenset({"s3.bucket"}), "Encrypted", Severity.HIGH)
VERSIONED = Policy("s3.versioned", "s3", frozenset({"s3.bucket"}), "Versioned", Severity.HIGH)
LOGGED = Policy("s3.logged", "s3", frozenset({"s3.bucket"}), "Logged", Severity.LOW)


def finding(account: str, name: str, policy: Policy, resolved: bool = False) -> Finding:
    resource = Resource(f"arn:aws:s3:::{name}", account, "s3", "s3.bucket", "global", {}, name)
    opened = Finding.open(resource, policy.id, policy.severity, policy.title, "no", "job", NOW)
    return opened.resolved(REASON_COMPLIANT, NOW, "job-2") if resolved else opened


@pytest.fixture
def store(mocked_aws: None) -> Store:
    """A1 and A2, each: 3 resolved ENCRYPTED findings (high), 2 resolved LOGGED ones (low) and
    an open VERSIONED one (high)."""
    created = create_table()
    created.put_accounts([Account(A1), Account(A2)])
    records = []
    for account in (A1, A2):
        records += [finding(account, f"enc-{account}-{i}", ENCRYPTED, True) for i in range(3)]
        records += [finding(account, f"log-{account}-{i}", LOGGED, True) for i in range(2)]
        records.append(finding(account, f"ver-{account}", VERSIONED))
    created.put_findings(records)
    return created


def test_resolved_findings_across_accounts_follow_every_filter(store: Store) -> None:
    # WHEN resolved findings are read across the registered accounts, by policy or severity
    def read(policy: str | None = None, severity: str | None = None) -> list[str]:
        found = findings.iter_findings(store, policy=policy, severity=severity, state="resolved")
        return [f.arn for f in found]

    # THEN each filter holds, account after account
    assert read(policy="s3.logged") == [
        f"arn:aws:s3:::log-{a}-{i}" for a in (A1, A2) for i in range(2)
    ]
    assert read(severity="low") == read(policy="s3.logged")
    assert len(read(severity="high")) == 6
    assert len(read()) == 10
    assert len(list(findings.iter_findings(store, state="all", severity="high"))) == 8


def test_resolved_findings_are_read_page_by_page(store: Store) -> None:
    # GIVEN a spy on the store's queries
    calls = spy(store).calls
    # WHEN A1's resolved findings are read 2 per page across accounts
    found = list(
        findings.iter_findings(store, state="resolved", page_size=2, accounts_provider=lambda: [A1])
    )
    # THEN all 5 come, 2 per query
    assert len(found) == 5
    assert {call["Limit"] for call in calls} == {2}
    assert len(calls) == 3


def test_open_findings_of_every_registered_policy_by_default(store: Store) -> None:
    # GIVEN an open finding of a policy of the registry
    registered = next(p for p in all_policies().values() if p.service == "s3")
    store.put_findings([finding(A1, "reg", registered)])
    # WHEN open findings are read without naming policies THEN the registry's are read
    assert [f.policy_id for f in findings.iter_findings(store)] == [registered.id]


def test_the_summary_counts_open_findings_by_severity_policy_and_account(store: Store) -> None:
    # GIVEN A1 with a second open high finding, of another policy than its versioning one
    store.put_findings([finding(A1, "enc-new", ENCRYPTED)])
    store.put_summary(
        PolicyTally(account, policy.id, policy.severity, n, NOW, failed=n)
        for account, policy, n in (
            (A1, ENCRYPTED, 1),
            (A1, VERSIONED, 1),
            (A1, LOGGED, 0),
            (A2, VERSIONED, 1),
        )
    )
    # WHEN the dashboard summary is read
    # THEN it counts per severity, per policy (accounts with one open) and per account
    none = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    assert findings.summary(store) == {
        "open": 3,
        "by_severity": {**none, "high": 3},
        "by_policy": {
            "s3.encrypted": {"severity": "high", "open": 1, "accounts": 1},
            "s3.logged": {"severity": "low", "open": 0, "accounts": 0},
            "s3.versioned": {"severity": "high", "open": 2, "accounts": 2},
        },
        "by_account": {
            A1: {"open": 2, "by_severity": {**none, "high": 2}},
            A2: {"open": 1, "by_severity": {**none, "high": 1}},
        },
    }


@pytest.mark.parametrize(
    ("state", "wanted"),
    [("open", FindingState.OPEN), ("muted", FindingState.MUTED), ("all", None)],
)
def test_a_state_filter_is_parsed(state: str, wanted: FindingState | None) -> None:
    assert findings.parse_state(state) is wanted


def test_an_unknown_state_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown state") as refused:
        findings.parse_state("z" * 60)
    assert str(refused.value) == f"unknown state {'z' * 40!r} (one of open, muted, resolved, all)"
