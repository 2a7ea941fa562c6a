"""Worker outcomes: permanent, transient, last attempt, malformed and unknown messages."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qrie.domain import GLOBAL, Account, JobStatus, Resource, Task, TaskKey, TaskKind, TaskStatus
from qrie.handlers import inventory_worker, job_handler
from qrie.handlers.runtime import runtime
from qrie.inventory.base import Collector
from qrie.jobs.worker import Delivery, TaskWorker
from qrie_local.events import LambdaContext, sqs_event
from tests.support import REGION, Stack, onboard, queue_arn, receive

ACCOUNT = "210000000001"


def start_job(accounts: list[str]) -> str:
    runtime().store.put_accounts(Account(a) for a in accounts)
    response = job_handler.lambda_handler(
        {"operation": "inventory", "service": "s3", "accounts": accounts},
        LambdaContext("JobHandlerFunction", 120),
    )
    return str(response["job_id"])


def deliver(stack: Stack, message: dict[str, Any], receive_count: int) -> dict[str, Any]:
    message = {
        **message,
        "Attributes": {
            **message.get("Attributes", {}),
            "ApproximateReceiveCount": str(receive_count),
        },
    }
    event = sqs_event([message], queue_arn(stack.inventory_queue), REGION)
    return inventory_worker.lambda_handler(event, LambdaContext("InventoryWorkerFunction", 300))


def throttle_list_buckets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the member account's ListBuckets throttle (botocore retries exhausted)."""
    calls: list[int] = []
    from qrie.inventory import registry

    collector = registry.get_collector("s3")
    original = collector.collect

    def collect(session: Any, scope: str) -> Any:
        calls.append(1)
        raise ClientError(
            {
                "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"},
                "ResponseMetadata": {"HTTPStatusCode": 503},
            },
            "ListBuckets",
        )
        yield from original(session, scope)

    monkeypatch.setattr(collector, "collect", collect)
    return calls


def task(job_id: str) -> Task:
    item = runtime().store.get_task(job_id, TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3"))
    assert item is not None
    return item


def test_transient_error_backs_off_and_reports_a_batch_item_failure(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an onboarded account whose S3 listing throttles
    onboard([ACCOUNT])
    job_id = start_job([ACCOUNT])
    calls = throttle_list_buckets(monkeypatch)
    monkeypatch.setenv("RETRY_BASE_SECONDS", "40")
    [message] = receive(stack.inventory_queue)
    # WHEN it is delivered for the first time
    response = deliver(stack, message, 1)
    # THEN the record is a batch item failure, the task stays pending, the message is delayed
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert calls == [1]
    assert task(job_id).status == TaskStatus.PENDING
    assert receive(stack.inventory_queue) == []  # invisible for its backoff (20-40 s)


def test_transient_error_on_the_last_receive_records_retries_exhausted(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same throttled account
    onboard([ACCOUNT])
    job_id = start_job([ACCOUNT])
    throttle_list_buckets(monkeypatch)
    [message] = receive(stack.inventory_queue)
    # WHEN it arrives for the third (last allowed) time
    response = deliver(stack, message, 3)
    # THEN the task is FAILED with retries-exhausted instead of being dead-lettered silently
    assert response["batchItemFailures"] == []
    failed = task(job_id)
    assert failed.status == TaskStatus.FAILED
    assert failed.reason.startswith("retries-exhausted: s3 global: SlowDown")
    assert failed.attempts == 3
    assert runtime().store.get_job(job_id).status == JobStatus.FAILED  # type: ignore[union-attr]


def test_permanent_error_fails_at_once_without_retry(stack: Stack) -> None:
    # GIVEN an account whose member role does not exist
    job_id = start_job([ACCOUNT])
    [message] = receive(stack.inventory_queue)
    # WHEN its task is delivered the first time
    response = deliver(stack, message, 1)
    # THEN it is FAILED with the AssumeRole reason and not retried
    assert response["batchItemFailures"] == []
    failed = task(job_id)
    assert failed.status == TaskStatus.FAILED
    assert "AccessDenied" in failed.reason


def test_wrong_external_id_is_refused(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an onboarded account, but the hub presents another ExternalId
    onboard([ACCOUNT])
    monkeypatch.setenv("EXTERNAL_ID", "somebody-elses-id")
    job_id = start_job([ACCOUNT])
    [message] = receive(stack.inventory_queue)
    # WHEN the task runs THEN AssumeRole is denied and the task fails permanently
    deliver(stack, message, 1)
    assert "AccessDenied" in task(job_id).reason


def test_redelivery_of_a_finished_task_is_skipped(stack: Stack) -> None:
    # GIVEN a task that already succeeded
    onboard([ACCOUNT])
    job_id = start_job([ACCOUNT])
    [message] = receive(stack.inventory_queue)
    deliver(stack, message, 1)
    assert task(job_id).status == "SUCCEEDED"
    # WHEN the same message is delivered again
    response = deliver(stack, message, 2)
    # THEN nothing changes
    assert response["batchItemFailures"] == []
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.succeeded, job.failed) == (1, 0)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "malformed task message: request: Invalid JSON"),
        (json.dumps({"job_id": "inv-s3-20260101T000000Z-abcdef"}), "kind: Field required"),
        (
            json.dumps(
                {
                    "job_id": "inv-s3-20260101T000000Z-abcdef",
                    "kind": "inventory",
                    "account_id": "1234",
                    "service": "s3",
                }
            ),
            "account_id: must be 12 digits",
        ),
        (
            json.dumps(
                {
                    "job_id": "inv-s3-20260101T000000Z-abcdef",
                    "kind": "inventory",
                    "account_id": ACCOUNT,
                    "service": "s3",
                }
            ),
            "unknown job inv-s3-20260101T000000Z-abcdef",
        ),
        (
            json.dumps(
                {
                    "job_id": "inv-s3-20260101T000000Z-abcdef",
                    "kind": "scan",
                    "account_id": ACCOUNT,
                    "service": "s3",
                    "policy": "*",
                }
            ),
            "wrong queue: a scan task on the inventory queue",
        ),
    ],
)
def test_malformed_or_unknown_messages_are_recorded_not_retried(
    stack: Stack, body: str, error: str
) -> None:
    # GIVEN a bad message on the queue
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=stack.inventory_queue, MessageBody=body)
    [message] = receive(stack.inventory_queue)
    # WHEN the worker gets it
    response = deliver(stack, message, 1)
    # THEN it is not a batch failure (it cannot poison the queue) and it is recorded
    assert response["batchItemFailures"] == []
    [bad] = runtime().store.bad_messages()
    assert error in bad.error
    assert (bad.message_id, bad.body, bad.source) == (message["MessageId"], body, "inventory")


@dataclass
class OneBucket:
    """A collector that lists one bucket, whatever the account holds."""

    service: str

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return [GLOBAL]

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        yield Resource("arn:aws:s3:::given", session.account_id, "s3", "s3.bucket", scope, {})


def test_the_worker_runs_the_collectors_it_is_given(stack: Stack) -> None:
    # GIVEN an onboarded account (no bucket), its task, and a worker given a collector registry
    onboard([ACCOUNT])
    job_id = start_job([ACCOUNT])
    [message] = receive(stack.inventory_queue)
    asked: list[str] = []

    def collectors(service: str) -> Collector:
        asked.append(service)
        return OneBucket(service)

    current = runtime()
    worker = TaskWorker(
        current.settings,
        current.store,
        current.queue,
        current.sessions,
        TaskKind.INVENTORY,
        collectors=collectors,
    )
    # WHEN it processes the task
    delivery = Delivery(
        message["MessageId"], message["Body"], 1, message["ReceiptHandle"], stack.inventory_queue
    )
    outcome = worker.process(delivery)
    # THEN it inventoried what the given collector listed, not what the registry's would
    assert outcome == "succeeded"
    assert asked == ["s3"]
    stored = [r.arn for r in current.store.iter_resources(ACCOUNT, "s3")]
    assert stored == ["arn:aws:s3:::given"]
    assert task(job_id).counts["resource_count"] == 1
