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
Writes go out in chunks of :data:`WRITE_CHUNK` full items (BatchWriteItem puts, built from the
prior state) while the inventory streams. Finally the account's dashboard summary is rewritten
for every selected policy, zero counts included.

A policy whose ``evaluate`` raises is counted as ``unknown`` for that resource (and logged): a bug
in one policy must not fail every scan of the account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qrie.inventory.base import Resource
from qrie.observability import logger
from qrie.policies.base import Outcome, Policy, Verdict
from qrie.scan import findings as f
from qrie.store import keys
from qrie.store.table import Store, dumps

WRITE_CHUNK = 100

FindingKey = tuple[str, str]  # (policy id, arn)


# ---------------------------------------------------------------- resource items
def resource_to_item(
    resource: Resource, job_id: str, collection_id: str, now: datetime
) -> dict[str, Any]:
    """The table item of an inventoried resource (``Config`` is compact JSON text)."""
    return {
        "PK": keys.resource_pk(resource.account_id, resource.service),
        "SK": keys.resource_sk(resource.scope, resource.arn),
        "Arn": resource.arn,
        "Type": resource.type,
        "Scope": resource.scope,
        "Name": resource.name,
        "Account": resource.account_id,
        "Service": resource.service,
        "Config": dumps(resource.config),
        "CollectionId": collection_id,
        "LastSeenJob": job_id,
        "LastSeenAt": f.timestamp(now),
    }


def resource_from_item(item: Mapping[str, Any]) -> Resource:
    """The resource of a table item (inverse of :func:`resource_to_item`)."""
    raw = item.get("Config")
    if isinstance(raw, str):
        config = json.loads(raw) if raw else {}
    elif isinstance(raw, dict):
        config = raw
    else:
        config = {}
    pk = str(item.get("PK", ""))
    sk = str(item.get("SK", ""))
    parts = pk.split("#", 2)  # RES#<account>#<service>
    return Resource(
        arn=str(item.get("Arn") or sk.split("#", 1)[-1]),
        account_id=str(item.get("Account") or (parts[1] if len(parts) == 3 else "")),
        service=str(item.get("Service") or (parts[2] if len(parts) == 3 else "")),
        type=str(item.get("Type", "")),
        scope=str(item.get("Scope") or sk.split("#", 1)[0]),
        config=config if isinstance(config, dict) else {},
        name=str(item.get("Name") or ""),
    )


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

    def as_attrs(self) -> dict[str, int]:
        return {
            "Evaluated": self.evaluated,
            "Opened": self.opened,
            "Refreshed": self.refreshed,
            "Resolved": self.resolved,
            "Unknown": self.unknown,
            "OpenFindings": self.open_total,
        }


class _Writer:
    """Buffers finding puts and flushes them in chunks."""

    def __init__(self, store: Store, chunk: int = WRITE_CHUNK) -> None:
        self.store = store
        self.chunk = chunk
        self.buffer: list[dict[str, Any]] = []
        self.written = 0

    def put(self, record: Mapping[str, Any]) -> None:
        self.buffer.append(f.finding_item(record))
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
    stamp = f.timestamp(now)
    counts = ScanCounts()
    current: dict[FindingKey, dict[str, Any]] = {}
    for policy in selected:
        for record in f.iter_account_findings(store, account_id, policy.id):
            current[(policy.id, str(record["Arn"]))] = record

    writer = _Writer(store)
    evaluated: set[FindingKey] = set()
    seen_arns: set[str] = set()

    def change(key: FindingKey, record: dict[str, Any]) -> None:
        current[key] = record
        writer.put(record)

    for item in store.iter_resources(account_id, service):
        resource = resource_from_item(item)
        seen_arns.add(resource.arn)
        for policy in selected:
            if not policy.applies_to(resource):
                continue
            key = (policy.id, resource.arn)
            evaluated.add(key)
            counts.evaluated += 1
            prior = current.get(key)
            is_open = prior is not None and prior.get("State") == f.OPEN
            verdict = _evaluate(policy, resource, now)
            if verdict is None:
                counts.not_applicable += 1
                if prior is not None and is_open:
                    change(key, f.resolved(prior, f.REASON_COMPLIANT, stamp, job_id))
                    counts.resolved += 1
            elif verdict.outcome == Outcome.UNKNOWN:
                counts.unknown += 1
            elif verdict.outcome == Outcome.COMPLIANT:
                if prior is not None and is_open:
                    change(key, f.resolved(prior, f.REASON_COMPLIANT, stamp, job_id))
                    counts.resolved += 1
            elif prior is None:
                change(key, f.new_finding(resource, policy, verdict.evidence, job_id, stamp))
                counts.opened += 1
            elif is_open:
                change(key, f.refreshed(prior, policy, verdict.evidence, job_id, stamp))
                counts.refreshed += 1
            else:
                change(key, f.reopened(prior, policy, verdict.evidence, job_id, stamp))
                counts.opened += 1
                counts.reopened += 1

    # OPEN findings that no evaluation reached: the resource is gone (or changed type).
    for key, record in list(current.items()):
        if key in evaluated or record.get("State") != f.OPEN:
            continue
        reason = f.REASON_DELETED if key[1] not in seen_arns else f.REASON_COMPLIANT
        change(key, f.resolved(record, reason, stamp, job_id))
        counts.resolved += 1
    writer.flush()

    open_by_policy: dict[str, int] = {}
    for (policy_id, _arn), record in current.items():
        if record.get("State") == f.OPEN:
            open_by_policy[policy_id] = open_by_policy.get(policy_id, 0) + 1
    counts.open_total = sum(open_by_policy.values())
    if selected:
        store.put_summary(account_id, f.summary_counts(account_id, open_by_policy, selected, stamp))
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
    ``resource-deleted``; returns how many. The dashboard summary of the policies concerned is
    rewritten with their remaining open counts (counted in the same pass)."""
    gone = set(arns)
    if not gone:
        return 0
    stamp = f.timestamp(now)
    writer = _Writer(store)
    resolved = 0
    remaining: dict[str, int] = {}
    severities: dict[str, str] = {}
    touched: set[str] = set()
    for record in f.iter_account_findings(store, account_id, state="open"):
        policy_id = str(record["Policy"])
        severities[policy_id] = str(record.get("Severity", ""))
        if record["Arn"] in gone:
            writer.put(f.resolved(record, f.REASON_DELETED, stamp, job_id))
            touched.add(policy_id)
            resolved += 1
        else:
            remaining[policy_id] = remaining.get(policy_id, 0) + 1
    writer.flush()
    if touched:
        store.put_summary(
            account_id,
            {
                policy_id: {
                    "Account": account_id,
                    "Policy": policy_id,
                    "Severity": severities[policy_id],
                    "Open": remaining.get(policy_id, 0),
                    "UpdatedAt": stamp,
                }
                for policy_id in sorted(touched)
            },
        )
    return resolved
