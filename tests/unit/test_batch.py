"""A batch of records in one invocation: worked on concurrently (one account at a time),
accounted in one transaction per job, failures reported per record, usage recorded per task."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from qrie import metering
from qrie.domain import GLOBAL, Account, Resource, TaskKey, TaskKind, TaskStatus
from qrie.handlers import inventory_worker, job_handler
from qrie.handlers.runtime import runtime
from qrie.inventory.base import Collector
from qrie.jobs import worker as worker_module
from qrie.jobs.batch import lanes, run_batch
from qrie.jobs.worker import Delivery, Invocation, JobCache, RetryLater, TaskWorker
from qrie.store.table import Store
from qrie_local.events import LambdaContext, sqs_event
from tests.support import REGION, Stack, onboard, queue_arn, receive, worker_metrics

JOB_A = [f"{310000000000 + i}" for i in range(4)]
JOB_B = [f"{320000000000 + i}" for i in range(3)]
JOB_C = [f"{330000000000 + i}" for i in range(3)]


def start(accounts: list[str], service: str = "s3") -> str:
    runtime().store.put_accounts(Account(a) for a in accounts)
    response = job_handler.lambda_handler(
        {"operation": "inventory", "service": service, "accounts": accounts},
        LambdaContext("JobHandlerFunction", 120),
    )
    return str(response["job_id"])


def three_jobs(stack: Stack) -> tuple[list[str], list[dict[str, Any]]]:
    """Jobs A (4 accounts), B (3) and C (3) over S3, and their 10 messages."""
    onboard(JOB_A + JOB_B + JOB_C)
    jobs = [start(JOB_A), start(JOB_B), start(JOB_C)]
    messages = receive(stack.inventory_queue)
    assert len(messages) == 10
    return jobs, messages


def deliver(stack: Stack, messages: list[dict[str, Any]], memory_mb: int = 512) -> dict[str, Any]:
    event = sqs_event(messages, queue_arn(stack.inventory_queue), REGION)
    context = LambdaContext("InventoryWorkerFunction", 300, memory_mb)
    return inventory_worker.lambda_handler(event, context)


def job_of(message: dict[str, Any], jobs: list[str]) -> str:
    return next(j for j in jobs if j in message["Body"])


def statuses(job_id: str) -> list[TaskStatus]:
    return sorted(t.status for t in runtime().store.iter_tasks(job_id))


def test_a_batch_of_three_jobs_is_accounted_in_one_transaction_per_job(stack: Stack) -> None:
    # GIVEN three running jobs of 5, 4 and 4 tasks, and one batch holding all but one task of
    # each (4 + 3 + 3 records)
    extra = ["340000000000", "340000000001", "340000000002"]
    onboard(JOB_A + JOB_B + JOB_C + extra)
    jobs = [start(JOB_A + extra[:1]), start(JOB_B + extra[1:2]), start(JOB_C + extra[2:])]
    queued = receive(stack.inventory_queue) + receive(stack.inventory_queue)
    assert len(queued) == 13
    messages = [m for m in queued if not any(a in m["Body"] for a in extra)]
    # WHEN the worker handles the batch
    with metering.metered() as outside_the_records:
        response = deliver(stack, messages)
    # THEN every record succeeded, and the accounting took exactly one TransactWriteItems per
    # job (the records' own requests are on their own meters), which counted the job's 4 or 3
    assert response["batchItemFailures"] == []
    requests = outside_the_records.usage().requests
    assert requests.get("dynamodb.TransactWriteItems") == 3
    for job_id, n in zip(jobs, (4, 3, 3), strict=True):
        job = runtime().store.get_job(job_id)
        assert job is not None
        assert (job.succeeded, job.remaining, job.status) == (n, 1, "IN_PROGRESS")
        assert job.usage.tasks == n


def test_a_batch_that_finishes_its_jobs_finalizes_each_with_one_more_transaction(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one batch holding every task of three jobs (4 + 3 + 3)
    jobs, messages = three_jobs(stack)
    counted = worker_metrics(monkeypatch)
    # WHEN the worker handles it
    with metering.metered() as outside_the_records:
        response = deliver(stack, messages)
    # THEN each job is complete: its batch transaction found Remaining = k and the finalizing
    # one (a second request per job, not per task) set the final status
    assert response["batchItemFailures"] == []
    assert outside_the_records.usage().requests.get("dynamodb.TransactWriteItems") == 6
    for job_id, n in zip(jobs, (4, 3, 3), strict=True):
        job = runtime().store.get_job(job_id)
        assert job is not None
        assert (job.succeeded, job.failed, job.remaining, job.status) == (n, 0, 0, "COMPLETED")
    # AND the metrics count the 10 tasks (a bucket each) and the 3 finished jobs
    assert counted == {"ResourcesCollected": 10, "TasksSucceeded": 10, "JobsFinished": 3}


def test_a_batch_bills_its_duration_at_the_memory_lambda_gives_the_function(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job of three tasks, and a 2,048 MB function (its context says so; the environment
    # variable says otherwise)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    onboard(JOB_B)
    job_id = start(JOB_B)
    messages = receive(stack.inventory_queue)
    # WHEN the worker handles the batch
    assert deliver(stack, messages, memory_mb=2048)["batchItemFailures"] == []
    # THEN each task's share of the duration is billed at 2,048 MB
    usages = [t.usage for t in runtime().store.iter_tasks(job_id) if t.usage is not None]
    assert len(usages) == 3
    for usage in usages:
        assert usage.ms > 0
        assert usage.mb_ms == pytest.approx(usage.ms * 2048)


def test_only_the_records_of_the_job_whose_accounting_fails_are_reported(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch of three jobs' tasks, and job B's accounting failing
    jobs, messages = three_jobs(stack)
    failing = jobs[1]
    original = Store.complete_tasks

    def complete(self: Store, job_id: str, outcomes: Any) -> Any:
        if job_id == failing:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "try again"}},
                "TransactWriteItems",
            )
        return original(self, job_id, outcomes)

    monkeypatch.setattr(Store, "complete_tasks", complete)
    # WHEN the worker handles it
    response = deliver(stack, messages)
    # THEN exactly job B's records are batch item failures; A and C are complete
    reported = sorted(f["itemIdentifier"] for f in response["batchItemFailures"])
    expected = sorted(m["MessageId"] for m in messages if job_of(m, jobs) == failing)
    assert reported == expected
    assert len(reported) == 3
    assert statuses(failing) == [TaskStatus.PENDING] * 3
    assert statuses(jobs[0]) == [TaskStatus.SUCCEEDED] * 4
    assert statuses(jobs[2]) == [TaskStatus.SUCCEEDED] * 3


@pytest.mark.parametrize("applied_before_the_error", [False, True])
def test_a_conflict_on_the_accounting_write_counts_every_task_exactly_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, applied_before_the_error: bool
) -> None:
    # GIVEN a batch of one job's 4 tasks, and the first accounting transaction failing once:
    # cancelled by a conflict before it applied, or applied with its answer lost
    onboard(JOB_A)
    job_id = start(JOB_A)
    messages = receive(stack.inventory_queue)
    client = runtime().store.db.client
    original = client.transact_write_items
    calls: list[int] = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            return original(**kwargs)
        if applied_before_the_error:
            original(**kwargs)
            raise ClientError(
                {"Error": {"Code": "TransactionConflictException", "Message": "lost answer"}},
                "TransactWriteItems",
            )
        n = len(kwargs["TransactItems"])
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": [{"Code": "None"}] * (n - 1)
                + [{"Code": "TransactionConflict"}],
            },
            "TransactWriteItems",
        )

    monkeypatch.setattr(client, "transact_write_items", flaky)
    # WHEN the worker handles the batch
    response = deliver(stack, messages)
    # THEN nothing is reported failed and the job counted each task, and its usage, once
    assert response["batchItemFailures"] == []
    assert len(calls) >= 2
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.succeeded, job.failed, job.remaining, job.status) == (4, 0, 0, "COMPLETED")
    assert job.usage.tasks == 4
    assert statuses(job_id) == [TaskStatus.SUCCEEDED] * 4


# ------------------------------------------------------------------ concurrency
@dataclass
class Timeline:
    """When each collection ran, per account."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, account: str, started: float, ended: float) -> None:
        with self.lock:
            self.spans.append((account, started, ended))

    def overlapping(self, same_account: bool) -> int:
        n = 0
        for i, (a, s1, e1) in enumerate(self.spans):
            for b, s2, e2 in self.spans[i + 1 :]:
                if (a == b) == same_account and s1 < e2 and s2 < e1:
                    n += 1
        return n


@dataclass
class SlowCollector:
    """Lists nothing, slowly; makes ``calls[account]`` ListBuckets calls in the member account."""

    service: str
    timeline: Timeline
    calls: dict[str, int]

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return [GLOBAL]

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        started = time.monotonic()
        for _ in range(self.calls.get(session.account_id, 0)):
            session.client("s3").list_buckets()
        time.sleep(0.15)
        self.timeline.add(session.account_id, started, time.monotonic())
        yield from ()


def slow_worker(timeline: Timeline, calls: dict[str, int]) -> TaskWorker:
    current = runtime()

    def collectors(service: str) -> Collector:
        return SlowCollector(service, timeline, calls)

    return TaskWorker(
        current.settings,
        current.store,
        current.queue,
        current.sessions,
        TaskKind.INVENTORY,
        collectors=collectors,
    )


def deliveries(stack: Stack, messages: list[dict[str, Any]]) -> list[Delivery]:
    return [
        Delivery(m["MessageId"], m["Body"], 1, m["ReceiptHandle"], stack.inventory_queue)
        for m in messages
    ]


def test_records_of_one_account_never_overlap_while_accounts_run_concurrently(
    stack: Stack,
) -> None:
    # GIVEN one batch of 9 tasks: s3, ec2 and iam of three accounts
    accounts = JOB_A[:3]
    onboard(accounts)
    job_id = start(accounts, service="*")
    messages = receive(stack.inventory_queue)
    assert len(messages) == 9
    timeline = Timeline()
    worker = slow_worker(timeline, {})
    # WHEN the batch runs with 10 record threads
    results = run_batch(worker, deliveries(stack, messages), Invocation.now(), threads=10)
    # THEN every task succeeded; no two collections of one account overlapped, while
    # collections of different accounts did (the batch ran concurrently)
    assert results == ["succeeded"] * 9
    assert len(timeline.spans) == 9
    assert timeline.overlapping(same_account=True) == 0
    assert timeline.overlapping(same_account=False) > 0
    assert statuses(job_id) == [TaskStatus.SUCCEEDED] * 9


def test_the_records_of_a_batch_read_their_job_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch of 9 tasks of one job (three accounts), a worker caching jobs for a minute,
    # and a slow job read (every lane asks for the job at the same moment)
    accounts = JOB_C
    onboard(accounts)
    start(accounts, service="*")
    messages = receive(stack.inventory_queue)
    worker = slow_worker(Timeline(), {})
    worker.jobs.ttl = 60
    reads: list[str] = []
    original = Store.get_job

    def slow_read(self: Store, job_id: str) -> Any:
        reads.append(job_id)
        time.sleep(0.2)
        return original(self, job_id)

    monkeypatch.setattr(Store, "get_job", slow_read)
    # WHEN the batch runs with 10 record threads
    results = run_batch(worker, deliveries(stack, messages), Invocation.now(), threads=10)
    # THEN the job was read once for the whole batch
    assert results == ["succeeded"] * 9
    assert len(reads) == 1


def test_lanes_group_records_by_account_and_keep_unreadable_ones_apart() -> None:
    # GIVEN deliveries of two accounts and two unreadable bodies
    def delivery(body: str) -> Delivery:
        return Delivery("m", body, 1, "r", "q")

    batch = [
        delivery('{"account_id": "111111111111"}'),
        delivery("not json"),
        delivery('{"account_id": "222222222222"}'),
        delivery('{"account_id": "111111111111"}'),
        delivery("[]"),
    ]
    # WHEN they are grouped THEN one lane per account, in order, and each unreadable alone
    assert lanes(batch) == [[0, 3], [1], [2], [4]]


def test_each_task_records_its_own_requests_while_records_run_concurrently(
    stack: Stack,
) -> None:
    # GIVEN three accounts whose collections make 1, 2 and 3 S3 calls, in one batch
    accounts = JOB_B
    onboard(accounts)
    job_id = start(accounts)
    messages = receive(stack.inventory_queue)
    calls = {accounts[0]: 1, accounts[1]: 2, accounts[2]: 3}
    worker = slow_worker(Timeline(), calls)
    # WHEN the batch runs concurrently in a 1,024 MB function
    started = time.perf_counter()
    invocation = Invocation(started, 1024)
    run_batch(worker, deliveries(stack, messages), invocation, threads=10)
    wall_ms = 1000 * (time.perf_counter() - started)
    # THEN each task's usage holds exactly its own member calls and one AssumeRole
    tasks = {t.account_id: t for t in runtime().store.iter_tasks(job_id)}
    for account, n in calls.items():
        usage = tasks[account].usage
        assert usage is not None
        assert usage.requests["s3.ListBuckets"] == n
        assert usage.requests["sts.AssumeRole"] == 1
        assert usage.requests["dynamodb.TransactWriteItems"] == pytest.approx(1 / 3)
        assert usage.requests["sqs.ReceiveMessage"] == pytest.approx(1 / 3)
        assert usage.write_units > 0
    # AND the invocation's duration is shared among them, at the function's memory
    shares = [t.usage.ms for t in tasks.values() if t.usage is not None]
    assert 0 < sum(shares) <= wall_ms
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert job.usage.tasks == 3
    assert job.usage.invocations == pytest.approx(2.0)  # the job handler's and the batch's
    assert job.usage.mb_ms >= 1024 * sum(shares) * 0.999
    assert job.usage.requests["s3"] == 6


def test_a_single_record_still_works_through_process(stack: Stack) -> None:
    # GIVEN one task, delivered to TaskWorker.process (one record, one invocation)
    onboard(JOB_C[:1])
    job_id = start(JOB_C[:1])
    [message] = receive(stack.inventory_queue)
    worker = slow_worker(Timeline(), {JOB_C[0]: 1})
    # WHEN it is processed THEN it succeeds and its task carries the whole invocation's usage
    assert worker.process(deliveries(stack, [message])[0]) == "succeeded"
    [task] = runtime().store.iter_tasks(job_id)
    assert task.usage is not None
    assert task.usage.invocations == 1
    assert task.usage.requests["sqs.ReceiveMessage"] == 1
    assert task.usage.requests["s3.ListBuckets"] == 1


# ------------------------------------------------------------------ the job cache
class Jobs:
    """A store's job reads: every job is unknown; reads of ``slow`` wait for ``release``."""

    def __init__(self, slow: str = "") -> None:
        self.reads: list[str] = []
        self.slow = slow
        self.reading = threading.Event()
        self.release = threading.Event()

    def get_job(self, job_id: str) -> None:
        self.reads.append(job_id)
        if job_id == self.slow:
            self.reading.set()
            self.release.wait(30)


def cache_of(jobs: Jobs, ttl: float) -> JobCache:
    return JobCache(cast(Store, jobs), ttl)


def clock(monkeypatch: pytest.MonkeyPatch, now: float) -> list[float]:
    """The worker's monotonic clock, set by the test (``[now]``)."""
    current = [now]
    fake = SimpleNamespace(monotonic=lambda: current[0], perf_counter=time.perf_counter)
    monkeypatch.setattr(worker_module, "time", fake)
    return current


def test_a_cached_job_is_read_again_once_its_seconds_are_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a cache of 5 seconds and a job read at t = 100
    now = clock(monkeypatch, 100.0)
    jobs = Jobs()
    cache = cache_of(jobs, 5)
    assert cache.get("job") is None
    # WHEN it is asked for again just before t = 105, then at t = 105
    now[0] = 104.999
    cache.get("job")
    reads_before = len(jobs.reads)
    now[0] = 105.0
    cache.get("job")
    # THEN the first answer came from the cache, the second from the store
    assert (reads_before, len(jobs.reads)) == (1, 2)


def test_a_cache_of_zero_seconds_reads_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a cache of 0 seconds and a clock that does not move
    clock(monkeypatch, 100.0)
    jobs = Jobs()
    cache = cache_of(jobs, 0)
    # WHEN a job is asked for twice THEN both answers come from the store
    cache.get("job")
    cache.get("job")
    assert jobs.reads == ["job", "job"]


def test_a_cache_of_many_jobs_keeps_the_ones_still_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a cache of a minute holding 1,001 jobs read within it (more than it keeps unpruned)
    clock(monkeypatch, 100.0)
    jobs = Jobs()
    cache = cache_of(jobs, 60)
    for i in range(1001):
        cache.get(f"job-{i}")
    # WHEN the first and the last are asked for again
    cache.get("job-0")
    cache.get("job-1000")
    # THEN both are still cached: nothing fresh was dropped
    assert len(jobs.reads) == 1001


def test_a_cached_job_is_answered_while_another_job_is_being_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a cache of a minute holding job A, and a record reading job B (a slow read)
    clock(monkeypatch, 100.0)
    jobs = Jobs(slow="B")
    cache = cache_of(jobs, 60)
    cache.get("A")
    reading_b = threading.Thread(target=cache.get, args=("B",))
    reading_b.start()
    try:
        assert jobs.reading.wait(10)
        # WHEN another record asks for job A
        asking_a = threading.Thread(target=cache.get, args=("A",))
        asking_a.start()
        asking_a.join(5)
        # THEN it gets its answer without waiting for job B's read
        assert not asking_a.is_alive()
        assert jobs.reads == ["A", "B"]
    finally:
        jobs.release.set()
        reading_b.join()


# ------------------------------------------------------------------ failed records
def worker_of(collectors: Any, kind: TaskKind = TaskKind.INVENTORY) -> TaskWorker:
    current = runtime()
    return TaskWorker(
        current.settings, current.store, current.queue, current.sessions, kind, collectors
    )


def broken(service: str) -> Collector:
    raise RuntimeError("no collector for " + service + " " + "x" * 400)


@pytest.mark.parametrize("receive_count", [1, 3])
def test_an_unexpected_error_is_retried_then_fails_the_task_with_its_type_and_message(
    stack: Stack, receive_count: int
) -> None:
    # GIVEN a task whose work raises an unexpected error with a long message (max 3 receives)
    onboard(JOB_C[:1])
    job_id = start(JOB_C[:1])
    [delivery] = deliveries(stack, receive(stack.inventory_queue))
    delivery = dataclasses.replace(delivery, receive_count=receive_count)
    described = ("RuntimeError: no collector for s3 " + "x" * 400)[:300]
    # WHEN its message arrives
    worker = worker_of(broken)
    if receive_count < 3:
        # THEN before the last receive it is retried, saying why
        with pytest.raises(RetryLater) as retry:
            worker.process(delivery)
        assert str(retry.value) == described
        return
    # THEN on the last it fails, with the error's type and the first 300 characters
    assert worker.process(delivery) == "failed"
    [task] = runtime().store.iter_tasks(job_id)
    assert (task.status, task.reason, task.attempts) == (
        TaskStatus.FAILED,
        f"retries-exhausted: {described}",
        3,
    )


def test_a_task_denied_its_role_fails_at_once_with_its_attempts(stack: Stack) -> None:
    # GIVEN a task of an account without qrie's role, delivered for the second time
    job_id = start(JOB_C[:1])
    [delivery] = deliveries(stack, receive(stack.inventory_queue))
    # WHEN the worker gets it
    result = worker_of(lambda s: SlowCollector(s, Timeline(), {})).process(
        dataclasses.replace(delivery, receive_count=2)
    )
    # THEN the task fails with AssumeRole's denial, on its second attempt
    assert result == "failed"
    [task] = runtime().store.iter_tasks(job_id)
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 2)
    assert task.reason.startswith("AssumeRole ")


class HalfDenied:
    """Lists one bucket in us-east-1; denied in every other region."""

    service = "s3"

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return list(regions)

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        if scope != "us-east-1":
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}}, "ListBuckets"
            )
        yield Resource("arn:aws:s3:::kept", session.account_id, "s3", "s3.bucket", scope, {})


def test_a_refresh_inventory_denied_in_a_region_fails_itself_and_its_scan(
    stack: Stack,
) -> None:
    # GIVEN a refresh scan of one account, whose inventory is denied in one of two regions
    account = JOB_C[0]
    onboard([account])
    runtime().store.put_accounts([Account(account)])
    response = job_handler.lambda_handler(
        {"operation": "scan", "policy": "s3.*", "refresh": True, "accounts": [account]},
        LambdaContext("JobHandlerFunction", 120),
    )
    job_id = str(response["job_id"])
    [delivery] = deliveries(stack, receive(stack.inventory_queue))
    # WHEN the inventory worker runs it
    assert worker_of(lambda _s: HalfDenied()).process(delivery) == "failed"
    # THEN the inventory task failed partially, with what it did collect; its scan failed
    # for that reason; and the job is finished
    store = runtime().store
    inventory = store.get_task(job_id, TaskKey(account, TaskKind.INVENTORY, "s3"))
    scan = store.get_task(job_id, TaskKey(account, TaskKind.SCAN, "s3"))
    assert inventory is not None
    assert scan is not None
    assert inventory.status == TaskStatus.FAILED
    assert inventory.reason.startswith("partial: ")
    assert "AccessDenied" in inventory.reason
    assert dict(inventory.counts) == {
        "resource_count": 1,
        "deleted": 0,
        "scopes": 2,
        "failed_scopes": 1,
    }
    assert inventory.usage is not None
    assert inventory.usage.tasks == 1
    assert (scan.status, scan.reason) == (
        TaskStatus.FAILED,
        f"inventory-failed: {inventory.reason}",
    )
    assert scan.usage is None
    job = store.get_job(job_id)
    assert job is not None
    assert (job.failed, job.remaining, job.usage.tasks) == (2, 0, 1)
    # AND the account's inventory coverage notes the failure: which job, and why
    coverage = store.get_coverage(account, TaskKind.INVENTORY, "s3")
    assert coverage is not None
    assert (coverage.failed_job_id, coverage.failure) == (job_id, inventory.reason)


def test_a_scan_redelivered_while_pending_runs_and_records_its_attempts(stack: Stack) -> None:
    # GIVEN an account inventoried, and a scan of it delivered for the second time
    account = JOB_C[0]
    onboard([account])
    start([account])
    [inventory] = deliveries(stack, receive(stack.inventory_queue))
    assert slow_worker(Timeline(), {}).process(inventory) == "succeeded"
    response = job_handler.lambda_handler(
        {"operation": "scan", "policy": "s3.*", "accounts": [account]},
        LambdaContext("JobHandlerFunction", 120),
    )
    job_id = str(response["job_id"])
    [message] = receive(stack.scan_queue)
    delivery = Delivery(message["MessageId"], message["Body"], 2, "r", stack.scan_queue)
    # WHEN the scan worker gets it THEN it runs, on its second attempt
    assert worker_of(lambda s: SlowCollector(s, Timeline(), {}), TaskKind.SCAN).process(
        delivery
    ) == ("succeeded")
    [task] = runtime().store.iter_tasks(job_id)
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 2)


def test_a_record_whose_work_left_nothing_to_record_is_settled_as_skipped(stack: Stack) -> None:
    # GIVEN a record worked on that has no outcome to record and no result of its own
    prepared = worker_module.Prepared(Delivery("m", "{}", 1, "r", stack.inventory_queue))
    # WHEN it is settled THEN its result is "skipped"
    assert slow_worker(Timeline(), {}).settle([prepared], Invocation.now()) == ["skipped"]


def test_a_record_failing_unexpectedly_is_logged_with_its_error_a_retry_is_not(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN two tasks: one whose job cannot be read (the table fails), one throttled
    onboard(JOB_C[:2])
    start(JOB_C[:2])
    unreadable, throttled = deliveries(stack, receive(stack.inventory_queue))

    def failing_read(self: Store, job_id: str) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem")

    def throttling(service: str) -> Collector:
        raise worker_module.TransientTaskError("s3: SlowDown")

    worker = worker_of(throttling)
    # WHEN the worker gets each of them
    with caplog.at_level(logging.INFO, logger="qrie"):
        with pytest.raises(RetryLater):
            worker.process(throttled)
        with monkeypatch.context() as patched:
            patched.setattr(Store, "get_job", failing_read)
            with pytest.raises(ClientError):
                worker.process(unreadable)
    # THEN both are redelivered, and only the unexpected failure is logged as an error, with
    # its message id and its traceback
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"record {unreadable.message_id} failed"]
    assert errors[0].exc_info is not None
