"""The store's accounting on moto: each task counted exactly once, across transaction chunks,
conflicts and retries; a job finalized once, by its last task or by the polling service."""

from __future__ import annotations

import types
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qrie import aws
from qrie.domain import Account, Job, JobStatus, TaskKey, TaskKind, TaskOutcome, TaskStatus
from qrie.handlers import job_handler
from qrie.handlers.runtime import runtime
from qrie.store import keys, table
from qrie.store.dynamo import Dynamo
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack


def start(accounts: list[str], service: str = "*") -> str:
    runtime().store.put_accounts(Account(a, name=f"acct-{a[-3:]}") for a in accounts)
    response = job_handler.lambda_handler(
        {"operation": "inventory", "service": service, "accounts": accounts},
        LambdaContext("JobHandlerFunction", 120),
    )
    return str(response["job_id"])


def accounts(n: int, first: int = 400000000000) -> list[str]:
    return [str(first + i) for i in range(n)]


def job(store: Store, job_id: str) -> Job:
    found = store.get_job(job_id)
    assert found is not None
    return found


def keys_of(store: Store, job_id: str) -> list[TaskKey]:
    return sorted(t.key for t in store.iter_tasks(job_id))


def reopen(stack: Stack, job_id: str, **counters: int) -> None:
    """The job as if its finalizing write had been lost: running again, its marker back, and
    the given counters."""
    sets = ", ".join(f"{name} = :{name}" for name in counters)
    client = boto3.client("dynamodb", region_name=REGION)
    client.update_item(
        TableName=stack.table,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
        UpdateExpression=f"SET #st = :running{', ' if sets else ''}{sets} REMOVE FinishedAt",
        ExpressionAttributeNames={"#st": "Status"},
        ExpressionAttributeValues={
            ":running": {"S": "IN_PROGRESS"},
            **{f":{name}": {"N": str(value)} for name, value in counters.items()},
        },
    )
    client.put_item(TableName=stack.table, Item={"PK": {"S": keys.RUNNING_PK}, "SK": {"S": job_id}})


def failing_once(monkeypatch: pytest.MonkeyPatch, code: str) -> list[int]:
    """The next transaction fails with ``code`` (once); returns the backoff attempts seen."""
    original = Dynamo.transact
    calls = {"n": 0}

    def transact(self: Dynamo, actions: list[dict[str, Any]]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "TransactWrite")
        return original(self, actions)

    monkeypatch.setattr(Dynamo, "transact", transact)
    attempts: list[int] = []
    monkeypatch.setattr(table, "backoff", lambda attempt, **_kw: attempts.append(attempt))
    return attempts


# ---------------------------------------------------------------- finalize_if_done
def test_the_poller_finalizes_a_job_at_zero_remaining(stack: Stack) -> None:
    # GIVEN a 3-task job whose tasks all ended (2 succeeded, 1 failed) but whose final write
    # was lost
    store = Store(stack.table)
    job_id = start(accounts(3), "s3")
    tasks = keys_of(store, job_id)
    store.complete_tasks(
        job_id,
        [TaskOutcome(tasks[0], TaskStatus.FAILED, "boom")]
        + [TaskOutcome(k, TaskStatus.SUCCEEDED) for k in tasks[1:]],
    )
    reopen(stack, job_id)
    assert job(store, job_id).running

    # WHEN the safety net runs
    status = store.finalize_if_done(job_id)

    # THEN the job gets its final status and finish time, and its marker is gone
    assert status == JobStatus.COMPLETED_WITH_ERRORS
    final = job(store, job_id)
    assert (final.status, final.running) == (JobStatus.COMPLETED_WITH_ERRORS, False)
    assert final.finished_at
    assert store.running_job_ids() == []
    # AND a second run finds nothing to do
    assert store.finalize_if_done(job_id) is None


def test_the_poller_finalizes_a_job_whose_tasks_all_failed_as_failed(stack: Stack) -> None:
    # GIVEN a 2-task job whose tasks both failed, its final write lost
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    store.complete_tasks(job_id, [TaskOutcome.failed(k, "boom") for k in keys_of(store, job_id)])
    reopen(stack, job_id)
    # WHEN the safety net runs THEN the job is FAILED
    assert store.finalize_if_done(job_id) == JobStatus.FAILED
    assert job(store, job_id).status == JobStatus.FAILED


def test_the_poller_leaves_a_job_with_one_task_remaining(stack: Stack) -> None:
    # GIVEN a running 2-task job with one task done
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    store.complete_tasks(job_id, [TaskOutcome(keys_of(store, job_id)[0], TaskStatus.SUCCEEDED)])
    # WHEN the safety net runs THEN nothing changes
    assert store.finalize_if_done(job_id) is None
    after = job(store, job_id)
    assert (after.running, after.remaining, after.finished_at) == (True, 1, None)
    assert store.running_job_ids() == [job_id]


def test_a_marker_of_a_finished_or_missing_job_is_removed(stack: Stack) -> None:
    # GIVEN a finished job whose marker lingers, and a marker without any job
    store = Store(stack.table)
    job_id = start(accounts(1), "s3")
    store.complete_tasks(job_id, [TaskOutcome(keys_of(store, job_id)[0], TaskStatus.SUCCEEDED)])
    gone = "inv-s3-20260101T000000Z-000000"
    client = boto3.client("dynamodb", region_name=REGION)
    for marker in (job_id, gone):
        client.put_item(
            TableName=stack.table, Item={"PK": {"S": keys.RUNNING_PK}, "SK": {"S": marker}}
        )
    # WHEN the safety net runs for each THEN both markers are removed and nothing is finalized
    assert store.finalize_if_done(job_id) is None
    assert store.finalize_if_done(gone) is None
    assert store.running_job_ids() == []
    assert job(store, job_id).status == JobStatus.COMPLETED


def test_a_job_finalized_meanwhile_is_not_finalized_twice(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job at zero remaining, read as running, but finalized by its last task meanwhile
    store = Store(stack.table)
    job_id = start(accounts(1), "s3")
    stale = job(store, job_id)
    store.complete_tasks(job_id, [TaskOutcome(keys_of(store, job_id)[0], TaskStatus.FAILED)])
    finished = job(store, job_id)
    monkeypatch.setattr(
        Store, "get_job", lambda self, _id: Job(**{**stale.__dict__, "remaining": 0})
    )
    # WHEN the safety net runs THEN its conditional write fails quietly: nothing changes
    assert store.finalize_if_done(job_id) is None
    monkeypatch.undo()
    assert job(store, job_id) == finished


# ---------------------------------------------------------------- complete_tasks
def test_more_tasks_than_one_transaction_each_counted_once(stack: Stack) -> None:
    # GIVEN a 210-task job (3 transactions of at most 98) where 30 tasks, spread over all three
    # chunks, already ended
    store = Store(stack.table)
    job_id = start(accounts(70))
    tasks = keys_of(store, job_id)
    assert len(tasks) == 210
    done = tasks[::7]
    store.complete_tasks(job_id, [TaskOutcome(k, TaskStatus.SUCCEEDED) for k in done])

    # WHEN every task is failed in one call, one of them named twice
    result = store.complete_tasks(
        job_id, [TaskOutcome.failed(k, "cancelled") for k in [*tasks, tasks[1]]]
    )

    # THEN the 30 are skipped, the 180 others applied once, and the job finalized once
    assert sorted(result.skipped) == done
    assert sorted(result.applied) == sorted(set(tasks) - set(done))
    assert result.final_status == JobStatus.COMPLETED_WITH_ERRORS
    final = job(store, job_id)
    assert (final.succeeded, final.failed, final.remaining) == (30, 180, 0)
    assert final.status == JobStatus.COMPLETED_WITH_ERRORS
    assert store.running_job_ids() == []


def test_the_first_outcome_of_a_task_named_twice_wins(stack: Stack) -> None:
    # GIVEN a 2-task job
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    first, second = keys_of(store, job_id)
    # WHEN one task is reported succeeded, then failed, in the same call
    result = store.complete_tasks(
        job_id, [TaskOutcome(first, TaskStatus.SUCCEEDED), TaskOutcome.failed(first, "late")]
    )
    # THEN it is counted once, as succeeded
    assert (result.applied, result.skipped, result.final_status) == ([first], [], None)
    task = store.get_task(job_id, first)
    assert task is not None
    assert task.status == TaskStatus.SUCCEEDED
    assert (job(store, job_id).succeeded, job(store, job_id).remaining) == (1, 1)
    assert second not in result.applied


def test_an_unknown_job_stops_at_the_first_transaction(stack: Stack) -> None:
    # GIVEN 150 outcomes of a job that does not exist
    outcomes = [
        TaskOutcome(TaskKey(a, TaskKind.INVENTORY, "s3"), TaskStatus.SUCCEEDED)
        for a in accounts(150)
    ]
    # WHEN they are recorded
    result = Store(stack.table).complete_tasks("inv-s3-20260101T000000Z-abcdef", outcomes)
    # THEN the job is not found after the first chunk of 98, and nothing is applied
    assert not result.job_found
    assert (result.applied, len(result.skipped)) == ([], 98)


@pytest.mark.parametrize("code", ["TransactionConflictException", "ThrottlingException"])
def test_a_conflict_once_is_retried_and_the_task_counted_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    # GIVEN a 2-task job, and DynamoDB refusing the next transaction once with `code`
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    first = keys_of(store, job_id)[0]
    attempts = failing_once(monkeypatch, code)
    # WHEN a task completes
    result = store.complete_tasks(job_id, [TaskOutcome(first, TaskStatus.SUCCEEDED)])
    # THEN it is retried after one backoff and counted exactly once
    assert attempts == [0]
    assert (result.applied, result.skipped) == ([first], [])
    after = job(store, job_id)
    assert (after.succeeded, after.failed, after.remaining) == (1, 0, 1)
    assert after.updated_at


def test_another_dynamodb_error_is_raised_not_retried(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DynamoDB refusing the next transaction as invalid
    store = Store(stack.table)
    job_id = start(accounts(1), "s3")
    attempts = failing_once(monkeypatch, "ValidationException")
    # WHEN a task completes THEN the error is raised at once, and nothing is counted
    with pytest.raises(ClientError):
        store.complete_tasks(job_id, [TaskOutcome(keys_of(store, job_id)[0], TaskStatus.FAILED)])
    assert attempts == []
    assert job(store, job_id).remaining == 1


def test_a_task_records_its_reason_bounded_its_counts_and_attempts(stack: Stack) -> None:
    # GIVEN a 1-task job
    store = Store(stack.table)
    job_id = start(accounts(1), "s3")
    key = keys_of(store, job_id)[0]
    # WHEN it fails with a 600-character reason, counts and its receive count
    outcome = TaskOutcome(key, TaskStatus.FAILED, "x" * 600, 3, {"resource_count": 7})
    result = store.complete_tasks(job_id, [outcome])
    # THEN the reason is cut at 500 characters, and the counts and attempts are kept
    task = store.get_task(job_id, key)
    assert task is not None
    assert (task.status, task.reason, task.attempts) == (TaskStatus.FAILED, "x" * 500, 3)
    assert dict(task.counts) == {"resource_count": 7}
    assert task.ended_at
    assert result.final_status == JobStatus.FAILED


def test_the_last_task_of_a_cancelled_job_finalizes_it_cancelled(stack: Stack) -> None:
    # GIVEN a running 2-task job, flagged cancelled, one task done
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    first, last = keys_of(store, job_id)
    store.complete_tasks(job_id, [TaskOutcome(first, TaskStatus.SUCCEEDED)])
    flagged = store.mark_cancelled(job_id)
    assert flagged is not None
    assert flagged.cancelled
    assert flagged.updated_at
    # WHEN its last task is failed as cancelled
    result = store.complete_tasks(job_id, [TaskOutcome.failed(last, "cancelled")])
    # THEN the job is final, CANCELLED, and a cancel of a finished job finds nothing to flag
    assert result.final_status == JobStatus.CANCELLED
    assert job(store, job_id).status == JobStatus.CANCELLED
    assert store.mark_cancelled(job_id) is None


@pytest.mark.parametrize(
    "reasons",
    [
        [{"Code": "TransactionConflict"}, {"Code": "None"}],  # a concurrent transaction
        None,  # a cancellation DynamoDB did not explain
    ],
    ids=["conflict", "no-reasons"],
)
def test_a_transaction_cancelled_by_a_conflict_is_retried_and_counted_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, reasons: list[dict[str, str]] | None
) -> None:
    # GIVEN a 2-task job, and DynamoDB cancelling the next transaction once, for a reason
    # other than a condition
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    first = keys_of(store, job_id)[0]
    original = Dynamo.transact
    calls = {"n": 0}

    def transact(self: Dynamo, actions: list[dict[str, Any]]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            error: dict[str, Any] = {"Error": {"Code": "TransactionCanceledException"}}
            if reasons is not None:
                error["CancellationReasons"] = reasons
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        return original(self, actions)

    monkeypatch.setattr(Dynamo, "transact", transact)
    attempts: list[int] = []
    monkeypatch.setattr(table, "backoff", lambda attempt, **_kw: attempts.append(attempt))
    # WHEN a task completes
    result = store.complete_tasks(job_id, [TaskOutcome(first, TaskStatus.SUCCEEDED)])
    # THEN it is retried after one backoff and counted exactly once
    assert (attempts, calls["n"]) == ([0], 2)
    assert (result.applied, result.skipped, result.job_found) == ([first], [], True)
    after = job(store, job_id)
    assert (after.succeeded, after.failed, after.remaining) == (1, 0, 1)


def test_a_job_counting_fewer_remaining_than_pending_gives_up_after_bounded_retries(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 2-task job whose Remaining counter says 0 though both tasks are pending (a
    # counter broken by hand or by a bug), and a clock that does not really sleep
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    first = keys_of(store, job_id)[0]
    reopen(stack, job_id, Remaining=0)
    waits: list[float] = []
    monkeypatch.setattr(aws, "time", types.SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(aws, "random", types.SimpleNamespace(uniform=lambda _lo, hi: hi))

    # WHEN a task completes THEN the store gives up, naming the job and the outcomes, after
    # 60 attempts spaced by short waits (10 ms doubling, at most 2 s: about 106 s at worst)
    with pytest.raises(RuntimeError, match=f"could not record 1 task outcomes of job {job_id}"):
        store.complete_tasks(job_id, [TaskOutcome(first, TaskStatus.SUCCEEDED)])
    assert len(waits) == table.MAX_TXN_ATTEMPTS == 60
    assert waits[:3] == [0.01, 0.02, 0.04]
    assert sum(waits) == pytest.approx(0.01 * (2**8 - 1) + 2.0 * (60 - 8))
    # AND nothing was counted: the task is pending, the job as it was
    task = store.get_task(job_id, first)
    assert task is not None
    assert task.status is TaskStatus.PENDING
    after = job(store, job_id)
    assert (after.succeeded, after.failed, after.remaining) == (0, 0, 0)


@pytest.mark.parametrize("last", [TaskStatus.SUCCEEDED, TaskStatus.FAILED])
def test_the_last_tasks_outcome_counts_in_the_final_status(stack: Stack, last: TaskStatus) -> None:
    # GIVEN a 3-task job, one task succeeded and one failed
    store = Store(stack.table)
    job_id = start(accounts(3), "s3")
    done_ok, done_bad, final_task = keys_of(store, job_id)
    store.complete_tasks(
        job_id, [TaskOutcome(done_ok, TaskStatus.SUCCEEDED), TaskOutcome.failed(done_bad, "x")]
    )
    # WHEN the last task ends (succeeded, or failed)
    result = store.complete_tasks(job_id, [TaskOutcome(final_task, last, "")])
    # THEN the job is final, with errors either way (its counters say so), and it finished
    # and was last updated when the last task ended
    assert result.final_status == JobStatus.COMPLETED_WITH_ERRORS
    final = job(store, job_id)
    succeeded = 2 if last is TaskStatus.SUCCEEDED else 1
    assert (final.succeeded, final.failed, final.remaining) == (succeeded, 3 - succeeded, 0)
    assert final.status == JobStatus.COMPLETED_WITH_ERRORS
    task = store.get_task(job_id, final_task)
    assert task is not None
    assert task.ended_at is not None
    assert final.finished_at == final.updated_at == task.ended_at
    assert store.running_job_ids() == []


def test_a_job_deleted_while_its_outcomes_are_recorded_reports_them_all_skipped(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 3-task job, one task already ended, whose job item is deleted (it expired)
    # right after the first transaction recording the others is refused
    store = Store(stack.table)
    job_id = start(accounts(3), "s3")
    ended, *pending = keys_of(store, job_id)
    store.complete_tasks(job_id, [TaskOutcome(ended, TaskStatus.SUCCEEDED)])
    original = Dynamo.transact

    def transact(self: Dynamo, actions: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return original(self, actions)
        finally:
            boto3.client("dynamodb", region_name=REGION).delete_item(
                TableName=stack.table, Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": "JOB"}}
            )

    monkeypatch.setattr(Dynamo, "transact", transact)
    # WHEN all three are failed in one call
    result = store.complete_tasks(
        job_id, [TaskOutcome.failed(k, "late") for k in keys_of(store, job_id)]
    )
    # THEN the job is not found, and every outcome is reported skipped (the ended one too),
    # none applied
    assert not result.job_found
    assert result.applied == []
    assert sorted(result.skipped) == sorted([ended, *pending])
    assert all(t.status is TaskStatus.PENDING for t in store.iter_tasks(job_id) if t.key != ended)


@pytest.mark.parametrize(
    ("outcomes", "cancel", "status"),
    [
        ([TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED], False, JobStatus.COMPLETED),
        ([TaskStatus.SUCCEEDED, TaskStatus.FAILED], True, JobStatus.CANCELLED),
    ],
    ids=["all-succeeded", "cancelled"],
)
def test_the_poller_finalizes_a_job_by_its_counters(
    stack: Stack, outcomes: list[TaskStatus], cancel: bool, status: JobStatus
) -> None:
    # GIVEN a 2-task job whose tasks ended (after a cancel, or not), its final write lost
    store = Store(stack.table)
    job_id = start(accounts(2), "s3")
    if cancel:
        assert store.mark_cancelled(job_id) is not None
    store.complete_tasks(
        job_id,
        [TaskOutcome(k, s, "") for k, s in zip(keys_of(store, job_id), outcomes, strict=True)],
    )
    reopen(stack, job_id)
    # WHEN the safety net runs THEN the job gets the status its counters give
    assert store.finalize_if_done(job_id) == status
    assert job(store, job_id).status == status
