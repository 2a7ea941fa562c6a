"""What the worker answers for each record, what it counts, and how long it asks SQS to wait:
a cancelled or finished job's task, a redelivery, a transient failure, a misrouted message."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from qrie.domain import (
    GLOBAL,
    Account,
    FindingState,
    Resource,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    parse_timestamp,
)
from qrie.handlers import job_handler
from qrie.handlers.runtime import runtime
from qrie.jobs import worker as worker_module
from qrie.jobs.worker import Delivery, Invocation, RetryLater, TaskWorker
from qrie.policies.registry import select
from qrie.queue import TaskQueue
from qrie.store import keys
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack, onboard, receive, worker_metrics

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


def start(operation: str = "inventory", accounts: Sequence[str] = ACCOUNTS, **request: Any) -> str:
    runtime().store.put_accounts(Account(a) for a in accounts)
    event = {"operation": operation, "accounts": list(accounts), **request}
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


def key_of(account: str) -> TaskKey:
    return TaskKey(account, TaskKind.INVENTORY, "s3")


def test_a_cancelled_jobs_task_is_skipped_without_any_work(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running job flagged cancelled, and one of its task messages
    onboard(ACCOUNTS)
    job_id = start()
    assert runtime().store.mark_cancelled(job_id) is not None
    collector, counted = Collector("s3"), worker_metrics(monkeypatch)
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
    collector, counted = Collector("s3"), worker_metrics(monkeypatch)
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
    collector, counted = Collector("s3"), worker_metrics(monkeypatch)
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
    counted = worker_metrics(monkeypatch)
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
    counted = worker_metrics(monkeypatch)
    scan_worker = make_worker(Collector("s3"), TaskKind.SCAN)
    # WHEN the scan worker gets it (on its second receive)
    result = scan_worker.process(delivery_of(message, stack.inventory_queue, 2))
    # THEN it is recorded as a bad message, its task and that task's scan fail, counted once
    assert result == "bad-message"
    reason = "wrong queue: a inventory task on the scan queue"
    account = message["Body"].split('"account_id":"')[1][:12]
    tasks = {t.key: (t.status, t.reason, t.attempts) for t in runtime().store.iter_tasks(job_id)}
    assert tasks[key_of(account)] == (TaskStatus.FAILED, reason, 2)
    assert tasks[TaskKey(account, TaskKind.SCAN, "s3")][:2] == (
        TaskStatus.FAILED,
        f"inventory-failed: {reason}",
    )
    [bad] = runtime().store.bad_messages()
    assert (bad.message_id, bad.source) == (message["MessageId"], "scan")
    assert bad.error == f"malformed task message: {reason}"
    assert counted == {"BadMessages": 1, "TasksFailed": 1}


def test_a_scan_without_a_successful_inventory_fails_not_inventoried(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scan job of an account never inventoried
    job_id = start("scan", policy="s3.*")
    counted = worker_metrics(monkeypatch)
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
    counted = worker_metrics(monkeypatch)
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


# ---------------------------------------------------------------- what a task leaves behind
ACCOUNT = ACCOUNTS[0]
REGIONS = ("eu-west-1", "us-east-1")


def assert_just_now(stamp: str | None) -> None:
    """A stored time of the last minute, in UTC."""
    assert stamp is not None
    assert abs((datetime.now(UTC) - parse_timestamp(stamp)).total_seconds()) < 60


class Buckets:
    """Lists the buckets it is given per region (its scopes are the regions it is asked
    for), denies the regions it is told to with a long AccessDenied message, and notes how
    many regions it lists at once."""

    def __init__(
        self, listing: dict[str, dict[str, str]], denied: Sequence[str] = (), pause: float = 0
    ) -> None:
        self.service = "s3"
        self.listing = listing  # region -> bucket name -> versioning status
        self.denied = denied
        self.pause = pause
        self.asked: list[list[str]] = []
        self.active = self.most_at_once = 0
        self._lock = threading.Lock()

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        self.asked.append(list(regions))
        return list(regions)

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        with self._lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        time.sleep(self.pause)
        with self._lock:
            self.active -= 1
        if scope in self.denied:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"{scope} " + "x" * 290}},
                "ListBuckets",
            )
        for name, versioning in self.listing.get(scope, {}).items():
            config = {"versioning": versioning}
            yield Resource(
                f"arn:aws:s3:::{name}", session.account_id, "s3", "s3.bucket", scope, config
            )


def work(
    stack: Stack,
    kind: TaskKind,
    collector: Buckets,
    counted: dict[str, int],
    receive_count: int = 1,
    **settings: Any,
) -> str:
    """The worker of ``kind`` processes the message waiting on its queue; ``counted`` then
    holds only the metrics of this record."""
    url = stack.inventory_queue if kind is TaskKind.INVENTORY else stack.scan_queue
    counted.clear()
    worker = make_worker(collector, kind, **{"regions": REGIONS, **settings})
    return str(worker.process(delivery_of(first_message(stack, url), url, receive_count)))


def test_a_refresh_scan_records_its_evidence_and_counts_each_change(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, local_time_not_utc: None
) -> None:
    # GIVEN an onboarded account with two unversioned buckets, one per region
    onboard([ACCOUNT])
    store, counted = runtime().store, worker_metrics(monkeypatch)
    listing = {"eu-west-1": {"kept": "Suspended"}, "us-east-1": {"gone": "Suspended"}}
    # WHEN a refresh scan of s3.versioning runs its inventory, on its second receive
    job_id = start("scan", accounts=[ACCOUNT], policy="s3.versioning", refresh=True)
    assert work(stack, TaskKind.INVENTORY, Buckets(listing), counted, receive_count=2) == (
        "succeeded"
    )
    # THEN the task and the account's inventory coverage record what was listed, by this job,
    # now (in UTC)
    inventory_key = TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3")
    listed = {"resource_count": 2, "deleted": 0, "scopes": 2, "failed_scopes": 0}
    task = store.get_task(job_id, inventory_key)
    assert task is not None
    assert (task.status, task.reason, task.attempts, dict(task.counts)) == (
        TaskStatus.SUCCEEDED,
        "",
        2,
        listed,
    )
    coverage = store.get_coverage(ACCOUNT, TaskKind.INVENTORY, "s3")
    assert coverage is not None
    assert (coverage.job_id, dict(coverage.counts), coverage.failure) == (job_id, listed, None)
    assert_just_now(coverage.at)
    assert counted == {"ResourcesCollected": 2, "TasksSucceeded": 1}

    # WHEN its scan runs (second receive too)
    assert work(stack, TaskKind.SCAN, Buckets({}), counted, receive_count=2) == "succeeded"
    # THEN only the job's policy was evaluated, on both buckets, and both findings opened
    # by this job, now; the scan's coverage names the job
    scan_key = TaskKey(ACCOUNT, TaskKind.SCAN, "s3")
    scanned = store.get_task(job_id, scan_key)
    assert scanned is not None
    assert (scanned.status, scanned.reason, scanned.attempts) == (TaskStatus.SUCCEEDED, "", 2)
    assert scanned.counts["evaluated"] == 2
    findings = {f.arn: f for f in store.iter_findings(ACCOUNT)}
    assert sorted(findings) == ["arn:aws:s3:::gone", "arn:aws:s3:::kept"]
    for finding in findings.values():
        assert (finding.policy_id, finding.state) == ("s3.versioning", FindingState.OPEN)
        assert finding.opened_by_job == job_id
        assert_just_now(finding.first_seen)
    scan_coverage = store.get_coverage(ACCOUNT, TaskKind.SCAN, "s3")
    assert scan_coverage is not None
    assert scan_coverage.job_id == job_id
    assert_just_now(scan_coverage.at)
    assert counted == {"FindingsOpened": 2, "TasksSucceeded": 1, "JobsFinished": 1}

    # WHEN a second refresh scan's inventory finds one bucket deleted, the other versioned
    again = start("scan", accounts=[ACCOUNT], policy="s3.versioning", refresh=True)
    fixed = Buckets({"eu-west-1": {"kept": "Enabled"}})
    assert work(stack, TaskKind.INVENTORY, fixed, counted) == "succeeded"
    # THEN the deleted bucket's finding is resolved as resource-deleted by that job, now
    gone = store.get_finding(ACCOUNT, "s3.versioning", "arn:aws:s3:::gone")
    assert gone is not None
    assert (gone.state, gone.resolved_reason, gone.last_job) == (
        FindingState.RESOLVED,
        "resource-deleted",
        again,
    )
    assert_just_now(gone.resolved_at)
    assert counted == {"ResourcesCollected": 1, "ResourcesDeleted": 1, "TasksSucceeded": 1}
    # AND its scan resolves the versioned bucket's finding
    assert work(stack, TaskKind.SCAN, Buckets({}), counted) == "succeeded"
    kept = store.get_finding(ACCOUNT, "s3.versioning", "arn:aws:s3:::kept")
    assert kept is not None
    assert (kept.state, kept.last_job) == (FindingState.RESOLVED, again)
    assert counted == {"FindingsResolved": 1, "TasksSucceeded": 1, "JobsFinished": 1}


def test_an_inventory_with_a_denied_region_fails_and_notes_why_on_the_coverage(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, local_time_not_utc: None
) -> None:
    # GIVEN a refresh scan of an account whose two regions both deny listing, with long
    # messages, and a third that lists a bucket
    onboard([ACCOUNT])
    counted = worker_metrics(monkeypatch)
    job_id = start("scan", accounts=[ACCOUNT], policy="s3.versioning", refresh=True)
    regions = ("ap-south-1", *REGIONS)
    inventory = Buckets({"ap-south-1": {"listed": "Enabled"}}, denied=REGIONS)
    # WHEN its inventory runs, on the message's second receive
    result = work(stack, TaskKind.INVENTORY, inventory, counted, 2, regions=regions)
    # THEN the task fails (partial), keeping what was listed and its attempts
    assert result == "failed"
    store = runtime().store
    task = store.get_task(job_id, TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3"))
    assert task is not None
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 2)
    assert task.reason.startswith("partial: s3 eu-west-1: AccessDenied: eu-west-1 xxx")
    assert len(task.reason) == 500  # the reason as long as the job table keeps it
    assert dict(task.counts) == {"resource_count": 1, "deleted": 0, "scopes": 3, "failed_scopes": 2}
    # AND the scan it would have enqueued fails with it
    scan = store.get_task(job_id, TaskKey(ACCOUNT, TaskKind.SCAN, "s3"))
    assert scan is not None
    assert scan.status == TaskStatus.FAILED
    assert scan.reason == f"inventory-failed: {task.reason}"[:500]
    # AND the account's coverage says which job failed, when and why: no success on record
    coverage = store.get_coverage(ACCOUNT, TaskKind.INVENTORY, "s3")
    assert coverage is not None
    assert (coverage.failed_job_id, coverage.failure, coverage.at) == (job_id, task.reason, None)
    assert_just_now(coverage.failed_at)
    assert coverage.failing
    assert counted == {"ResourcesCollected": 1, "TasksFailed": 1, "JobsFinished": 1}


def test_an_inventory_lists_the_configured_regions_as_many_at_once_as_allowed(
    stack: Stack,
) -> None:
    # GIVEN three configured regions with a bucket each, listed one region at a time
    onboard([ACCOUNT])
    job_id = start(accounts=[ACCOUNT])
    regions = ("ap-south-1", *REGIONS)
    inventory = Buckets({r: {f"bucket-{r}": "Enabled"} for r in regions}, pause=0.05)
    # WHEN the inventory runs
    result = work(stack, TaskKind.INVENTORY, inventory, {}, regions=regions, region_threads=1)
    # THEN the collector was asked for exactly those regions, and listed them one by one
    assert result == "succeeded"
    assert inventory.asked == [list(regions)]
    assert inventory.most_at_once == 1
    # AND each stored resource names the job that last saw it
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table)
    items = table.query(KeyConditionExpression=Key("PK").eq(keys.resource_pk(ACCOUNT, "s3")))[
        "Items"
    ]
    assert sorted(i["Arn"] for i in items) == sorted(f"arn:aws:s3:::bucket-{r}" for r in regions)
    assert {i["LastSeenJob"] for i in items} == {job_id}


def test_a_scan_message_without_a_policy_evaluates_every_policy_of_its_service(
    stack: Stack,
) -> None:
    # GIVEN an inventoried bucket and a scan message naming no policy
    onboard([ACCOUNT])
    job_id = start("scan", accounts=[ACCOUNT], policy="s3.versioning", refresh=True)
    assert work(stack, TaskKind.INVENTORY, Buckets({"eu-west-1": {"b": "Enabled"}}), {}) == (
        "succeeded"
    )
    [scan] = receive(stack.scan_queue)
    body = json.loads(scan["Body"])
    del body["policy"]
    # WHEN the scan worker gets it
    delivery = Delivery(scan["MessageId"], json.dumps(body), 1, scan["ReceiptHandle"], "q")
    assert make_worker(Buckets({}), TaskKind.SCAN).process(delivery) == "succeeded"
    # THEN the bucket was evaluated by each S3 policy
    task = runtime().store.get_task(job_id, TaskKey(ACCOUNT, TaskKind.SCAN, "s3"))
    assert task is not None
    [bucket] = runtime().store.iter_resources(ACCOUNT, "s3")
    for_buckets = [p for p in select("*") if p.service == "s3" and p.applies_to(bucket)]
    assert len(for_buckets) > 1
    assert task.counts["evaluated"] == len(for_buckets)


def test_a_task_whose_job_vanished_before_its_accounting_is_a_bad_message(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a task's work done while its job existed
    onboard([ACCOUNT])
    job_id = start(accounts=[ACCOUNT])
    message = first_message(stack)
    worker = make_worker(Collector("s3"))
    prepared = worker.prepare(delivery_of(message, stack.inventory_queue))
    assert prepared.outcomes
    # WHEN the job's record is gone (expired) by the time its outcome is recorded
    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=stack.table,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
    )
    counted = worker_metrics(monkeypatch)
    [result] = worker.settle([prepared], Invocation.now())
    # THEN the record is a bad message naming the job, not retried, and nothing else counted
    assert result == "bad-message"
    [bad] = runtime().store.bad_messages()
    assert (bad.message_id, bad.error, bad.source) == (
        message["MessageId"],
        f"unknown job {job_id}",
        "inventory",
    )
    assert bad.body == message["Body"]
    assert counted == {"BadMessages": 1}
