"""The usage the store's accounting transaction puts on a task: its own item's write units as
DynamoDB sizes the item it stores (right at the 1 KB boundary), the job item's and the running
marker's share as the local AWS reports them, and outcomes with and without usage mixed."""

from __future__ import annotations

import types
from typing import Any

import boto3
import pytest

from qrie.aws import Clients
from qrie.domain import JobStatus, TaskKey, TaskKind, TaskOutcome, TaskStatus, Usage
from qrie.metering import metered
from qrie.store import items, keys, sizes, table
from qrie.store.table import Store
from tests.support import REGION, Stack
from tests.unit.test_usage import JOB_ID, new_job

# The accounting sizes a task item as it will be, its expiry read from the clock: the clock
# stands at the test job's expiry second (DynamoDB sizes a number by its digits).
CLOCK = 1_900_000_000.0
REASON_AT_1KB = 402  # the reason length that brings the test's task items to about 1 KB


def stored_item(stack: Stack, store: Store, key: TaskKey) -> dict[str, Any]:
    """The task item exactly as the table holds it."""
    shards = store._shards(JOB_ID)
    ddb = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    got = ddb.get_item(Key={"PK": items.task_pk(JOB_ID, key, shards), "SK": items.task_sk(key)})
    item: dict[str, Any] = got["Item"]
    return item


def worker_usage(services: int) -> Usage:
    """What a worker measured: calls to ``services`` services, time and memory."""
    return Usage(
        ms=1234.5,
        mb_ms=1234.5 * 512,
        invocations=0.1,
        requests={f"svc{i:02d}.DescribeEverything": 3.0 for i in range(services)},
        tasks=1,
    )


def test_each_task_pays_the_write_units_of_the_item_it_leaves_at_the_1kb_boundary(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sharded job of 48 tasks (a shard per 8), and its workers' outcomes: each with
    # the same usage, counts and receive count, and a reason one character longer than the
    # last, so that the task items the accounting leaves straddle 1 KB
    monkeypatch.setattr(keys, "TASKS_PER_SHARD", 8)
    monkeypatch.setattr(table, "time", types.SimpleNamespace(time=lambda: CLOCK))
    store = Store(stack.table, Clients())
    tasks = new_job(store, 48)
    outcomes = [
        TaskOutcome(
            k,
            TaskStatus.FAILED,
            "r" * (REASON_AT_1KB - 24 + i),
            2,
            {"resource_count": 12, "evaluated": 34},
            worker_usage(12),
        )
        for i, k in enumerate(tasks)
    ]

    # WHEN they are accounted in one transaction
    store.complete_tasks(JOB_ID, outcomes)

    # THEN each task's write units are its own item's, as stored (two per 1 KB started: the
    # transaction prepares and commits), plus the same share of the job's for every task
    own = [
        sizes.TRANSACTION_FACTOR * sizes.write_units(sizes.item_size(stored_item(stack, store, k)))
        for k in tasks
    ]
    recorded = [store.get_task(JOB_ID, k) for k in tasks]
    paid = [t.usage.write_units for t in recorded if t is not None and t.usage is not None]
    assert len(paid) == 48
    shares = {round(p - o, 6) for p, o in zip(paid, own, strict=True)}
    assert len(shares) == 1, shares
    # AND the items do straddle the boundary: some of one unit, some of two
    assert set(own) == {2, 4}
    assert store._shards(JOB_ID) == 6


def test_the_last_tasks_share_of_a_job_item_grown_past_1kb_is_what_dynamodb_reports(
    stack: Stack,
) -> None:
    # GIVEN a 2-task job read by one execution environment while its item was small
    store = Store(stack.table, Clients())
    first, last = new_job(store, 2)
    store.get_job(JOB_ID)
    # AND another one accounting the first task, whose worker called 38 services: the job
    # item outgrows 1 KB (a usage attribute per service), by less than the last task's usage
    # will add to it
    Store(stack.table, Clients()).complete_tasks(
        JOB_ID, [TaskOutcome(first, TaskStatus.SUCCEEDED, usage=worker_usage(38))]
    )
    ddb = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    job_item = ddb.get_item(Key={"PK": keys.job_pk(JOB_ID), "SK": keys.JOB_SK})["Item"]
    assert 1024 < sizes.item_size(job_item) < 1100

    # WHEN the first environment accounts the last task (it finalizes the job: the job item's
    # write, its index's and the running marker's delete)
    with metered() as meter:
        result = store.complete_tasks(
            JOB_ID, [TaskOutcome(last, TaskStatus.SUCCEEDED, usage=worker_usage(1))]
        )

    # THEN the job is final, and the write units the task carries are what DynamoDB reported
    # for the transaction (its own usage had none)
    assert result.final_status == JobStatus.COMPLETED
    task = store.get_task(JOB_ID, last)
    assert task is not None
    assert task.usage is not None
    assert task.usage.write_units == pytest.approx(meter.usage().write_units)


def test_outcomes_with_and_without_usage_are_accounted_together(stack: Stack) -> None:
    # GIVEN a 3-task job, one task failed by the polling service (no usage), the two others
    # finished by a worker (with usage), all in one call, the unmeasured one first
    store = Store(stack.table, Clients())
    timed_out, *finished = new_job(store, 3)
    outcomes = [
        TaskOutcome.failed(timed_out, "timed-out"),
        *(TaskOutcome(k, TaskStatus.SUCCEEDED, usage=worker_usage(1)) for k in finished),
    ]

    # WHEN they are accounted
    with metered() as meter:
        result = store.complete_tasks(JOB_ID, outcomes)

    # THEN every task is terminal and counted once, the job final
    assert sorted(result.applied) == sorted([timed_out, *finished])
    assert result.final_status == JobStatus.COMPLETED_WITH_ERRORS
    tasks = {t.key: t for t in store.iter_tasks(JOB_ID)}
    assert [tasks[k].status for k in (timed_out, *finished)] == [
        TaskStatus.FAILED,
        TaskStatus.SUCCEEDED,
        TaskStatus.SUCCEEDED,
    ]
    # AND only the measured ones carry usage, splitting the transaction between them: all
    # DynamoDB reported but the unmeasured task's own item (2 units: prepare and commit)
    assert tasks[timed_out].usage is None
    carried = [tasks[k].usage for k in finished]
    assert [u.requests["dynamodb.TransactWriteItems"] for u in carried if u] == [0.5, 0.5]
    assert sum(u.write_units for u in carried if u) == pytest.approx(meter.usage().write_units - 2)
    job = store.get_job(JOB_ID)
    assert job is not None
    assert (job.succeeded, job.failed, job.remaining, job.usage.tasks) == (2, 1, 0, 2)


def test_a_workers_outcomes_for_a_job_that_is_gone_are_skipped(stack: Stack) -> None:
    # GIVEN a worker's measured outcomes for a job that does not exist (expired, deleted)
    store = Store(stack.table, Clients())
    gone = [TaskKey(f"{800000000000 + i}", TaskKind.INVENTORY, "s3") for i in range(2)]
    outcomes = [TaskOutcome(k, TaskStatus.SUCCEEDED, usage=worker_usage(3)) for k in gone]
    # WHEN they are accounted
    result = store.complete_tasks(JOB_ID, outcomes)
    # THEN the job is not found, every outcome is skipped and nothing is written
    assert not result.job_found
    assert (result.applied, result.skipped) == ([], gone)
    assert store.get_job(JOB_ID) is None
    assert list(store.iter_tasks(JOB_ID)) == []
