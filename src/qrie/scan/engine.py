"""One scan task: evaluate policies over an account's inventory of one service.

``scan_account`` loads the account's findings of the selected policies (one paginated Query per
policy: bounded by the account's size), streams the account's inventory of the service
(paginated) and evaluates every policy that applies to each resource:

=================  =====================  ==============================================
verdict            prior finding          change
=================  =====================  ==============================================
non-compliant      none                   open (FirstSeen = LastSeen = now)
non-compliant      RESOLVED               reopen (FirstSeen kept, ReopenedAt = now)
non-compliant      OPEN                   refresh (LastSeen, LastJob, Evidence, Severity)
compliant          OPEN                   resolve, reason ``compliant``
not applicable     OPEN                   resolve, reason ``compliant`` (e.g. instance stopped)
unknown            any                    none (counted as unknown)
=================  =====================  ==============================================

Afterwards, OPEN findings whose resource is no longer in the inventory are resolved with reason
``resource-deleted`` (and those whose resource no longer has the policy's type, ``compliant``).
Writes go out in chunks of :data:`WRITE_CHUNK` findings (BatchWriteItem puts, built from the
prior state) while the inventory streams. Finally the account's dashboard summary is rewritten
for every selected policy, zero counts included.

A policy whose ``evaluate`` raises is counted as ``unknown`` for that resource (and logged): a bug
in one policy must not fail every scan of the account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from qrie.domain import Finding, FindingState, OpenCount, Resource, timestamp
from qrie.domain.findings import REASON_COMPLIANT, REASON_DELETED
from qrie.observability import logger
from qrie.policies.base import Outcome, Policy, Verdict
from qrie.store.table import Store

WRITE_CHUNK = 100

FindingKey = tuple[str, str]  # (policy id, arn)


# ---------------------------------------------------------------- counts
@dataclass
class ScanCounts:
    """``evaluated``: (resource, policy) pairs where the policy's type matched the resource;
    each ends as opened, refreshed, resolved, unknown, not applicable or unchanged (compliant
    without an open finding). ``reopened`` is included in ``opened``; ``resolved`` also counts
    findings resolved because their resource was deleted. ``open_total``: open findings of the
    selected policies in the account after the scan."""

    evaluated: int = 0
    opened: int = 0
    reopened: int = 0
    refreshed: int = 0
    resolved: int = 0
    unknown: int = 0
    not_applicable: int = 0
    open_total: int = 0

    def as_counts(self) -> dict[str, int]:
        return {
            "evaluated": self.evaluated,
            "opened": self.opened,
            "refreshed": self.refreshed,
            "resolved": self.resolved,
            "unknown": self.unknown,
            "open_findings": self.open_total,
        }


class _Writer:
    """Buffers finding puts and flushes them in chunks."""

    def __init__(self, store: Store, chunk: int = WRITE_CHUNK) -> None:
        self.store = store
        self.chunk = chunk
        self.buffer: list[Finding] = []
        self.written = 0

    def put(self, finding: Finding) -> None:
        self.buffer.append(finding)
        if len(self.buffer) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.store.put_findings(self.buffer)
            self.written += len(self.buffer)
            self.buffer = []


def _evaluate(policy: Policy, resource: Resource, now: datetime) -> Verdict | None:
    try:
        return policy.evaluate(resource, now)
    except Exception as exc:  # a policy bug: unknown for this resource, the scan goes on
        logger.exception("policy %s failed on %s", policy.id, resource.arn)
        return Verdict.unknown(policy.id, f"evaluation error: {type(exc).__name__}")


# ---------------------------------------------------------------- scan
def scan_account(
    store: Store,
    account_id: str,
    service: str,
    policies: Sequence[Policy],
    job_id: str,
    now: datetime,
) -> ScanCounts:
    """Evaluate ``policies`` over the account's ``service`` inventory and update its findings."""
    selected = [p for p in policies if p.service == service]
    stamp = timestamp(now)
    counts = ScanCounts()
    current: dict[FindingKey, Finding] = {}
    for policy in selected:
        for finding in store.iter_findings(account_id, policy.id):
            current[finding.key] = finding

    writer = _Writer(store)
    evaluated: set[FindingKey] = set()
    seen_arns: set[str] = set()

    def change(finding: Finding) -> None:
        current[finding.key] = finding
        writer.put(finding)

    for resource in store.iter_resources(account_id, service):
        seen_arns.add(resource.arn)
        for policy in selected:
            if not policy.applies_to(resource):
                continue
            key = (policy.id, resource.arn)
            evaluated.add(key)
            counts.evaluated += 1
            prior = current.get(key)
            verdict = _evaluate(policy, resource, now)
            if verdict is None:
                counts.not_applicable += 1
                if prior is not None and prior.is_open:
                    change(prior.resolved(REASON_COMPLIANT, stamp, job_id))
                    counts.resolved += 1
            elif verdict.outcome == Outcome.UNKNOWN:
                counts.unknown += 1
            elif verdict.outcome == Outcome.COMPLIANT:
                if prior is not None and prior.is_open:
                    change(prior.resolved(REASON_COMPLIANT, stamp, job_id))
                    counts.resolved += 1
            elif prior is None:
                change(
                    Finding.open(
                        resource,
                        policy.id,
                        policy.severity,
                        policy.title,
                        verdict.evidence,
                        job_id,
                        stamp,
                    )
                )
                counts.opened += 1
            elif prior.is_open:
                change(
                    prior.refreshed(policy.severity, policy.title, verdict.evidence, job_id, stamp)
                )
                counts.refreshed += 1
            else:
                change(
                    prior.reopened(policy.severity, policy.title, verdict.evidence, job_id, stamp)
                )
                counts.opened += 1
                counts.reopened += 1

    # OPEN findings that no evaluation reached: the resource is gone (or changed type).
    for key, finding in list(current.items()):
        if key in evaluated or not finding.is_open:
            continue
        reason = REASON_DELETED if key[1] not in seen_arns else REASON_COMPLIANT
        change(finding.resolved(reason, stamp, job_id))
        counts.resolved += 1
    writer.flush()

    open_by_policy: dict[str, int] = {}
    for (policy_id, _arn), finding in current.items():
        if finding.is_open:
            open_by_policy[policy_id] = open_by_policy.get(policy_id, 0) + 1
    counts.open_total = sum(open_by_policy.values())
    store.put_summary(
        OpenCount(account_id, p.id, p.severity, open_by_policy.get(p.id, 0), stamp)
        for p in selected
    )
    return counts


# ---------------------------------------------------------------- deleted resources
def resolve_deleted(
    store: Store,
    account_id: str,
    arns: Iterable[str],
    now: datetime,
    job_id: str | None = None,
) -> int:
    """Resolve the account's OPEN findings (any policy) on the given ARNs with reason
    ``resource-deleted``; returns how many. The dashboard counts of the policies concerned are
    rewritten with their remaining open counts (counted in the same pass)."""
    gone = set(arns)
    if not gone:
        return 0
    stamp = timestamp(now)
    writer = _Writer(store)
    resolved = 0
    remaining: dict[str, int] = {}
    severities: dict[str, Finding] = {}
    touched: set[str] = set()
    for finding in store.iter_findings(account_id, state=FindingState.OPEN):
        severities[finding.policy_id] = finding
        if finding.arn in gone:
            writer.put(finding.resolved(REASON_DELETED, stamp, job_id))
            touched.add(finding.policy_id)
            resolved += 1
        else:
            remaining[finding.policy_id] = remaining.get(finding.policy_id, 0) + 1
    writer.flush()
    store.put_summary(
        OpenCount(account_id, p, severities[p].severity, remaining.get(p, 0), stamp)
        for p in sorted(touched)
    )
    return resolved
