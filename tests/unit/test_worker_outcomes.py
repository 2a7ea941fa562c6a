"""What the worker answers for each record, what it counts, and how long it asks SQS to wait:
a cancelled or finished job's task, a redelivery, a transient failure, a misrouted message."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qrie.domain import GLOBAL, Account, Resource, TaskKey, TaskKind, TaskOutcome, TaskStatus
from qrie.handlers import job_handler
from qrie.handlers.runtime import runtime
from qrie.jobs import worker as worker_module
from qrie.jobs.worker import Delivery, RetryLater, TaskWorker
from qrie.queue import TaskQueue
from qrie_local.events import LambdaContext
from tests.support import Stack, onboard, receive

ACCOUNTS = ["220000000001", "220000000002"]


class Collector:
    """Lists one bucket, or throttles; counts its calls."""

    def __init__(self, service: str, throttle: bool = False) -> None:
        self.service = service
        self.throttle = throttle
        self.calls = 0

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return [GLOBAL]

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        self.calls += 1
        if self.throttle:
            raise ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "reduce your request rate"},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "ListBuckets",
            )
        yield Resource("arn:aws:s3:::given", session.account_id, "s3", "s3.bucket", scope, {})


def start(operation: str = "inventory", **request: Any) -> str:
    runtime().store.put_accounts(Account(a) for a in ACCOUNTS)
    event = {"operation": operation, "accounts": ACCOUNTS, **request}
    if operation == "inventory":
        event["service"] = "s3"
    response = job_handler.lambda_handler(event, LambdaContext("JobHandlerFunction", 120))
    return str(response["job_id"])


def make_worker(collector: Collector, kind: TaskKind = TaskKind.INVENTORY, **settings: Any) -> Any:
    current = runtime()
    return TaskWorker(
        dataclasses.replace(current.settings, **settings),
        current.store,
        current.queue,
        current.sessions,
        kind,
        collectors=lambda _service: collector,
    )


def delivery_of(message: dict[str, Any], url: str, receive_count: int = 1) -> Delivery:
    return Delivery(
        message["MessageId"], message["Body"], receive_count, message["ReceiptHandle"], url
    )


def first_message(stack: Stack, url: str | None = None) -> dict[str, Any]:
    messages = sorted(receive(url or stack.inventory_queue), key=lambda m: m["Body"])
    return messages[0]


def metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    published: dict[str, int] = {}

    def record(name: str, value: int = 1) -> None:
        if value:
            published[name] = published.get(name, 0) + value

    monkeypatch.setattr(worker_module, "count", record)
    return published


def key_of(account: str) -> TaskKey:
    return TaskKey(account, TaskKind.INVENTORY, "s3")


def test_a_cancelled_jobs_task_is_skipped_without_any_work(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running job flagged cancelled, and one of its task messages
    onboard(ACCOUNTS)
    job_id = start()
    assert runtime().store.mark_cancelled(job_id) is not None
    collector, counted = Collector("s3"), metrics(monkeypatch)
    # WHEN the worker gets the message
    result = make_worker(collector).process(
        delivery_of(first_message(stack), stack.inventory_queue)
    )
    # THEN it is skipped: nothing collected, nothing counted on the job
    assert result == "skipped"
    assert collector.calls == 0
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.succeeded, job.failed, job.remaining) == (0, 0, 2)
    assert counted == {"TasksSkipped": 1}


def test_a_finished_jobs_task_is_skipped_without_any_work(stack: Stack) -> None:
    # GIVEN a job whose tasks all ended, and a (late) message of one of them
    onboard(ACCOUNTS)
    job_id = start()
    message = first_message(stack)
    store = runtime().store
    store.complete_tasks(job_id, [TaskOutcome.failed(key_of(a), "cancelled") for a in ACCOUNTS])
    collector = Collector("s3")
    # WHEN the worker gets it (first receive) THEN it is skipped before any work
    result = make_worker(collector).process(delivery_of(message, stack.inventory_queue))
    assert (result, collector.calls) == ("skipped", 0)


@pytest.mark.parametrize(("receive_count", "calls"), [(1, 1), (2, 0)])
def test_a_redelivered_task_already_ended_is_skipped_before_any_work(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, receive_count: int, calls: int
) -> None:
    # GIVEN a running 2-task job whose first task already succeeded
    onboard(ACCOUNTS)
    job_id = start()
    message = first_message(stack)
    runtime().store.complete_tasks(job_id, [TaskOutcome(key_of(ACCOUNTS[0]), TaskStatus.SUCCEEDED)])
    collector, counted = Collector("s3"), metrics(monkeypatch)
    # WHEN that task's message arrives (again)
    result = make_worker(collector).process(
        delivery_of(message, stack.inventory_queue, receive_count)
    )
    # THEN it is skipped and counted once: a redelivery is checked before the work, a first
    # delivery by the accounting
    assert result == "skipped"
    assert collector.calls == calls
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.succeeded, job.remaining) == (1, 1)
    assert counted.get("TasksSkipped") == 1


def test_a_redelivered_pending_task_runs_and_succeeds(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a pending task delivered for the second time
    onboard(ACCOUNTS)
    job_id = start()
    collector, counted = Collector("s3"), metrics(monkeypatch)
    # WHEN the worker gets it THEN it runs and succeeds, with its receive count as attempts
    message = first_message(stack)
    result = make_worker(collector).process(delivery_of(message, stack.inventory_queue, 2))
    assert (result, collector.calls) == ("succeeded", 1)
    task = runtime().store.get_task(job_id, key_of(ACCOUNTS[0]))
    assert task is not None
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 2)
    assert counted["TasksSucceeded"] == 1
    assert "TasksSkipped" not in counted


@pytest.mark.parametrize("receive_count", [1, 2])
def test_a_transient_failure_asks_sqs_to_wait_its_backoff(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, receive_count: int
) -> None:
    # GIVEN a throttled collector, retries based on 40 s and capped at 60 s
    onboard(ACCOUNTS)
    job_id = start()
    asked: list[tuple[int, int, int]] = []
    delays: list[tuple[str, str, int]] = []

    def backoff(count: int, base: int, cap: int) -> int:
        asked.append((count, base, cap))
        return 17

    monkeypatch.setattr(worker_module, "backoff_seconds", backoff)
    monkeypatch.setattr(
        TaskQueue, "delay", lambda self, url, handle, delay: delays.append((url, handle, delay))
    )
    counted = metrics(monkeypatch)
    worker = make_worker(
        Collector("s3", throttle=True), retry_base_seconds=40, max_retry_seconds=60
    )
    message = first_message(stack)
    # WHEN its message arrives before the last allowed receive (3)
    with pytest.raises(RetryLater):
        worker.process(delivery_of(message, stack.inventory_queue, receive_count))
    # THEN the backoff of this receive is asked for, and the message hidden for that long
    assert asked == [(receive_count, 40, 60)]
    assert delays == [(stack.inventory_queue, message["ReceiptHandle"], 17)]
    assert counted == {"TasksRetried": 1}
    task = runtime().store.get_task(job_id, key_of(ACCOUNTS[0]))
    assert task is not None
    assert task.status == TaskStatus.PENDING


def test_a_misrouted_task_of_a_running_job_fails_once_with_its_dependents(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a refresh scan: its inventory message delivered to the scan worker by mistake
    job_id = start("scan", policy="s3.*", refresh=True)
    message = first_message(stack)
    counted = metrics(monkeypatch)
    scan_worker = make_worker(Collector("s3"), TaskKind.SCAN)
    # WHEN the scan worker gets it
    result = scan_worker.process(delivery_of(message, stack.inventory_queue))
    # THEN it is recorded as a bad message, its task and that task's scan fail, counted once
    assert result == "bad-message"
    reason = "wrong queue: a inventory task on the scan queue"
    account = message["Body"].split('"account_id":"')[1][:12]
    tasks = {t.key: (t.status, t.reason) for t in runtime().store.iter_tasks(job_id)}
    assert tasks[key_of(account)] == (TaskStatus.FAILED, reason)
    assert tasks[TaskKey(account, TaskKind.SCAN, "s3")] == (
        TaskStatus.FAILED,
        f"inventory-failed: {reason}",
    )
    [bad] = runtime().store.bad_messages()
    assert bad.error == f"malformed task message: {reason}"
    assert counted == {"BadMessages": 1, "TasksFailed": 1}


def test_a_scan_without_a_successful_inventory_fails_not_inventoried(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scan job of an account never inventoried
    job_id = start("scan", policy="s3.*")
    counted = metrics(monkeypatch)
    # WHEN the scan worker gets its task
    result = make_worker(Collector("s3"), TaskKind.SCAN).process(
        delivery_of(first_message(stack, stack.scan_queue), stack.scan_queue)
    )
    # THEN it fails at once: an account is never scanned clean without evidence
    assert result == "failed"
    [(status, reason)] = {
        (t.status, t.reason) for t in runtime().store.iter_tasks(job_id) if t.reason
    }
    assert status == TaskStatus.FAILED
    assert reason == (
        "not-inventoried: no successful s3 inventory of this account; "
        "run an inventory (or scan with refresh) first"
    )
    assert counted == {"TasksFailed": 1}


def test_a_refresh_inventory_enqueues_its_scan_which_then_runs(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a refresh scan of one onboarded account's S3 policies
    onboard(ACCOUNTS)
    job_id = start("scan", policy="s3.*", refresh=True)
    message = first_message(stack)
    account = message["Body"].split('"account_id":"')[1][:12]
    # WHEN its inventory runs
    assert make_worker(Collector("s3")).process(delivery_of(message, stack.inventory_queue)) == (
        "succeeded"
    )
    # THEN its scan is enqueued, with the job's policy and no further scan to enqueue
    [scan] = receive(stack.scan_queue)
    assert scan["Body"] == (
        f'{{"v":1,"job_id":"{job_id}","kind":"scan","account_id":"{account}",'
        '"service":"s3","policy":"s3.*"}'
    )
    # AND the scan worker runs it against the inventory, counting what it evaluated
    counted = metrics(monkeypatch)
    result = make_worker(Collector("s3"), TaskKind.SCAN).process(
        delivery_of(scan, stack.scan_queue)
    )
    assert result == "succeeded"
    task = runtime().store.get_task(job_id, TaskKey(account, TaskKind.SCAN, "s3"))
    assert task is not None
    assert task.status == TaskStatus.SUCCEEDED
    assert task.counts["evaluated"] > 0
    coverage = runtime().store.get_coverage(account, TaskKind.SCAN, "s3")
    assert coverage is not None
    assert coverage.succeeded
    assert counted["TasksSucceeded"] == 1
