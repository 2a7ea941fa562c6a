"""The polling service's safety net under duplicated and hostile dead letters."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from qrie.config import Settings
from qrie.domain import Account, TaskKey, TaskKind, TaskStatus
from qrie.handlers import job_handler
from qrie.handlers.runtime import runtime
from qrie.jobs.reconcile import Reconciler
from qrie.queue import TaskQueue
from qrie.store import keys
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack

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
