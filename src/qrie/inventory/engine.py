"""Run one service's collector for one account: stream, write, sweep what was not seen.

Unit of work: one task per (account, service). Regional services (EC2) are collected with
bounded threads over the regions inside that task: an account with 17 regions makes 17
concurrent region passes (up to ``region_threads`` at a time), each a few paginated calls, so it
finishes well inside the worker's timeout while the job still has one task, one message and one
accounting write per account and service. Each region is its own *scope*: its resources are
written as they stream in, and only a scope that finished without error is swept (resources
not seen in this collection are deleted and their open findings resolved as
``resource-deleted``). A region that fails keeps its previous resources.

SQS delivers at least once, so two collections of the same scope can overlap (a duplicate
delivery, or a redelivery while a slow first one still runs). Each write stamps its items with
the time it was written (``SeenAtMs``), and the sweep deletes an item only if no collection has
written it since this one started (a conditional delete): overlapping collections never delete
what the other one saw. (The clocks of Lambda's hosts are NTP-synchronized; a skew larger than
the time between one collection's start and the other's write would be needed to lose a
resource, and the next inventory would restore it.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qrie.aws import classify
from qrie.domain import Resource, timestamp
from qrie.errors import PermanentTaskError, TransientTaskError
from qrie.inventory.base import Collector, Session
from qrie.metering import ContextThreadPool
from qrie.store.table import Store

WRITE_BATCH = 25


@dataclass
class ScopeResult:
    scope: str
    resources: int = 0
    deleted_arns: set[str] = field(default_factory=set)
    error: PermanentTaskError | TransientTaskError | None = None


@dataclass
class InventoryCounts:
    resources: int = 0
    deleted_arns: set[str] = field(default_factory=set)
    scopes: int = 0
    failed_scopes: dict[str, str] = field(default_factory=dict)
    transient: bool = False

    def reason(self) -> str:
        parts = [reason for _scope, reason in sorted(self.failed_scopes.items())]
        prefix = "partial: " if len(self.failed_scopes) < self.scopes else ""
        return prefix + "; ".join(parts)

    @property
    def deleted(self) -> int:
        return len(self.deleted_arns)

    def as_counts(self) -> dict[str, int]:
        return {
            "resource_count": self.resources,
            "deleted": self.deleted,
            "scopes": self.scopes,
            "failed_scopes": len(self.failed_scopes),
        }


def inventory_account(
    store: Store,
    session: Session,
    collector: Collector,
    regions: Sequence[str],
    job_id: str,
    threads: int = 8,
) -> InventoryCounts:
    """Collect ``service`` in the account behind ``session``. Raises a TaskError when the scope
    list itself cannot be read; per-scope failures are returned in ``failed_scopes``, and the
    ARNs the sweep deleted in ``deleted_arns`` (the caller resolves their findings)."""
    try:
        scopes = collector.scopes(session, regions)
    except Exception as exc:
        raise classify(exc, f"{collector.service} scopes") from exc
    collection_id = uuid.uuid4().hex
    now = datetime.now(UTC)

    def run(scope: str) -> ScopeResult:
        return _collect_scope(store, collector, session, scope, job_id, collection_id, now)

    if len(scopes) <= 1:
        results = [run(s) for s in scopes]
    else:
        with ContextThreadPool(max_workers=min(threads, len(scopes))) as pool:
            results = list(pool.map(run, scopes))

    counts = InventoryCounts(scopes=len(scopes))
    for result in results:
        counts.resources += result.resources
        counts.deleted_arns |= result.deleted_arns
        if result.error is not None:
            counts.failed_scopes[result.scope] = result.error.reason
            counts.transient = counts.transient or isinstance(result.error, TransientTaskError)
    return counts


def _collect_scope(
    store: Store,
    collector: Collector,
    session: Session,
    scope: str,
    job_id: str,
    collection_id: str,
    now: datetime,
) -> ScopeResult:
    result = ScopeResult(scope)
    started_ms = now_ms()
    stamp = timestamp(now)
    buffer: list[Resource] = []

    def flush() -> None:
        store.put_resources(buffer, job_id, collection_id, stamp)
        buffer.clear()

    try:
        for resource in collector.collect(session, scope):
            buffer.append(resource)
            result.resources += 1
            if len(buffer) >= WRITE_BATCH:
                flush()
        if buffer:
            flush()
    except Exception as exc:
        result.error = classify(exc, f"{collector.service} {scope}")
        return result
    # The scope was listed completely: whatever no collection has written since this one
    # started is gone.
    result.deleted_arns = store.sweep_resources(
        session.account_id, collector.service, scope, collection_id, started_ms
    )
    return result


def now_ms() -> int:
    """Wall-clock milliseconds (comparable across the workers' hosts, unlike a monotonic clock)."""
    return time.time_ns() // 1_000_000
