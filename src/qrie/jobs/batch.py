"""A batch of task records in one invocation: worked on concurrently, accounted together.

Inventory is I/O-bound: one execution environment holding ten records can overlap their waits
instead of running them one after the other. The records are grouped by member account; the
groups run on a bounded thread pool (``threads`` at a time) and the records of one group run one
after the other, so **two records of the same account never run at once** (a member account's
API rate limits see what one task at a time asks of them, as before). A record whose body cannot
be read is a group of its own. Memory stays flat: at most ``threads`` records are in progress,
each streaming its resources as before.

When every record's work is done, :meth:`TaskWorker.settle` records the outcomes, one
``complete_tasks`` call (one transaction) per job. Each record gets its own result: a string, or
the exception that makes it a batch item failure (its work's, or its job's accounting's), so
partial batch failures stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from qrie.jobs.worker import Delivery, Invocation, Prepared, TaskWorker
from qrie.metering import ContextThreadPool


def account_of(delivery: Delivery) -> str | None:
    """The member account a task message names (None when its body cannot be read: the
    worker records it as a bad message)."""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        return None
    account = body.get("account_id") if isinstance(body, dict) else None
    return account if isinstance(account, str) and account else None


def lanes(deliveries: Sequence[Delivery]) -> list[list[int]]:
    """Indices of the deliveries grouped by account, in their order (unreadable: alone)."""
    groups: dict[str, list[int]] = {}
    for index, delivery in enumerate(deliveries):
        account = account_of(delivery)
        groups.setdefault(account if account is not None else f"#{index}", []).append(index)
    return list(groups.values())


def run_batch(
    worker: TaskWorker,
    deliveries: Sequence[Delivery],
    invocation: Invocation,
    threads: int,
) -> list[str | BaseException]:
    """Work on every delivery (per-account lanes, ``threads`` lanes at a time), then account
    them; one result per delivery, in order."""
    prepared: list[Prepared | None] = [None] * len(deliveries)

    def run(lane: list[int]) -> None:
        for index in lane:
            prepared[index] = worker.prepare(deliveries[index])

    groups = lanes(deliveries)
    if threads <= 1 or len(groups) <= 1:
        for lane in groups:
            run(lane)
    else:
        with ContextThreadPool(
            max_workers=min(threads, len(groups)), thread_name_prefix="qrie-record"
        ) as pool:
            list(pool.map(run, groups))
    done = [p for p in prepared if p is not None]
    return worker.settle(done, invocation)


__all__ = ["account_of", "lanes", "run_batch"]
