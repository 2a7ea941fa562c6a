"""A large job's task items spread over several partition keys: written, read, counted as one."""

from __future__ import annotations

import boto3
import pytest

from qrie.aws import Clients
from qrie.domain import Job, JobStatus, TaskKey, TaskKind, TaskOutcome, TaskStatus
from qrie.store import keys
from qrie.store.table import Store
from tests.support import REGION, Stack

JOB_ID = "inv-all-20260101T000000Z-abcdef"


def task_keys(n: int) -> list[TaskKey]:
    return [
        TaskKey(f"{700000000000 + i}", TaskKind.INVENTORY, s)
        for i in range(n // 3)
        for s in ("ec2", "iam", "s3")
    ]


def job(total: int) -> Job:
    return Job(
        JOB_ID,
        TaskKind.INVENTORY,
        JobStatus.IN_PROGRESS,
        total=total,
        remaining=total,
        created_at="2026-01-01T00:00:00.000000Z",
        deadline=1_900_000_000,
        expires_at=1_900_000_000,
    )


def partition_keys(stack: Stack) -> set[str]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    items = ddb.scan(TableName=stack.table)["Items"]
    return {i["PK"]["S"] for i in items if i["SK"]["S"].startswith(keys.TASK_PREFIX)}


def test_a_large_jobs_tasks_spread_over_shards_and_read_back_in_order(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 4 tasks per shard, and a job of 30 tasks
    monkeypatch.setattr(keys, "TASKS_PER_SHARD", 4)
    tasks = task_keys(30)
    written = Store(stack.table, Clients()).create_job(job(30), tasks)
    # THEN the job records 8 shards and its task items live under 8 partition keys
    assert written.task_shards == 8
    assert partition_keys(stack) == {keys.task_shard_pk(JOB_ID, n) for n in range(8)}
    # AND a fresh store (another execution environment) reads them all back, in task order,
    # gets one, and accounts them all exactly once
    other = Store(stack.table, Clients())
    assert [t.key for t in other.iter_tasks(JOB_ID)] == sorted(tasks)
    task = other.get_task(JOB_ID, tasks[7])
    assert task is not None
    assert task.status is TaskStatus.PENDING
    result = other.complete_tasks(JOB_ID, [TaskOutcome(k, TaskStatus.SUCCEEDED) for k in tasks] * 2)
    assert result.final_status == "COMPLETED"
    final = other.get_job(JOB_ID)
    assert final is not None
    assert (final.succeeded, final.remaining, final.task_shards) == (30, 0, 8)
    assert [t.status for t in other.iter_tasks(JOB_ID, TaskStatus.SUCCEEDED)] == [
        TaskStatus.SUCCEEDED
    ] * 30


def test_a_small_job_keeps_its_tasks_beside_the_job_item(stack: Stack) -> None:
    # GIVEN a job of 6 tasks (one shard) THEN its task items share the job's partition key
    written = Store(stack.table, Clients()).create_job(job(6), task_keys(6))
    assert written.task_shards == 1
    assert partition_keys(stack) == {keys.job_pk(JOB_ID)}


@pytest.mark.parametrize(("tasks", "shards"), [(1, 1), (1000, 1), (1001, 2), (150_000, 32)])
def test_shards_grow_with_the_job_up_to_a_bound(tasks: int, shards: int) -> None:
    assert keys.task_shards(tasks) == shards
