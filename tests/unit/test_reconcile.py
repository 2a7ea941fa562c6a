"""The polling service's safety net under duplicated and hostile dead letters."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from qrie.config import Settings
from qrie.domain import Account, TaskKey, TaskKind, TaskOutcome, TaskStatus
from qrie.handlers import job_handler, polling_service
from qrie.handlers.runtime import runtime
from qrie.jobs import reconcile
from qrie.jobs.reconcile import Reconciler
from qrie.queue import TaskQueue
from qrie.store import keys
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack, receive

ACCOUNTS = [f"{300000000000 + i}" for i in range(3)]


def _start(accounts: list[str]) -> str:
    runtime().store.put_accounts(Account(a, name=f"acct-{a[-3:]}") for a in accounts)
    response = job_handler.lambda_handler(
        {"operation": "inventory", "service": "s3", "accounts": accounts},
        LambdaContext("JobHandlerFunction", 120),
    )
    return str(response["job_id"])


def _reconciler() -> Reconciler:
    settings = Settings.from_env()
    return Reconciler(settings, Store(settings.table_name), TaskQueue())


def _task_body(job_id: str, account: str) -> str:
    return json.dumps(
        {"v": 1, "job_id": job_id, "kind": "inventory", "account_id": account, "service": "s3"}
    )


def _past_deadline(job_id: str) -> str:
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=runtime().settings.table_name,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
        UpdateExpression="SET Deadline = :d",
        ExpressionAttributeValues={":d": {"N": "1"}},
    )
    return job_id


def _dlq_depth(stack: Stack) -> int:
    attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=stack.dlq,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_duplicated_dead_letter_is_counted_once_and_the_run_goes_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job whose task reached the DLQ twice (SQS delivers at least once) ...
    dead_job = _start(ACCOUNTS[:2])
    sqs = boto3.client("sqs", region_name=REGION)
    for _ in range(2):
        sqs.send_message(QueueUrl=stack.dlq, MessageBody=_task_body(dead_job, ACCOUNTS[0]))
    # ... and another running job already past its deadline
    late_job = _past_deadline(_start(ACCOUNTS[2:]))

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the dead-lettered task is failed exactly once and both copies leave the DLQ
    store = runtime().store
    task = store.get_task(dead_job, TaskKey(ACCOUNTS[0], TaskKind.INVENTORY, "s3"))
    assert task is not None
    assert (task.status, task.reason) == (TaskStatus.FAILED, "dead-lettered")
    job = store.get_job(dead_job)
    assert job is not None
    assert (job.failed, job.remaining) == (1, 1)
    assert report.dead_lettered == 1
    assert _dlq_depth(stack) == 0
    # AND the other job's deadline was still enforced in the same run
    late = store.get_job(late_job)
    assert late is not None
    assert late.status == "FAILED"
    assert report.timed_out == 1


def test_one_failing_phase_does_not_abort_the_polling_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a dead letter whose accounting write fails unexpectedly, and a job past its deadline
    dead_job = _start(ACCOUNTS[:1])
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=stack.dlq, MessageBody=_task_body(dead_job, ACCOUNTS[0])
    )
    late_job = _past_deadline(_start(ACCOUNTS[1:2]))
    original = Store.complete_tasks

    def flaky(self: Store, job_id: str, outcomes: Any) -> Any:
        if job_id == dead_job:
            raise RuntimeError("simulated DynamoDB outage for one job")
        return original(self, job_id, outcomes)

    monkeypatch.setattr(Store, "complete_tasks", flaky)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the error is counted, the letter stays for the next run, and the deadline phase ran
    assert report.errors >= 1
    assert _dlq_depth(stack) == 1
    late = runtime().store.get_job(late_job)
    assert late is not None
    assert late.status == "FAILED"


# ---------------------------------------------------------------- exact accounting of a run
class Clock:
    """``time.monotonic`` readings in order (the last one repeats), ``time.time`` fixed."""

    def __init__(self, readings: list[float], wall: float | None = None) -> None:
        self.readings = list(readings)
        self.wall = wall

    def monotonic(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def time(self) -> float:
        return time.time() if self.wall is None else self.wall


def _metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    published: dict[str, int] = {}

    def record(name: str, value: int = 1) -> None:
        if value:  # as CloudWatch sees it: a zero count is not published
            published[name] = published.get(name, 0) + value

    monkeypatch.setattr(reconcile, "count", record)
    return published


def _lose_finalization(job_id: str) -> None:
    """The job's counters reached zero but its final status and marker removal were lost."""
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=runtime().settings.table_name,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
        UpdateExpression="SET #st = :running REMOVE FinishedAt",
        ExpressionAttributeNames={"#st": "Status"},
        ExpressionAttributeValues={":running": {"S": "IN_PROGRESS"}},
    )
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=runtime().settings.table_name,
        Item={"PK": {"S": keys.RUNNING_PK}, "SK": {"S": job_id}},
    )


def _complete_all(job_id: str) -> None:
    store = runtime().store
    tasks = [t.key for t in store.iter_tasks(job_id)]
    store.complete_tasks(job_id, [TaskOutcome(k, TaskStatus.SUCCEEDED) for k in tasks])


def test_cancelled_and_late_jobs_are_failed_and_each_counted_exactly(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two cancelled jobs (2 and 1 pending tasks) and two late ones (1 and 2 pending tasks)
    accounts = [f"{310000000000 + i}" for i in range(6)]
    store = runtime().store
    cancelled = [_start(accounts[:2]), _start(accounts[2:3])]
    late = [_past_deadline(_start(accounts[3:4])), _past_deadline(_start(accounts[4:6]))]
    for job_id in cancelled:
        store.mark_cancelled(job_id)
    metrics = _metrics(monkeypatch)

    # WHEN the polling service runs
    report = polling_service.lambda_handler(
        {"source": "aws.events"}, LambdaContext("PollingServiceFunction", 110)
    )

    # THEN every pending task is failed once, with its reason, and each counter is exact
    assert report == {
        "dead_lettered": 0,
        "bad_messages": 0,
        "timed_out": 3,
        "cancelled": 3,
        "finalized": report["finalized"],
        "running": 4,
        "errors": 0,
    }
    assert sorted(report["finalized"]) == sorted(cancelled + late)
    for job_id, reason in [(j, "cancelled") for j in cancelled] + [(j, "timed-out") for j in late]:
        assert {t.reason for t in store.iter_tasks(job_id)} == {reason}
        job = store.get_job(job_id)
        assert job is not None
        assert not job.running
        assert job.remaining == 0
    assert store.running_job_ids() == []
    # AND the metrics say the same
    assert metrics == {"TasksTimedOut": 3}


def test_a_job_at_zero_remaining_is_finalized_by_the_poller(stack: Stack) -> None:
    # GIVEN a job whose tasks all succeeded, but whose finalizing write was lost
    job_id = _start(ACCOUNTS[:2])
    _complete_all(job_id)
    _lose_finalization(job_id)
    store = runtime().store
    assert store.running_job_ids() == [job_id]

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the job gets its final status and finish time, and its marker is gone
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.running) == ("COMPLETED", False)
    assert job.finished_at
    assert report.finalized == [job_id]
    assert (report.cancelled, report.errors) == (0, 0)
    assert store.running_job_ids() == []


def test_a_cancelled_job_with_nothing_pending_cancels_no_task(stack: Stack) -> None:
    # GIVEN a cancelled job whose tasks had all succeeded before its finalization was lost
    job_id = _start(ACCOUNTS[:2])
    _complete_all(job_id)
    _lose_finalization(job_id)
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=runtime().settings.table_name,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
        UpdateExpression="SET Cancelled = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN no task is counted as cancelled, and the job is finalized
    assert report.cancelled == 0
    assert report.finalized == [job_id]
    assert {t.status for t in runtime().store.iter_tasks(job_id)} == {TaskStatus.SUCCEEDED}


def test_a_marker_without_its_job_is_removed_quietly(stack: Stack) -> None:
    # GIVEN a running marker whose job item is gone
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=runtime().settings.table_name,
        Item={"PK": {"S": keys.RUNNING_PK}, "SK": {"S": "inv-s3-20260101T000000Z-90e000"}},
    )

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the marker is removed, without an error and without finalizing anything
    assert (report.running, report.errors, report.finalized) == (1, 0, [])
    assert runtime().store.running_job_ids() == []


def test_a_job_exactly_at_its_deadline_is_not_yet_timed_out(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running job, and a clock reading exactly its deadline
    job_id = _start(ACCOUNTS[:1])
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert job.deadline
    monkeypatch.setattr(reconcile, "time", Clock([0.0], wall=job.deadline))

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN nothing times out yet
    assert report.timed_out == 0
    after = runtime().store.get_job(job_id)
    assert after is not None
    assert after.running

    # WHEN it runs one second later THEN the task times out
    monkeypatch.setattr(reconcile, "time", Clock([0.0], wall=job.deadline + 1))
    assert _reconciler().run(budget_seconds=60).timed_out == 1


@pytest.mark.parametrize(("reading", "checked"), [(1.0, 2), (1.5, 1)])
def test_the_running_phase_stops_once_its_budget_is_spent(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, reading: float, checked: int
) -> None:
    # GIVEN two running jobs, a budget below the one-second floor, and a clock that reads
    # `reading` seconds after the first job was checked
    for account in ACCOUNTS[:2]:
        _start([account])
    monkeypatch.setattr(reconcile, "time", Clock([0.0, 0.0, reading]))

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=0)

    # THEN it checks the next job only while the (one-second) budget is not exceeded
    assert report.running == checked


def test_a_spent_budget_leaves_the_dead_letters_for_the_next_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a dead letter, and a clock already at the end of the one-second budget
    job_id = _start(ACCOUNTS[:1])
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=stack.dlq, MessageBody=_task_body(job_id, ACCOUNTS[0])
    )
    monkeypatch.setattr(reconcile, "time", Clock([0.0, 1.0]))

    # WHEN the polling service runs THEN the letter waits in the queue
    assert _reconciler().run(budget_seconds=0).dead_lettered == 0
    assert _dlq_depth(stack) == 1


def test_each_failing_phase_is_counted_once_and_published(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a queue and a store that both fail as the polling service starts its phases
    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated outage")

    monkeypatch.setattr(TaskQueue, "receive_dead_letters", down)
    monkeypatch.setattr(Store, "running_job_ids", down)
    metrics = _metrics(monkeypatch)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN both failures are counted, and published as PollingErrors
    assert report.errors == 2
    assert metrics == {"PollingErrors": 2}


def test_malformed_and_unknown_dead_letters_are_kept_and_the_rest_accounted(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two malformed dead letters, one of an unknown job, then one each of two real jobs
    # (the second of which has a single task: its dead letter finishes it)
    first, single = _start(ACCOUNTS[:2]), _start(ACCOUNTS[2:3])
    sqs = boto3.client("sqs", region_name=REGION)
    orphan = _task_body("inv-s3-20260101T000000Z-00b0e0", ACCOUNTS[0])
    sent = {}
    for body in [
        "{broken",
        "[]",
        orphan,
        _task_body(first, ACCOUNTS[0]),
        _task_body(single, ACCOUNTS[2]),
    ]:
        sent[body] = sqs.send_message(QueueUrl=stack.dlq, MessageBody=body)["MessageId"]
    metrics = _metrics(monkeypatch)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN each bad letter is recorded once, by message id, as coming from the DLQ
    bad = {b.message_id: b for b in runtime().store.bad_messages()}
    assert set(bad) == {sent["{broken"], sent["[]"], sent[orphan]}
    assert {b.source for b in bad.values()} == {"dlq"}
    unknown = bad[sent[orphan]]
    assert unknown.error == "dead-lettered, unknown job inv-s3-20260101T000000Z-00b0e0"
    assert report.bad_messages == 3
    # AND both real jobs count their dead-lettered task; the single-task job is finished
    assert report.dead_lettered == 2
    assert report.finalized == [single]
    assert (report.errors, _dlq_depth(stack)) == (0, 0)
    assert metrics == {"TasksDeadLettered": 2}


def test_a_job_whose_dead_letters_cannot_be_recorded_does_not_stop_the_others(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN dead letters of three jobs, the first two of which cannot be recorded
    jobs = [_start([account]) for account in ACCOUNTS]
    sqs = boto3.client("sqs", region_name=REGION)
    for job_id, account in zip(jobs, ACCOUNTS, strict=True):
        sqs.send_message(QueueUrl=stack.dlq, MessageBody=_task_body(job_id, account))
    original = Store.complete_tasks

    def flaky(self: Store, job_id: str, outcomes: Any) -> Any:
        if job_id in jobs[:2]:
            raise RuntimeError("simulated DynamoDB outage for one job")
        return original(self, job_id, outcomes)

    monkeypatch.setattr(Store, "complete_tasks", flaky)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN each failure is counted, their letters stay, and the third job's letter is recorded
    assert report.errors == 2
    assert report.dead_lettered == 1
    assert _dlq_depth(stack) == 2


def test_more_dead_letters_than_one_receive_are_all_drained(stack: Stack) -> None:
    # GIVEN 12 dead letters of a 12-account job (a receive returns at most 10)
    accounts = [f"{320000000000 + i}" for i in range(12)]
    job_id = _start(accounts)
    sqs = boto3.client("sqs", region_name=REGION)
    for account in accounts:
        sqs.send_message(QueueUrl=stack.dlq, MessageBody=_task_body(job_id, account))

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN all of them are accounted in the same run and the job is finished
    assert report.dead_lettered == 12
    assert report.finalized == [job_id]
    assert _dlq_depth(stack) == 0


def test_a_dead_lettered_inventory_of_a_refresh_scan_fails_its_scan_too(stack: Stack) -> None:
    # GIVEN a refresh scan whose inventory message was dead-lettered
    runtime().store.put_accounts([Account(ACCOUNTS[0], name="acct")])
    accepted = job_handler.lambda_handler(
        {"operation": "scan", "policy": "s3.*", "accounts": [ACCOUNTS[0]], "refresh": True},
        LambdaContext("JobHandlerFunction", 120),
    )
    body = receive(stack.inventory_queue)[0]["Body"]
    boto3.client("sqs", region_name=REGION).send_message(QueueUrl=stack.dlq, MessageBody=body)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the scan that depended on it fails too, with the inventory's reason
    job_id = str(accepted["job_id"])
    reasons = {t.key.kind: t.reason for t in runtime().store.iter_tasks(job_id)}
    assert reasons == {
        TaskKind.INVENTORY: "dead-lettered",
        TaskKind.SCAN: "inventory-failed: dead-lettered",
    }
    assert report.dead_lettered == 2
    assert report.finalized == [job_id]


def test_without_a_budget_the_running_phase_gets_sixty_seconds(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two running jobs, and a clock reading 60.5 s after the first job was checked
    for account in ACCOUNTS[:2]:
        _start([account])
    monkeypatch.setattr(reconcile, "time", Clock([0.0, 0.0, 60.5]))
    # WHEN the polling service runs with its default budget THEN it stops after the first job
    assert _reconciler().run().running == 1


def test_a_job_whose_check_fails_does_not_stop_the_next(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two running jobs past their deadline, the first of which cannot be read
    jobs = [_past_deadline(_start([account])) for account in ACCOUNTS[:2]]
    broken = runtime().store.running_job_ids()[0]
    original = Store.get_job

    def get_job(self: Store, job_id: str) -> Any:
        if job_id == broken:
            raise RuntimeError("simulated read failure")
        return original(self, job_id)

    monkeypatch.setattr(Store, "get_job", get_job)

    # WHEN the polling service runs
    report = _reconciler().run(budget_seconds=60)

    # THEN the failure is counted once, and the other job still times out
    assert (report.errors, report.running, report.timed_out) == (1, 2, 1)
    assert report.finalized == [j for j in jobs if j != broken]
