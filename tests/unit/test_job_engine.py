"""The job engine end to end on moto: job handler -> queue -> worker handler -> exact counters."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from qrie.config import Settings
from qrie.domain import (
    Account,
    AccountStatus,
    SkippedAccount,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
)
from qrie.handlers import inventory_worker, job_handler, polling_service
from qrie.handlers.runtime import runtime
from qrie.jobs.reconcile import Reconciler
from qrie.queue import TaskQueue
from qrie.store import keys
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack, onboard, pump, receive

ACCOUNTS = [f"{100000000000 + i}" for i in range(50)]


def register(accounts: list[str], status: str = "ACTIVE") -> None:
    runtime().store.put_accounts(
        Account(a, AccountStatus(status), f"acct-{a[-3:]}") for a in accounts
    )


def start(event: dict[str, Any]) -> dict[str, Any]:
    return job_handler.lambda_handler(event, LambdaContext("JobHandlerFunction", 120))


def job(job_id: str) -> dict[str, Any]:
    item = runtime().store.get_job(job_id)
    assert item is not None
    return item


def test_fifty_account_s3_inventory_with_duplicates_and_a_denied_role(stack: Stack) -> None:
    # GIVEN 50 accounts with buckets; 49 onboarded, one whose role was never deployed
    denied = ACCOUNTS[17]
    onboard([a for a in ACCOUNTS if a != denied])
    for account in ACCOUNTS[:5]:
        from qrie_local.members import member_session

        s3 = member_session(account).client("s3", region_name=REGION)
        s3.create_bucket(Bucket=f"bucket-{account}")
    register(ACCOUNTS)

    # WHEN an S3 inventory over every account runs, every 7th message delivered twice
    accepted = start({"operation": "inventory", "service": "s3", "accounts": "*"})
    assert accepted["total_tasks"] == 50
    assert accepted["total_accounts"] == 50
    assert accepted["status"] == "IN_PROGRESS"
    dup = {m for i, m in enumerate(ACCOUNTS) if i % 7 == 0}

    def duplicate(message: dict[str, Any]) -> bool:
        return json.loads(message["Body"])["account_id"] in dup

    handler = inventory_worker.lambda_handler
    responses = list(pump(stack.inventory_queue, handler, duplicate=duplicate))

    # THEN the counters are exact: duplicates changed nothing, the denied account failed
    final = job(accepted["job_id"])
    assert (final.succeeded, final.failed, final.remaining) == (49, 1, 0)
    assert final.status == "COMPLETED_WITH_ERRORS"
    assert final.finished_at is not None
    assert all(not r["batchItemFailures"] for r in responses)
    status = start({"operation": "status", "job_id": accepted["job_id"]})
    assert status["task_counts"] == {"SUCCEEDED": 49, "FAILED": 1}
    [failed] = status["failed_tasks"]
    assert failed["account_id"] == denied
    assert "AccessDenied" in failed["reason"]
    assert "AssumeRole" in failed["reason"]
    # AND each onboarded account's bucket and S3 settings are in the inventory, nothing else
    store = runtime().store
    for account in ACCOUNTS[:5]:
        arns = sorted(r.arn for r in store.iter_resources(account, "s3"))
        assert arns == [f"arn:aws:s3::{account}:account", f"arn:aws:s3:::bucket-{account}"]
    # (an account without buckets still has its S3 settings)
    assert [r.type for r in store.iter_resources(ACCOUNTS[10], "s3")] == ["s3.account"]
    # AND the job is no longer running
    assert store.running_job_ids() == []


def test_concurrent_completions_are_counted_exactly_once(stack: Stack) -> None:
    # GIVEN a job of 120 tasks, created directly in the store
    store = Store(stack.table)
    register(ACCOUNTS[:40])
    accepted = start({"operation": "inventory", "service": "*", "accounts": ACCOUNTS[:40]})
    job_id = accepted["job_id"]
    sks = [t.key for t in store.iter_tasks(job_id)]
    assert len(sks) == 120
    finals: list[str] = []
    lock = threading.Lock()

    # WHEN 8 threads complete every task, each task three times, in different orders
    def work(offset: int) -> None:
        own = Store(stack.table)
        order = sks[offset:] + sks[:offset]
        for sk in order * 3 if offset % 2 else order:
            status = TaskStatus.FAILED if sk.service == "iam" else TaskStatus.SUCCEEDED
            result = own.complete_tasks(job_id, [TaskOutcome(sk, status, "boom")])
            if result.final_status:
                with lock:
                    finals.append(result.final_status)

    threads = [threading.Thread(target=work, args=(i * 15,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN no increment was lost or doubled and the job was finalized exactly once
    final = job(job_id)
    assert (final.succeeded, final.failed, final.remaining) == (80, 40, 0)
    assert finals == ["COMPLETED_WITH_ERRORS"]
    assert final.status == "COMPLETED_WITH_ERRORS"
    states = [t.status for t in store.iter_tasks(job_id)]
    assert states.count(TaskStatus.SUCCEEDED) == 80
    assert states.count(TaskStatus.FAILED) == 40


def test_batch_completion_skips_terminal_tasks_and_finalizes(stack: Stack) -> None:
    # GIVEN a 3-task job where one task already succeeded
    register(ACCOUNTS[:3])
    job_id = start({"operation": "inventory", "service": "s3", "accounts": ACCOUNTS[:3]})["job_id"]
    store = Store(stack.table)
    sks = sorted(t.key for t in store.iter_tasks(job_id))
    store.complete_tasks(job_id, [TaskOutcome(sks[0], TaskStatus.SUCCEEDED)])
    # WHEN all three are failed in one call
    result = store.complete_tasks(job_id, [TaskOutcome.failed(sk, "cancelled") for sk in sks])
    # THEN the terminal one is skipped, the other two applied, and the job finalized
    assert result.skipped == [sks[0]]
    assert sorted(result.applied) == sks[1:]
    assert result.final_status == "COMPLETED_WITH_ERRORS"
    assert (job(job_id).succeeded, job(job_id).failed) == (1, 2)


def test_unknown_job_completion_reports_not_found(stack: Stack) -> None:
    # GIVEN no job WHEN a task of it completes THEN nothing is written and job_found is False
    store = Store(stack.table)
    result = store.complete_tasks(
        "inv-s3-20260101T000000Z-abcdef",
        [TaskOutcome(TaskKey("111111111111", TaskKind.INVENTORY, "s3"), TaskStatus.SUCCEEDED)],
    )
    assert not result.job_found
    key = TaskKey("111111111111", TaskKind.INVENTORY, "s3")
    assert store.get_task("inv-s3-20260101T000000Z-abcdef", key) is None


def test_cancel_counts_the_tasks_the_polling_service_cancelled_first(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a running 3-account job
    register(ACCOUNTS[:3])
    job_id = start({"operation": "inventory", "service": "s3", "accounts": ACCOUNTS[:3]})["job_id"]
    store = Store(stack.table)
    # WHEN the polling service runs between the cancel's flag and its own task updates
    mark = Store.mark_cancelled

    def mark_then_poll(self: Store, job: str) -> None:
        mark(self, job)
        settings = Settings.from_env()
        Reconciler(settings, Store(settings.table_name), TaskQueue(self.clients)).run(5)

    monkeypatch.setattr(Store, "mark_cancelled", mark_then_poll)
    cancelled = start({"operation": "cancel", "job_id": job_id})
    # THEN the answer still counts the three cancelled tasks, each counted once in the job
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cancelled_tasks"] == 3
    assert job(job_id).failed == 3
    assert {t.reason for t in store.iter_tasks(job_id, status=TaskStatus.FAILED)} == {"cancelled"}


def test_status_list_cancel_and_retry(stack: Stack) -> None:
    # GIVEN a running 4-account job with one task done
    register(ACCOUNTS[:4])
    onboard(ACCOUNTS[:1])
    job_id = start({"operation": "inventory", "service": "s3", "accounts": ACCOUNTS[:4]})["job_id"]
    store = Store(stack.table)
    store.complete_tasks(
        job_id,
        [TaskOutcome(TaskKey(ACCOUNTS[0], TaskKind.INVENTORY, "s3"), TaskStatus.SUCCEEDED)],
    )
    # WHEN it is listed and cancelled
    listed = start({"operation": "list", "limit": 5})
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]
    cancelled = start({"operation": "cancel", "job_id": job_id})
    # THEN the pending tasks fail as cancelled and the job is CANCELLED
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cancelled_tasks"] == 3
    reasons = {t.reason for t in store.iter_tasks(job_id, status=TaskStatus.FAILED)}
    assert reasons == {"cancelled"}
    # AND a cancelled job cannot be cancelled again
    again = start({"operation": "cancel", "job_id": job_id})
    assert again["error"]["code"] == "ValidationError"
    assert "only running jobs" in again["error"]["message"]
    # WHEN it is retried THEN a new job covers exactly the three failed tasks
    retried = start({"operation": "retry", "job_id": job_id})
    assert retried["total_tasks"] == 3
    assert retried["job_id"] != job_id
    assert job(retried["job_id"]).retry_of == job_id
    new_accounts = {t.account_id for t in store.iter_tasks(retried["job_id"])}
    assert new_accounts == set(ACCOUNTS[1:4])
    # AND the messages on the queue are exactly those three tasks
    bodies = [json.loads(m["Body"]) for m in receive(stack.inventory_queue, visibility=0)]
    bodies += [json.loads(m["Body"]) for m in receive(stack.inventory_queue, visibility=0)]
    assert {b["account_id"] for b in bodies if b["job_id"] == retried["job_id"]} == set(
        ACCOUNTS[1:4]
    )


def test_suspended_accounts_are_skipped_with_a_reason(stack: Stack) -> None:
    # GIVEN two active and one suspended account
    register(ACCOUNTS[:2])
    register(ACCOUNTS[2:3], status="SUSPENDED")
    # WHEN a job runs over every account
    accepted = start({"operation": "inventory", "service": "iam", "accounts": "*"})
    # THEN the suspended one is skipped, with its reason on the job, and not counted
    assert accepted["total_tasks"] == 2
    assert accepted["skipped_accounts"] == 1
    skipped = job(accepted["job_id"]).skipped_accounts
    assert skipped == (SkippedAccount(ACCOUNTS[2], "account is SUSPENDED"),)


def test_scan_refresh_pipeline_runs_scan_after_inventory(stack: Stack) -> None:
    # GIVEN two onboarded accounts and one whose role is missing
    onboard(ACCOUNTS[:2])
    register(ACCOUNTS[:3])
    from qrie.handlers import scan_worker

    # WHEN a refresh scan of the S3 policies runs
    accepted = start({"operation": "scan", "policy": "s3.*", "accounts": "*", "refresh": True})
    assert accepted["total_tasks"] == 6  # 3 inventory + 3 scan
    list(pump(stack.inventory_queue, inventory_worker.lambda_handler))
    # THEN only the two successful inventories enqueued their scan
    scans = [json.loads(m["Body"]) for m in receive(stack.scan_queue, visibility=0)]
    assert sorted(b["account_id"] for b in scans) == ACCOUNTS[:2]
    list(pump(stack.scan_queue, scan_worker.lambda_handler))
    final = job(accepted["job_id"])
    assert (final.succeeded, final.failed) == (4, 2)
    assert final.status == "COMPLETED_WITH_ERRORS"
    failed = {
        t.key: t.reason
        for t in Store(stack.table).iter_tasks(accepted["job_id"], TaskStatus.FAILED)
    }
    scan_reason = failed[TaskKey(ACCOUNTS[2], TaskKind.SCAN, "s3")]
    assert scan_reason.startswith("inventory-failed:")
    assert "AccessDenied" in scan_reason


@pytest.mark.parametrize(
    ("event", "field", "text"),
    [
        ({"operation": "explode"}, "operation", "unknown operation 'explode'"),
        ({"service": "s3"}, "operation", "missing"),
        ({"operation": "inventory", "service": "rds"}, "service", "unknown service 'rds'"),
        ({"operation": "scan", "policy": "s3.nope"}, "policy", "unknown policy 's3.nope'"),
        ({"operation": "inventory", "accounts": ["12345"]}, "accounts", "12 digits"),
        ({"operation": "inventory", "accounts": ["12345678901a"]}, "accounts", "12 digits"),
        ({"operation": "inventory", "accounts": []}, "accounts", "must not be empty"),
        (
            {"operation": "inventory", "accounts": ["111111111111", "111111111111"]},
            "accounts",
            "duplicate account ids: 111111111111",
        ),
        (
            {"operation": "inventory", "accounts": [f"{i:012d}" for i in range(20_001)]},
            "accounts",
            "at most 20000 accounts",
        ),
        ({"operation": "inventory", "accounts": 5}, "accounts", '"*" or a list'),
        ({"operation": "status", "job_id": "nope"}, "job_id", "malformed job id"),
        (
            {"operation": "status", "job_id": "inv-s3-20260101T000000Z-abcdef"},
            "job_id",
            "unknown job",
        ),
        ({"operation": "list", "limit": 0}, "limit", "greater than or equal to 1"),
        ({"operation": "inventory", "colour": "red"}, "colour", "unknown field"),
        ({"operation": "inventory", "accounts": "*"}, "accounts", "no ACTIVE registered"),
        ([1, 2], "request", "must be a JSON object"),
    ],
)
def test_invalid_requests_are_refused_and_write_nothing(
    stack: Stack, event: Any, field: str, text: str
) -> None:
    # GIVEN an empty stack WHEN an invalid request arrives
    response = start(event)
    # THEN it is refused naming the field and the problem
    assert response["error"]["code"] == "ValidationError"
    assert response["error"]["field"] == field
    assert text in response["error"]["message"]
    # AND nothing was written or enqueued
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.table)["Items"]
    assert items == []
    assert receive(stack.inventory_queue) == []


def test_polling_finalizes_dead_lettered_and_timed_out_tasks(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 3-account job: one message dead-lettered, one never processed
    register(ACCOUNTS[:3])
    job_id = start({"operation": "inventory", "service": "s3", "accounts": ACCOUNTS[:3]})["job_id"]
    messages = receive(stack.inventory_queue, visibility=0) + receive(
        stack.inventory_queue, visibility=0
    )
    by_account = {json.loads(m["Body"])["account_id"]: m for m in messages}
    sqs = boto3.client("sqs", region_name=REGION)
    dead = by_account[ACCOUNTS[0]]
    sqs.send_message(QueueUrl=stack.dlq, MessageBody=dead["Body"])
    sqs.send_message(QueueUrl=stack.dlq, MessageBody="{broken")
    ctx = LambdaContext("PollingServiceFunction", 110)

    # WHEN the polling service runs before the deadline
    report = polling_service.lambda_handler({"source": "aws.events"}, ctx)
    # THEN the dead-lettered task failed, the malformed letter was recorded, the job still runs
    assert report["dead_lettered"] == 1
    assert report["bad_messages"] == 1
    assert job(job_id).failed == 1
    assert job(job_id).status == "IN_PROGRESS"
    assert receive(stack.dlq) == []
    bad = runtime().store.bad_messages()
    assert bad[0].body == "{broken"
    assert "malformed" in bad[0].error

    # WHEN the deadline passes and it runs again
    store = Store(stack.table)
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=stack.table,
        Key={"PK": {"S": keys.job_pk(job_id)}, "SK": {"S": keys.JOB_SK}},
        UpdateExpression="SET Deadline = :d",
        ExpressionAttributeValues={":d": {"N": "1"}},
    )
    report = polling_service.lambda_handler({"source": "aws.events"}, ctx)
    # THEN the two pending tasks time out and the job is final
    assert report["timed_out"] == 2
    assert report["finalized"] == [job_id]
    final = job(job_id)
    assert final.status == "FAILED"
    reasons = sorted(t.reason for t in store.iter_tasks(job_id))
    assert reasons == ["dead-lettered", "timed-out", "timed-out"]
    assert store.running_job_ids() == []
