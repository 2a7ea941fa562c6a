"""The mute list: validated mutes, applied at once to the findings they match, removed again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qrie.domain import Account, FindingState, Resource
from qrie.errors import ValidationError
from qrie.scan import mutes
from qrie.scan.engine import scan_account
from qrie.store.table import Store
from tests.unit.test_compliance import ENCRYPTED, NOW
from tests.unit.test_scan_engine import create_table

A1, A2 = "555555555551", "555555555552"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(mocked_aws: None) -> Store:
    created = create_table()
    created.put_accounts([Account(A1), Account(A2)])
    for account in (A1, A2):
        resources = [
            Resource(f"arn:aws:s3:::{account}-{n}", account, "s3", "s3.bucket", "global", c, n)
            for n, c in (("legacy", {"encrypted": False}), ("new", {"encrypted": False}))
        ]
        created.put_resources(resources, "inv", "col", NOW)
        scan_account(created, account, "s3", [ENCRYPTED], "scan", T0, mutes=[])
    return created


def states(store: Store, account: str) -> dict[str, FindingState]:
    return {f.arn.rsplit("-", 1)[-1]: f.state for f in store.iter_findings(account)}


def test_a_mute_applies_at_once_and_its_removal_opens_the_finding_again(store: Store) -> None:
    # WHEN a mute for legacy buckets of every account is added
    mute = mutes.new_mute("s3.*", "*", "arn:aws:s3:::*-legacy", "owned by the data team", 30)
    assert mutes.add_mute(store, mute) == 2
    # THEN those findings are MUTED (not deleted), the others stay OPEN, and tallies follow
    assert states(store, A1) == {"legacy": FindingState.MUTED, "new": FindingState.OPEN}
    assert states(store, A2) == {"legacy": FindingState.MUTED, "new": FindingState.OPEN}
    [tally] = store.account_summary(A1)
    assert (tally.open, tally.muted, tally.failed) == (1, 1, 2)
    assert [m.mute_id for m in store.list_mutes()] == [mute.mute_id]
    # WHEN it is removed THEN they open again
    assert mutes.remove_mute(store, mute.mute_id) == 2
    assert set(states(store, A1).values()) == {FindingState.OPEN}
    with pytest.raises(ValidationError, match="no mute"):
        mutes.remove_mute(store, mute.mute_id)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("bogus policy", "*", "*", "why", 30), "policy"),
        (("*", "12345", "*", "why", 30), "account"),
        (("*", "*", "", "why", 30), "resource"),
        (("*", "*", "*", "   ", 30), "reason"),
        (("*", "*", "*", "why", 0), "days"),
        (("*", "*", "*", "why", 400), "days"),
    ],
)
def test_a_malformed_mute_is_refused_naming_the_field(args: tuple, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as refused:
        mutes.new_mute(*args)
    assert refused.value.field == field


def test_every_mute_expires() -> None:
    mute = mutes.new_mute("*", "*", "*", "why", 1, now=T0)
    assert mute.active("2024-05-02T11:59:59.000000Z")
    assert not mute.active("2024-05-02T12:00:00.000000Z")


def test_fail_on_counts_open_findings_at_or_above_a_severity_muted_excluded(store: Store) -> None:
    from qrie.scan.findings import open_at_least

    # GIVEN 4 open high findings (ENCRYPTED is high), 2 of them then muted
    policies = {ENCRYPTED.id: ENCRYPTED}
    assert open_at_least(store, "high", policies=policies) == 4
    assert open_at_least(store, "medium", [A1], policies) == 2
    assert open_at_least(store, "critical", policies=policies) == 0
    mutes.add_mute(store, mutes.new_mute("*", A1, "*", "accepted", 7))
    assert open_at_least(store, "low", policies=policies) == 2
    assert open_at_least(store, "high", [A1]) == 0
