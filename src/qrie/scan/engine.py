"""One scan task: evaluate policies over an account's inventory of one service.

``scan_account`` loads the account's findings and recorded verdicts of the selected policies
(paginated Queries, bounded by the account's size) and the active mutes, streams the account's
inventory of the service (paginated) and evaluates every policy that applies to each resource.
Every verdict is recorded (:class:`qrie.domain.Evaluation`: pass, fail, not applicable, unknown,
with its evidence; written only when it changed), and findings follow the failures:

=================  =====================  ==============================================
verdict            prior finding          change
=================  =====================  ==============================================
fail               none                   open (FirstSeen = LastSeen = now)
fail               RESOLVED               reopen (FirstSeen kept, ReopenedAt = now)
fail               OPEN / MUTED           refresh (LastSeen, LastJob, Evidence, Severity)
fail + a mute      any                    MUTED (with the mute's reason and expiry)
fail, no mute      MUTED                  OPEN again (the mute expired or was removed)
pass               OPEN / MUTED           resolve, reason ``compliant``
not applicable     OPEN / MUTED           resolve, reason ``compliant`` (e.g. nothing to check)
unknown            any                    none (counted as unknown)
=================  =====================  ==============================================

Afterwards, failing findings whose resource is no longer in the inventory are resolved with
reason ``resource-deleted`` (and those whose resource no longer has the policy's type,
``compliant``), and their recorded verdicts deleted. Writes go out in chunks of
:data:`WRITE_CHUNK` while the inventory streams. Finally the account's tallies are rewritten
for every selected policy, zeros included.

A policy whose ``evaluate`` raises is counted as ``unknown`` for that resource (and logged): a bug
in one policy must not fail every scan of the account.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from qrie.domain import (
    Evaluation,
    Finding,
    Mute,
    PolicyTally,
    Resource,
    ResultStatus,
    Severity,
    timestamp,
)
from qrie.domain.findings import REASON_COMPLIANT, REASON_DELETED
from qrie.domain.mutes import mute_for
from qrie.observability import logger
from qrie.policies.base import Outcome, Policy, Verdict
from qrie.store.table import Store

WRITE_CHUNK = 100

FindingKey = tuple[str, str]  # (policy id, arn)
T = TypeVar("T")


# ---------------------------------------------------------------- counts
@dataclass
class ScanCounts:
    """``evaluated``: (resource, policy) pairs where the policy's type matched the resource;
    each ends as passed, failed, unknown or not applicable. Of the findings: ``opened``
    (``reopened`` included), ``refreshed``, ``resolved`` (also those whose resource was
    deleted), ``muted``. ``open_total``: open findings of the selected policies in the account
    after the scan."""

    evaluated: int = 0
    passed: int = 0
    failed: int = 0
    opened: int = 0
    reopened: int = 0
    refreshed: int = 0
    resolved: int = 0
    muted: int = 0
    unknown: int = 0
    not_applicable: int = 0
    open_total: int = 0

    def as_counts(self) -> dict[str, int]:
        return {
            "evaluated": self.evaluated,
            "passed": self.passed,
            "failed": self.failed,
            "opened": self.opened,
            "refreshed": self.refreshed,
            "resolved": self.resolved,
            "unknown": self.unknown,
            "open_findings": self.open_total,
        }


class _Writer(Generic[T]):
    """Buffers puts and flushes them in chunks."""

    def __init__(self, put: Callable[[list[T]], object], chunk: int = WRITE_CHUNK) -> None:
        self._put = put
        self.chunk = chunk
        self.buffer: list[T] = []
        self.written = 0

    def put(self, record: T) -> None:
        self.buffer.append(record)
        if len(self.buffer) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self._put(self.buffer)
            self.written += len(self.buffer)
            self.buffer = []


def _evaluate(policy: Policy, resource: Resource, now: datetime) -> Verdict | None:
    try:
        return policy.evaluate(resource, now)
    except Exception as exc:  # a policy bug: unknown for this resource, the scan goes on
        logger.exception("policy %s failed on %s", policy.id, resource.arn)
        return Verdict.unknown(policy.id, f"evaluation error: {type(exc).__name__}")


def status_of(verdict: Verdict | None) -> ResultStatus:
    if verdict is None:
        return ResultStatus.NOT_APPLICABLE
    return {
        Outcome.COMPLIANT: ResultStatus.PASS,
        Outcome.NON_COMPLIANT: ResultStatus.FAIL,
        Outcome.UNKNOWN: ResultStatus.UNKNOWN,
    }[verdict.outcome]


@dataclass
class _Tally:
    statuses: Counter[ResultStatus] = field(default_factory=Counter)
    open: int = 0
    muted: int = 0


# ---------------------------------------------------------------- scan
def scan_account(
    store: Store,
    account_id: str,
    service: str,
    policies: Sequence[Policy],
    job_id: str,
    now: datetime,
    mutes: Sequence[Mute] | None = None,
) -> ScanCounts:
    """Evaluate ``policies`` over the account's ``service`` inventory, record every verdict and
    update its findings (``mutes``: the mute list; default: read from the store)."""
    selected = [p for p in policies if p.service == service]
    stamp = timestamp(now)
    active = [m for m in (store.list_mutes() if mutes is None else mutes) if m.active(stamp)]
    counts = ScanCounts()
    current: dict[FindingKey, Finding] = {}
    recorded: dict[FindingKey, Evaluation] = {}
    for policy in selected:
        for finding in store.iter_findings(account_id, policy.id):
            current[finding.key] = finding
        for evaluation in store.iter_evaluations(account_id, policy.id):
            recorded[evaluation.key] = evaluation

    findings: _Writer[Finding] = _Writer(store.put_findings)
    verdicts: _Writer[Evaluation] = _Writer(store.put_evaluations)
    evaluated: dict[FindingKey, ResultStatus] = {}
    seen_arns: set[str] = set()

    def change(finding: Finding) -> None:
        current[finding.key] = finding
        findings.put(finding)

    for resource in store.iter_resources(account_id, service):
        seen_arns.add(resource.arn)
        for policy in selected:
            if not policy.applies_to(resource):
                continue
            key = (policy.id, resource.arn)
            counts.evaluated += 1
            verdict = _evaluate(policy, resource, now)
            status = evaluated[key] = status_of(verdict)
            evidence = verdict.evidence if verdict is not None else "not applicable"
            prior_verdict = recorded.get(key)
            if prior_verdict is None or (prior_verdict.status, prior_verdict.evidence) != (
                status,
                evidence,
            ):
                since = stamp
                if prior_verdict is not None and prior_verdict.status is status:
                    since = prior_verdict.since
                verdicts.put(
                    Evaluation(
                        account_id,
                        policy.id,
                        resource.arn,
                        status,
                        evidence,
                        resource.type,
                        resource.region,
                        since,
                        job_id,
                    )
                )
            prior = current.get(key)
            if status is ResultStatus.UNKNOWN:
                counts.unknown += 1
            elif status in (ResultStatus.PASS, ResultStatus.NOT_APPLICABLE):
                if status is ResultStatus.PASS:
                    counts.passed += 1
                else:
                    counts.not_applicable += 1
                if prior is not None and prior.is_failing:
                    change(prior.resolved(REASON_COMPLIANT, stamp, job_id))
                    counts.resolved += 1
            else:
                counts.failed += 1
                mute = mute_for(active, account_id, policy.id, resource.arn, stamp)
                title, severity = policy.title, policy.severity
                if prior is None:
                    finding = Finding.open(
                        resource, policy.id, severity, title, evidence, job_id, stamp
                    )
                    counts.opened += 1
                elif prior.is_failing:
                    finding = prior.refreshed(severity, title, evidence, job_id, stamp)
                    counts.refreshed += 1
                else:
                    finding = prior.reopened(severity, title, evidence, job_id, stamp)
                    counts.opened += 1
                    counts.reopened += 1
                if mute is not None:
                    finding = finding.muted(mute)
                    counts.muted += 1
                elif finding.is_muted:
                    finding = finding.unmuted()
                change(finding)

    # Failing findings that no evaluation reached: the resource is gone (or changed type); their
    # recorded verdicts go too.
    for key, finding in list(current.items()):
        if key in evaluated or not finding.is_failing:
            continue
        reason = REASON_DELETED if key[1] not in seen_arns else REASON_COMPLIANT
        change(finding.resolved(reason, stamp, job_id))
        counts.resolved += 1
    findings.flush()
    verdicts.flush()
    store.delete_evaluations(account_id, [k for k in recorded if k not in evaluated])

    tallies: dict[str, _Tally] = {p.id: _Tally() for p in selected}
    for (policy_id, _arn), status in evaluated.items():
        tallies[policy_id].statuses[status] += 1
    for (policy_id, _arn), finding in current.items():
        if policy_id in tallies:
            tallies[policy_id].open += int(finding.is_open)
            tallies[policy_id].muted += int(finding.is_muted)
    counts.open_total = sum(t.open for t in tallies.values())
    store.put_summary(_tally(account_id, p.id, p.severity, tallies[p.id], stamp) for p in selected)
    return counts


def _tally(
    account_id: str, policy_id: str, severity: Severity, tally: _Tally, stamp: str
) -> PolicyTally:
    return PolicyTally(
        account_id=account_id,
        policy_id=policy_id,
        severity=severity,
        open=tally.open,
        updated_at=stamp,
        passed=tally.statuses[ResultStatus.PASS],
        failed=tally.statuses[ResultStatus.FAIL],
        unknown=tally.statuses[ResultStatus.UNKNOWN],
        not_applicable=tally.statuses[ResultStatus.NOT_APPLICABLE],
        muted=tally.muted,
    )


# ---------------------------------------------------------------- deleted resources
def resolve_deleted(
    store: Store,
    account_id: str,
    arns: Iterable[str] | None,
    now: datetime,
    job_id: str | None = None,
    reason: str = REASON_DELETED,
) -> int:
    """Resolve the account's failing findings (any policy) on the given ARNs (every one, when
    ``arns`` is None) with ``reason`` (``resource-deleted``, ``account-removed``) and delete
    their recorded verdicts; returns how many findings were resolved. The tallies of the
    policies concerned are recounted from the verdicts that remain."""
    gone = set(arns) if arns is not None else None
    if gone is not None and not gone:
        return 0
    stamp = timestamp(now)
    writer: _Writer[Finding] = _Writer(store.put_findings)
    resolved = 0
    touched: set[str] = set()
    tallies: dict[str, _Tally] = {}
    severities: dict[str, Severity] = {
        t.policy_id: t.severity for t in store.account_summary(account_id)
    }
    for finding in store.iter_findings(account_id):
        severities.setdefault(finding.policy_id, finding.severity)
        tally = tallies.setdefault(finding.policy_id, _Tally())
        if finding.is_failing and (gone is None or finding.arn in gone):
            writer.put(finding.resolved(reason, stamp, job_id))
            touched.add(finding.policy_id)
            resolved += 1
        else:
            tally.open += int(finding.is_open)
            tally.muted += int(finding.is_muted)
    writer.flush()
    dropped: list[FindingKey] = []
    for evaluation in store.iter_evaluations(account_id):
        if gone is None or evaluation.arn in gone:
            dropped.append(evaluation.key)
            touched.add(evaluation.policy_id)
        else:
            tallies.setdefault(evaluation.policy_id, _Tally()).statuses[evaluation.status] += 1
    store.delete_evaluations(account_id, dropped)
    store.put_summary(
        _tally(account_id, p, severities[p], tallies.get(p, _Tally()), stamp)
        for p in sorted(touched)
        if p in severities
    )
    return resolved
