"""The mute list: validated mutes, applied at once to the findings they match, removed again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from qrie.domain import Account, FindingState, Resource, parse_timestamp, timestamp
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


# ---------------------------------------------------------------- a new mute
def test_a_new_mute_keeps_what_it_was_given_and_expires_days_later() -> None:
    # WHEN a mute is made at T0 for 30 days
    mute = mutes.new_mute("s3.*", A1, "arn:aws:s3:::*-legacy", "  owned by data  ", 30, now=T0)
    # THEN it keeps its scope and the trimmed reason, and expires 30 days later to the second
    assert re.fullmatch(r"mute-[0-9a-f]{8}", mute.mute_id)
    assert mute.to_dict() == {
        "mute_id": mute.mute_id,
        "policy": "s3.*",
        "account": A1,
        "resource": "arn:aws:s3:::*-legacy",
        "reason": "owned by data",
        "expires_at": "2024-05-31T12:00:00.000000Z",
        "created_at": "2024-05-01T12:00:00.000000Z",
    }


def test_a_mute_made_now_expires_days_from_now_whatever_the_machines_time_zone(
    local_time_not_utc: None,
) -> None:
    # GIVEN a machine whose local time is not UTC
    # WHEN a mute of 2 days is made without a time
    before = datetime.now(UTC)
    mute = mutes.new_mute("*", "*", "*", "why", 2)
    after = datetime.now(UTC)
    # THEN it was made now and expires 2 days from now, in UTC
    assert timestamp(before) <= mute.created_at <= timestamp(after)
    expires = parse_timestamp(mute.expires_at)
    assert before + timedelta(days=2) <= expires <= after + timedelta(days=2)


@pytest.mark.parametrize(
    ("resource", "reason", "days"),
    [
        ("a" * 512, "why", 30),
        ("*", "r" * 500, 30),
        ("*", f"  {'r' * 500}  ", 30),  # trimmed first
        ("*", "why", 1),
        ("*", "why", 366),
    ],
)
def test_a_mute_at_the_limits_is_accepted(resource: str, reason: str, days: int) -> None:
    mute = mutes.new_mute("*", "*", resource, reason, days, now=T0)
    assert (mute.resource, mute.reason) == (resource, reason.strip())


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (
            ("bogus policy", "*", "*", "why", 30),
            "policy",
            "policy: 'bogus policy' is not a policy id, <service>.* or *",
        ),
        (
            ("*", "12345", "*", "why", 30),
            "account",
            "account: '12345' is not a 12-digit account id or *",
        ),
        (
            ("*", "*", "", "why", 30),
            "resource",
            "resource: give an ARN pattern of 1 to 512 characters",
        ),
        (
            ("*", "*", "a" * 513, "why", 30),
            "resource",
            "resource: give an ARN pattern of 1 to 512 characters",
        ),
        (("*", "*", "*", "r" * 501, 30), "reason", "reason: say why, in 1 to 500 characters"),
        (("*", "*", "*", " ", 30), "reason", "reason: say why, in 1 to 500 characters"),
        (("*", "*", "*", "why", 0), "days", "days: a mute lasts 1 to 366 days, got 0"),
        (("*", "*", "*", "why", 367), "days", "days: a mute lasts 1 to 366 days, got 367"),
    ],
)
def test_a_refusal_says_what_is_wrong_word_for_word(
    args: tuple,  # type: ignore[type-arg]
    field: str,
    message: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        mutes.new_mute(*args)
    assert (refused.value.field, str(refused.value)) == (field, message)


def test_removing_an_unknown_mute_is_refused_naming_it(store: Store) -> None:
    with pytest.raises(ValidationError) as refused:
        mutes.remove_mute(store, "mute-nope")
    assert (refused.value.field, str(refused.value)) == ("mute_id", "mute_id: no mute 'mute-nope'")


# ---------------------------------------------------------------- applying mutes
def test_the_tallies_count_open_and_muted_findings_after_each_change(store: Store) -> None:
    # GIVEN A1's two failing buckets, legacy and new
    # WHEN only the new one is muted
    assert mutes.add_mute(store, mutes.new_mute("*", A1, "*-new", "migrating", 7)) == 1
    # THEN A1's tally counts one open and one muted; A2's is untouched
    [tally] = store.account_summary(A1)
    assert (tally.open, tally.muted, tally.failed) == (1, 1, 2)
    [other] = store.account_summary(A2)
    assert (other.open, other.muted) == (2, 0)
    # WHEN every A1 finding is muted THEN none is open, both muted (the new one by either mute:
    # the first in the list that matches)
    mutes.add_mute(store, mutes.new_mute("*", A1, "*", "accepted", 7))
    [tally] = store.account_summary(A1)
    assert (tally.open, tally.muted, tally.failed) == (0, 2, 2)
    assert states(store, A2) == {"legacy": FindingState.OPEN, "new": FindingState.OPEN}


def test_a_resolved_finding_stays_resolved_and_does_not_stop_the_others(store: Store) -> None:
    # GIVEN A1's legacy bucket fixed (its finding resolved) and the new one still failing
    fixed = Resource(
        f"arn:aws:s3:::{A1}-legacy", A1, "s3", "s3.bucket", "global", {"encrypted": True}
    )
    store.put_resources([fixed], "inv-2", "col", NOW)
    scan_account(store, A1, "s3", [ENCRYPTED], "scan-2", T0, mutes=[])
    # WHEN a mute of every A1 bucket is added
    assert mutes.add_mute(store, mutes.new_mute("*", A1, "*", "accepted", 7)) == 1
    # THEN the resolved one stays resolved and the failing one after it is muted
    assert states(store, A1) == {"legacy": FindingState.RESOLVED, "new": FindingState.MUTED}
