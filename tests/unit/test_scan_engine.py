"""The scan engine on moto: finding lifecycle, deletions, unknown verdicts, summary counts."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from qrie.domain import (
    Evaluation,
    Finding,
    FindingState,
    Mute,
    PolicyTally,
    Resource,
    ResultStatus,
    Severity,
    timestamp,
)
from qrie.policies.base import Policy, Verdict
from qrie.policies.registry import select
from qrie.scan import findings
from qrie.scan.engine import (
    WRITE_CHUNK,
    ScanCounts,
    resolve_deleted,
    scan_account,
)
from qrie.store import items as store_items
from qrie.store import keys
from qrie.store.table import Store

TABLE = "qrie-scan-test"
REGION = "us-east-1"
ACCOUNT = "111111111111"
OTHER = "222222222222"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)
BUCKET = frozenset({"s3.bucket"})
ABSENT = object()


# ---------------------------------------------------------------- fixtures and builders
def create_table(name: str = TABLE) -> Store:
    """qrie's table as keys.py describes it: PK/SK strings and the overloaded sparse GSI1."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": keys.JOBS_INDEX,
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return Store(name)


@pytest.fixture
def store(mocked_aws: None) -> Store:
    """A Store on a fresh moto table (``mocked_aws``: fake credentials, no endpoint URL)."""
    return create_table()


def flag_check(attribute: str) -> Any:
    """An evaluator on a boolean config attribute: True compliant, False violation, None
    unknown (could not be read), absent not applicable."""

    def evaluate(resource: Resource, _now: datetime) -> Verdict | None:
        value = resource.config.get(attribute, ABSENT)
        if value is ABSENT:
            return None
        if value is None:
            return Verdict.unknown(attribute, "AccessDenied")
        if value:
            return Verdict.compliant(f"{attribute}=True")
        return Verdict.violation(f"{attribute}={value!r}")

    return evaluate


ENCRYPTED = Policy(
    id="s3.encrypted",
    service="s3",
    resource_types=BUCKET,
    title="Bucket is not encrypted",
    severity=Severity.HIGH,
    evaluate=flag_check("encrypted"),
)
VERSIONED = Policy(
    id="s3.versioned",
    service="s3",
    resource_types=BUCKET,
    title="Bucket is not versioned",
    severity=Severity.MEDIUM,
    evaluate=flag_check("versioned"),
)
POLICIES = [ENCRYPTED, VERSIONED]


def bucket(name: str, account: str = ACCOUNT, **config: Any) -> Resource:
    return Resource(
        arn=f"arn:aws:s3:::{name}",
        account_id=account,
        service="s3",
        type="s3.bucket",
        scope="global",
        config={"region": "eu-west-1", **config},
        name=name,
    )


def set_inventory(
    store: Store, resources: list[Resource], account: str = ACCOUNT, service: str = "s3"
) -> None:
    """Replace the account's inventory of ``service`` with ``resources`` (a collection that
    wrote them, then swept the rest of the scope)."""
    started = time.time_ns() // 1_000_000
    collection = f"col-{started}"
    store.put_resources(resources, "inv-job", collection, ts(T0))
    store.sweep_resources(account, service, "global", collection, started + 1)


def finding(store: Store, arn: str, policy: str, account: str = ACCOUNT) -> Finding:
    found = [x for x in store.iter_findings(account, policy) if x.arn == arn]
    assert found, f"no finding {policy} {arn}"
    return found[0]


def all_findings(store: Store, account: str = ACCOUNT) -> dict[str, Finding]:
    return {f"{x.policy_id}#{x.arn}": x for x in store.iter_findings(account)}


def open_arns(store: Store, policy: str) -> list[str]:
    return [x.arn for x in store.iter_open_findings(policy)]


def ts(when: datetime) -> str:
    return timestamp(when)


# ---------------------------------------------------------------- lifecycle
def test_lifecycle_open_refresh_resolve_reopen(store: Store) -> None:
    arn = "arn:aws:s3:::data"
    # GIVEN an unencrypted bucket
    set_inventory(store, [bucket("data", encrypted=False)])

    # WHEN the first scan runs at T0
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)

    # THEN a finding is opened with FirstSeen = LastSeen = T0 and indexed as open
    assert counts == ScanCounts(evaluated=1, failed=1, opened=1, open_total=1)
    opened = finding(store, arn, ENCRYPTED.id)
    assert opened == Finding(
        account_id=ACCOUNT,
        policy_id="s3.encrypted",
        arn=arn,
        state=FindingState.OPEN,
        severity=Severity.HIGH,
        title="Bucket is not encrypted",
        evidence="encrypted=False",
        resource_type="s3.bucket",
        scope="global",
        region="eu-west-1",
        service="s3",
        first_seen=ts(T0),
        last_seen=ts(T0),
        opened_by_job="job-1",
        last_job="job-1",
    )
    assert open_arns(store, ENCRYPTED.id) == [arn]

    # WHEN the bucket is still unencrypted at T1
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1)

    # THEN the finding is refreshed: LastSeen and LastJob move, FirstSeen stays
    assert counts == ScanCounts(evaluated=1, failed=1, refreshed=1, open_total=1)
    refreshed = finding(store, arn, ENCRYPTED.id)
    assert refreshed == replace(opened, last_seen=ts(T1), last_job="job-2")

    # WHEN the bucket is encrypted at T2
    set_inventory(store, [bucket("data", encrypted=True)])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-3", T2)

    # THEN the finding is RESOLVED as compliant and leaves the open index
    assert counts == ScanCounts(evaluated=1, passed=1, resolved=1, open_total=0)
    resolved = finding(store, arn, ENCRYPTED.id)
    assert resolved == replace(
        refreshed,
        state=FindingState.RESOLVED,
        resolved_at=ts(T2),
        resolved_reason="compliant",
        last_job="job-3",
    )
    assert open_arns(store, ENCRYPTED.id) == []

    # WHEN encryption is removed again at T3
    set_inventory(store, [bucket("data", encrypted="")])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-4", T3)

    # THEN the finding is reopened: FirstSeen kept, ReopenedAt set, resolution dropped
    assert counts == ScanCounts(evaluated=1, failed=1, opened=1, reopened=1, open_total=1)
    reopened = finding(store, arn, ENCRYPTED.id)
    assert reopened == replace(
        opened,
        evidence="encrypted=''",
        last_seen=ts(T3),
        reopened_at=ts(T3),
        opened_by_job="job-4",
        last_job="job-4",
    )
    assert reopened.first_seen == ts(T0)
    assert open_arns(store, ENCRYPTED.id) == [arn]


def test_unchanged_rescan_changes_only_last_seen_and_last_job(store: Store) -> None:
    # GIVEN buckets with open, resolved, unknown and not-applicable outcomes, scanned once
    set_inventory(
        store,
        [
            bucket("a", encrypted=False, versioned=False),
            bucket("b", encrypted=True, versioned=False),
            bucket("c", encrypted=None, versioned=True),
            bucket("d"),
        ],
    )
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-1", T0)
    set_inventory(
        store,
        [bucket("a", encrypted=False, versioned=True), bucket("b"), bucket("c", encrypted=None)],
    )
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-2", T1)  # resolves a few
    before = all_findings(store)

    # WHEN the same inventory is scanned again
    counts = scan_account(store, ACCOUNT, "s3", POLICIES, "job-3", T2)

    # THEN only the open findings' LastSeen and LastJob changed; nothing opened or resolved
    after = all_findings(store)
    assert after.keys() == before.keys()
    open_sks = {sk for sk, item in before.items() if item.is_open}
    assert open_sks == {"s3.encrypted#arn:aws:s3:::a"}
    for sk, item in after.items():
        if sk in open_sks:
            assert item == replace(before[sk], last_seen=ts(T2), last_job="job-3")
        else:
            assert item == before[sk]
    assert counts == ScanCounts(
        evaluated=6, passed=1, failed=1, refreshed=1, unknown=1, not_applicable=3, open_total=1
    )


def test_unknown_verdict_leaves_the_finding_untouched(store: Store) -> None:
    # GIVEN an open finding on bucket "a"
    set_inventory(store, [bucket("a", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)
    before = finding(store, "arn:aws:s3:::a", ENCRYPTED.id)

    # WHEN the attribute can no longer be read (unknown), and a new bucket is unreadable too
    set_inventory(store, [bucket("a", encrypted=None), bucket("b", encrypted=None)])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1)

    # THEN both are counted unknown; the finding is unchanged (not refreshed, not resolved,
    # not taken for deleted) and no finding is opened for the new bucket
    assert counts == ScanCounts(evaluated=2, unknown=2, open_total=1)
    assert finding(store, "arn:aws:s3:::a", ENCRYPTED.id) == before
    assert list(all_findings(store)) == ["s3.encrypted#arn:aws:s3:::a"]


def test_policy_error_counts_as_unknown(store: Store) -> None:
    # GIVEN a policy whose evaluator raises
    def broken(_resource: Resource, _now: datetime) -> Verdict | None:
        raise KeyError("oops")

    policy = Policy("s3.broken", "s3", BUCKET, "Broken", Severity.LOW, evaluate=broken)
    set_inventory(store, [bucket("a")])

    # WHEN it is scanned
    counts = scan_account(store, ACCOUNT, "s3", [policy], "job-1", T0)

    # THEN the scan completes with the pair counted unknown and no finding
    assert counts == ScanCounts(evaluated=1, unknown=1)
    assert all_findings(store) == {}


def test_not_applicable_resolves_an_open_finding(store: Store) -> None:
    # GIVEN an open finding
    set_inventory(store, [bucket("a", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)

    # WHEN the policy stops applying to the resource (e.g. an instance was stopped)
    set_inventory(store, [bucket("a")])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1)

    # THEN the finding is resolved as compliant
    assert counts == ScanCounts(evaluated=1, not_applicable=1, resolved=1)
    item = finding(store, "arn:aws:s3:::a", ENCRYPTED.id)
    assert (item.state, item.resolved_reason, item.resolved_at) == (
        "RESOLVED",
        "compliant",
        ts(T1),
    )


# ---------------------------------------------------------------- deleted resources
def test_scan_resolves_findings_of_resources_no_longer_in_the_inventory(store: Store) -> None:
    # GIVEN open findings on buckets "a" and "b"
    set_inventory(store, [bucket("a", encrypted=False), bucket("b", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)

    # WHEN bucket "b" vanished from the inventory and the account is scanned
    set_inventory(store, [bucket("a", encrypted=False)])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1)

    # THEN b's finding is resolved as resource-deleted, a's refreshed; the summary counts 1
    assert counts == ScanCounts(evaluated=1, failed=1, refreshed=1, resolved=1, open_total=1)
    gone = finding(store, "arn:aws:s3:::b", ENCRYPTED.id)
    assert gone.state == "RESOLVED"
    assert gone.resolved_reason == "resource-deleted"
    assert gone.resolved_at == ts(T1)
    assert "GSI1PK" not in store_items.finding_item(gone)
    assert open_arns(store, ENCRYPTED.id) == ["arn:aws:s3:::a"]
    assert findings.summary(store)["by_policy"][ENCRYPTED.id]["open"] == 1


def test_resolve_deleted_resolves_open_findings_of_every_policy(store: Store) -> None:
    # GIVEN open findings of two policies on "a", one on "b", and one in another account
    set_inventory(store, [bucket("a", encrypted=False, versioned=False), bucket("b", versioned=0)])
    set_inventory(store, [bucket("a", OTHER, encrypted=False)], account=OTHER)
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-1", T0)
    scan_account(store, OTHER, "s3", POLICIES, "job-1", T0)
    b_before = finding(store, "arn:aws:s3:::b", VERSIONED.id)
    other_before = all_findings(store, OTHER)

    # WHEN the inventory reports bucket "a" deleted (and an ARN without findings)
    resolved = resolve_deleted(store, ACCOUNT, {"arn:aws:s3:::a", "arn:aws:s3:::zzz"}, T1)

    # THEN both of a's findings are resolved as resource-deleted; b and the other account stay
    assert resolved == 2
    for policy in POLICIES:
        item = finding(store, "arn:aws:s3:::a", policy.id)
        assert item.state == "RESOLVED"
        assert item.resolved_reason == "resource-deleted"
        assert item.resolved_at == ts(T1)
        assert item.last_job == "job-1"
        assert "GSI1PK" not in store_items.finding_item(item)
    assert finding(store, "arn:aws:s3:::b", VERSIONED.id) == b_before
    assert all_findings(store, OTHER) == other_before
    # AND the dashboard summary follows
    summary = findings.summary(store)
    assert summary["by_account"][ACCOUNT]["open"] == 1
    assert summary["by_policy"][ENCRYPTED.id]["open"] == 1  # the other account's
    assert summary["by_policy"][VERSIONED.id]["open"] == 1  # bucket b

    # WHEN the same deletion is reported again
    # THEN nothing is resolved twice
    assert resolve_deleted(store, ACCOUNT, {"arn:aws:s3:::a"}, T2) == 0
    assert finding(store, "arn:aws:s3:::a", ENCRYPTED.id).resolved_at == ts(T1)


# ---------------------------------------------------------------- summary and writes
def test_summary_counts_by_policy_severity_and_account(store: Store) -> None:
    # GIVEN two accounts scanned with two policies
    set_inventory(
        store,
        [bucket("a", encrypted=False, versioned=False), bucket("b", encrypted=False)],
    )
    set_inventory(store, [bucket("c", OTHER, encrypted=True, versioned=False)], account=OTHER)
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-1", T0)
    scan_account(store, OTHER, "s3", POLICIES, "job-1", T0)

    # WHEN the dashboard summary is read
    summary = findings.summary(store)

    # THEN it counts open findings by policy (with its severity), severity and account
    assert summary == {
        "open": 4,
        "by_severity": {"critical": 0, "high": 2, "medium": 2, "low": 0},
        "by_policy": {
            "s3.encrypted": {"severity": "high", "open": 2, "accounts": 1},
            "s3.versioned": {"severity": "medium", "open": 2, "accounts": 2},
        },
        "by_account": {
            ACCOUNT: {
                "open": 3,
                "by_severity": {"critical": 0, "high": 2, "medium": 1, "low": 0},
            },
            OTHER: {"open": 1, "by_severity": {"critical": 0, "high": 0, "medium": 1, "low": 0}},
        },
    }
    # AND the summary items are small per (account, policy) items, zero counts included
    counts = {(c.account_id, c.policy_id): c for c in store.summary()}
    assert counts[(OTHER, "s3.encrypted")] == PolicyTally(
        OTHER, "s3.encrypted", Severity.HIGH, 0, ts(T0), passed=1
    )

    # WHEN every finding of the account is fixed
    set_inventory(store, [bucket("a", encrypted=True, versioned=True), bucket("b", encrypted=1)])
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-2", T1)

    # THEN its counts drop to zero
    assert findings.summary(store)["by_account"][ACCOUNT]["open"] == 0
    assert findings.summary(store)["open"] == 1


def test_scan_counts_as_task_attributes() -> None:
    counts = ScanCounts(
        evaluated=9,
        passed=4,
        failed=3,
        opened=3,
        reopened=1,
        refreshed=2,
        resolved=1,
        unknown=2,
        open_total=5,
    )
    assert counts.as_counts() == {
        "evaluated": 9,
        "passed": 4,
        "failed": 3,
        "opened": 3,
        "refreshed": 2,
        "resolved": 1,
        "unknown": 2,
        "open_findings": 5,
    }


def test_writes_are_buffered_in_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 250 non-compliant buckets
    set_inventory(store, [bucket(f"b{i:03}", encrypted=False) for i in range(250)])
    batches: list[int] = []
    put = store.put_findings

    def spy(items: list[Finding]) -> int:
        batches.append(len(items))
        return put(items)

    monkeypatch.setattr(store, "put_findings", spy)

    # WHEN they are scanned
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)

    # THEN the findings were written in chunks of at most WRITE_CHUNK while streaming
    assert counts.opened == 250
    assert batches == [WRITE_CHUNK, WRITE_CHUNK, 50]
    assert len(all_findings(store)) == 250


def test_other_services_and_policies_are_left_alone(store: Store) -> None:
    # GIVEN an open S3 finding and an IAM policy in the selection
    set_inventory(store, [bucket("a", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)
    iam = Policy("iam.x", "iam", frozenset({"iam.user"}), "X", Severity.LOW)

    # WHEN a scan of the IAM service runs (no IAM inventory) and one of S3 with VERSIONED only
    iam_counts = scan_account(store, ACCOUNT, "iam", [iam, ENCRYPTED], "job-2", T1)
    s3_counts = scan_account(store, ACCOUNT, "s3", [VERSIONED], "job-3", T1)

    # THEN the S3 encryption finding is untouched by both
    assert iam_counts == ScanCounts()
    assert s3_counts == ScanCounts(evaluated=1, not_applicable=1)
    assert finding(store, "arn:aws:s3:::a", ENCRYPTED.id).last_job == "job-1"


def test_scan_with_the_registered_s3_policies(store: Store) -> None:
    # GIVEN a bucket that is private but has no encryption, versioning or TLS-only policy
    pab = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    set_inventory(
        store,
        [
            bucket(
                "plain",
                public_access_block=pab,
                policy_is_public=False,
                policy=None,
                versioning="Disabled",
                mfa_delete="Disabled",
                encryption=[],
                logging_target=None,
            )
        ],
    )
    policies = select("s3.*")

    # WHEN the registered S3 policies scan the account
    counts = scan_account(store, ACCOUNT, "s3", policies, "job-1", T0)

    # THEN the expected findings open, with the policies' severities
    opened = {i.policy_id: i.severity for i in all_findings(store).values()}
    assert opened == {
        "s3.default_encryption": "medium",
        "s3.versioning": "medium",
        "s3.tls_only": "medium",
    }
    assert counts.evaluated == len(policies)
    assert counts.not_applicable == 1  # MFA delete on an unversioned bucket
    assert counts.open_total == 3
    assert len(store.summary()) == len(policies)


# ---------------------------------------------------------------- every verdict recorded
def evaluations(store: Store, account: str = ACCOUNT) -> dict[tuple[str, str], Evaluation]:
    return {e.key: e for e in store.iter_evaluations(account)}


def test_every_verdict_is_recorded_with_its_evidence(store: Store) -> None:
    # GIVEN buckets that pass, fail, are unknown and not applicable
    set_inventory(
        store,
        [
            bucket("pass", encrypted=True),
            bucket("fail", encrypted=False),
            bucket("unknown", encrypted=None),
            bucket("na"),
        ],
    )
    # WHEN they are scanned
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)
    # THEN one verdict per (policy, resource) is kept, with its status and evidence
    got = {arn.rsplit(":", 1)[-1]: e for (_p, arn), e in evaluations(store).items()}
    assert {name: (e.status, e.evidence) for name, e in got.items()} == {
        "pass": (ResultStatus.PASS, "encrypted=True"),
        "fail": (ResultStatus.FAIL, "encrypted=False"),
        "unknown": (ResultStatus.UNKNOWN, "encrypted could not be read: AccessDenied"),
        "na": (ResultStatus.NOT_APPLICABLE, "not applicable"),
    }
    assert {e.since for e in got.values()} == {ts(T0)}
    assert got["pass"].region == "eu-west-1"
    # AND the tally counts each status once
    [tally] = store.account_summary(ACCOUNT)
    assert (tally.passed, tally.failed, tally.unknown, tally.not_applicable, tally.open) == (
        1,
        1,
        1,
        1,
        1,
    )


def test_a_verdict_is_rewritten_only_when_it_changes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two buckets scanned once
    set_inventory(store, [bucket("a", encrypted=True), bucket("b", encrypted=True)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)
    written: list[list[Evaluation]] = []
    put = store.put_evaluations

    def spy(batch: list[Evaluation]) -> int:
        written.append(list(batch))
        return put(batch)

    monkeypatch.setattr(store, "put_evaluations", spy)
    # WHEN nothing changed THEN a rescan writes no verdict
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1)
    assert written == []
    # WHEN one bucket changes THEN only its verdict is written, with a new "since"
    set_inventory(store, [bucket("a", encrypted=True), bucket("b", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-3", T2)
    assert [[e.arn for e in batch] for batch in written] == [["arn:aws:s3:::b"]]
    after = evaluations(store)
    assert after[(ENCRYPTED.id, "arn:aws:s3:::a")].since == ts(T0)
    assert after[(ENCRYPTED.id, "arn:aws:s3:::b")].since == ts(T2)


def test_verdicts_of_deleted_resources_go_and_tallies_follow(store: Store) -> None:
    # GIVEN two failing and one passing bucket
    set_inventory(
        store,
        [bucket("a", encrypted=False), bucket("b", encrypted=False), bucket("c", encrypted=True)],
    )
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0)
    # WHEN the inventory reports a and c deleted
    resolve_deleted(store, ACCOUNT, {"arn:aws:s3:::a", "arn:aws:s3:::c"}, T1, "inv-2")
    # THEN their verdicts are gone and the tally counts only b
    assert [arn for _p, arn in evaluations(store)] == ["arn:aws:s3:::b"]
    [tally] = store.account_summary(ACCOUNT)
    assert (tally.passed, tally.failed, tally.open) == (0, 1, 1)
    # AND a later scan without them drops nothing more
    set_inventory(store, [bucket("b", encrypted=False)])
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-3", T2)
    assert (counts.failed, counts.resolved) == (1, 0)


# ---------------------------------------------------------------- mutes
def mute(
    policy: str = "*", account: str = ACCOUNT, resource: str = "*", until: datetime = T2
) -> Mute:
    return Mute("m-1", policy, account, resource, "accepted: legacy bucket", ts(until), ts(T0))


def test_a_muted_failure_stays_visible_as_muted_and_opens_again_when_the_mute_expires(
    store: Store,
) -> None:
    set_inventory(store, [bucket("legacy", encrypted=False), bucket("new", encrypted=False)])
    rule = mute(policy="s3.*", resource="arn:aws:s3:::legacy*", until=T2)
    # WHEN a scan runs while the mute is in force
    counts = scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0, mutes=[rule])
    # THEN the matching failure is MUTED with the mute's reason, the other one OPEN
    legacy = finding(store, "arn:aws:s3:::legacy", ENCRYPTED.id)
    assert (legacy.state, legacy.muted_by, legacy.muted_reason) == (
        FindingState.MUTED,
        "m-1",
        "accepted: legacy bucket",
    )
    assert finding(store, "arn:aws:s3:::new", ENCRYPTED.id).state is FindingState.OPEN
    assert counts.muted == 1
    assert open_arns(store, ENCRYPTED.id) == ["arn:aws:s3:::new"]  # muted leaves the open index
    [tally] = store.account_summary(ACCOUNT)
    assert (tally.failed, tally.open, tally.muted) == (2, 1, 1)
    # WHEN the mute has expired at the next scan
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T3, mutes=[rule])
    # THEN the finding is OPEN again, FirstSeen kept
    again = finding(store, "arn:aws:s3:::legacy", ENCRYPTED.id)
    assert (again.state, again.muted_by, again.first_seen) == (FindingState.OPEN, None, ts(T0))


def test_a_mute_of_another_account_or_policy_does_not_apply(store: Store) -> None:
    set_inventory(store, [bucket("a", encrypted=False, versioned=False)])
    rules = [mute(account=OTHER), mute(policy="s3.versioned")]
    scan_account(store, ACCOUNT, "s3", POLICIES, "job-1", T0, mutes=rules)
    assert finding(store, "arn:aws:s3:::a", ENCRYPTED.id).state is FindingState.OPEN
    assert finding(store, "arn:aws:s3:::a", VERSIONED.id).state is FindingState.MUTED


def test_a_muted_finding_that_passes_is_resolved(store: Store) -> None:
    set_inventory(store, [bucket("a", encrypted=False)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-1", T0, mutes=[mute()])
    set_inventory(store, [bucket("a", encrypted=True)])
    scan_account(store, ACCOUNT, "s3", [ENCRYPTED], "job-2", T1, mutes=[mute()])
    fixed = finding(store, "arn:aws:s3:::a", ENCRYPTED.id)
    assert (fixed.state, fixed.resolved_reason, fixed.muted_by) == (
        FindingState.RESOLVED,
        "compliant",
        None,
    )
