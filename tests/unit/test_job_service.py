"""The job service on moto: which accounts a job runs, what it writes and enqueues, and what it
answers (start, status, cancel, retry), refusals word for word."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from qrie.domain import (
    Account,
    AccountStatus,
    JobStatus,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    parse_timestamp,
)
from qrie.handlers.runtime import runtime
from qrie.jobs import service as service_module
from qrie.jobs.service import JobService, new_job_id
from qrie.queue import TaskQueue
from tests.support import Stack, receive

A = [f"{230000000000 + i}" for i in range(14)]


def service() -> JobService:
    current = runtime()
    return JobService(current.settings, current.store, current.queue)


def register(accounts: list[str], status: AccountStatus = AccountStatus.ACTIVE) -> None:
    runtime().store.put_accounts(Account(a, status, f"acct-{a[-3:]}") for a in accounts)


def answer(event: dict[str, Any]) -> dict[str, Any]:
    return service().handle(event)


def refusal(event: dict[str, Any]) -> str:
    response = answer(event)
    assert "error" in response, response
    message = str(response["error"]["message"])
    assert response["error"]["field"] == message.split(":", 1)[0]  # a refusal names its field
    return message


def bodies(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := receive(url, visibility=60):
        found += [json.loads(m["Body"]) for m in batch]
    return sorted(found, key=lambda b: (b["kind"], b["account_id"], b["service"]))


def tasks(job_id: str) -> dict[TaskKey, tuple[TaskStatus, str]]:
    return {t.key: (t.status, t.reason) for t in runtime().store.iter_tasks(job_id)}


# ---------------------------------------------------------------- which accounts run
def test_every_active_account_runs_and_the_others_are_skipped_with_their_status(
    stack: Stack,
) -> None:
    # GIVEN two active accounts and a suspended one
    register(A[:2])
    register(A[2:3], AccountStatus.SUSPENDED)
    # WHEN an inventory of every account starts
    before = int(time.time())
    started = answer({"operation": "inventory", "service": "s3", "accounts": "*"})
    # THEN the active ones run, the suspended one is skipped and said why
    job_id = started["job_id"]
    assert started == {
        "job_id": job_id,
        "status": "IN_PROGRESS",
        "total_tasks": 2,
        "total_accounts": 2,
        "skipped_accounts": 1,
        "enqueue_failures": 0,
    }
    assert job_id.startswith("inv-s3-")
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.total, job.remaining, job.total_accounts, job.service) == (2, 2, 2, "s3")
    assert (job.running, job.finished_at) == (True, None)
    assert [s.to_dict() for s in job.skipped_accounts] == [
        {"account_id": A[2], "reason": "account is SUSPENDED"}
    ]
    assert job.skipped_count == 1
    settings = runtime().settings
    assert before + settings.job_timeout_seconds <= job.deadline <= int(time.time()) + 3600
    assert job.expires_at - job.deadline == settings.job_ttl_days * 86400 - 3600
    # AND one message per task, on the inventory queue, as the worker reads it
    assert bodies(stack.inventory_queue) == [
        {"v": 1, "job_id": job_id, "kind": "inventory", "account_id": a, "service": "s3"}
        for a in A[:2]
    ]


def test_no_active_account_is_refused(stack: Stack) -> None:
    # GIVEN only a suspended account / WHEN every account is asked for / THEN refused
    register(A[:1], AccountStatus.SUSPENDED)
    assert refusal({"operation": "inventory", "accounts": "*"}) == (
        'accounts: "*" matched no ACTIVE registered account; register accounts first'
    )


def test_unregistered_accounts_are_refused_ten_named(stack: Stack) -> None:
    # GIVEN one registered account, and a request naming it and 12 others
    register(A[:1])
    # WHEN the inventory is asked for THEN the first ten unknown ones are named, the rest counted
    shown = ", ".join(A[1:11])
    assert refusal({"operation": "inventory", "accounts": A[:13]}) == (
        f"accounts: not registered: {shown} and 2 more (register them with `qrie accounts add`"
        " or `accounts sync`, or pass allow_unregistered)"
    )
    # AND ten unknown ones are all named, without "more"
    assert refusal({"operation": "inventory", "accounts": A[:11]}).startswith(
        f"accounts: not registered: {shown} (register"
    )


def test_listed_accounts_run_unless_inactive_and_unregistered_ones_when_allowed(
    stack: Stack,
) -> None:
    # GIVEN an active, a suspended and an unregistered account, unregistered ones allowed
    register(A[:1])
    register(A[1:2], AccountStatus.SUSPENDED)
    started = answer(
        {
            "operation": "inventory",
            "service": "s3",
            "accounts": A[:3],
            "allow_unregistered": True,
        }
    )
    # THEN the active and the unregistered one run, the suspended one is skipped, said why
    assert (started["total_tasks"], started["skipped_accounts"]) == (2, 1)
    assert sorted(k.account_id for k in tasks(started["job_id"])) == [A[0], A[2]]
    job = runtime().store.get_job(started["job_id"])
    assert job is not None
    assert [s.to_dict() for s in job.skipped_accounts] == [
        {"account_id": A[1], "reason": "account is SUSPENDED"}
    ]
    # AND a scan allows unregistered accounts the same way
    scan = {"operation": "scan", "policy": "s3.*", "accounts": A[2:3]}
    assert answer({**scan, "allow_unregistered": True})["total_tasks"] == 1
    assert refusal(scan).startswith(f"accounts: not registered: {A[2]} (register")


def test_list_answers_the_latest_jobs_up_to_its_limit(stack: Stack) -> None:
    # GIVEN two jobs / WHEN one is asked for THEN only the latest is listed
    register(A[:1])
    for _ in range(2):
        answer({"operation": "inventory", "service": "s3", "accounts": A[:1]})
    assert len(answer({"operation": "list", "limit": 1})["jobs"]) == 1
    assert len(answer({"operation": "list"})["jobs"]) == 2


def test_a_job_with_nothing_to_run_is_complete_at_once(stack: Stack) -> None:
    # GIVEN a suspended account named explicitly / WHEN its inventory starts
    register(A[:1], AccountStatus.SUSPENDED)
    started = answer({"operation": "inventory", "accounts": A[:1]})
    # THEN the job has no task, is COMPLETED, and finished when it was created
    assert (started["status"], started["total_tasks"]) == ("COMPLETED", 0)
    job = runtime().store.get_job(started["job_id"])
    assert job is not None
    assert (job.running, job.finished_at) == (False, job.created_at)
    assert runtime().store.running_job_ids() == []


# ---------------------------------------------------------------- scans
def test_an_unknown_policy_is_refused_naming_the_valid_specs(stack: Stack) -> None:
    register(A[:1])
    assert refusal({"operation": "scan", "policy": "s3.no_such_policy"}) == (
        "policy: unknown policy 's3.no_such_policy'; valid: a policy id, s3.*, ec2.*, iam.*, *"
    )


def test_a_scan_enqueues_its_scans_with_the_policy(stack: Stack) -> None:
    # GIVEN one account / WHEN a scan of one service's policies starts
    register(A[:1])
    started = answer({"operation": "scan", "policy": "s3.*", "accounts": A[:1]})
    # THEN one scan task, scoped to that service, enqueued with its policy
    job_id = started["job_id"]
    assert job_id.startswith("scan-s3-")
    assert bodies(stack.scan_queue) == [
        {
            "v": 1,
            "job_id": job_id,
            "kind": "scan",
            "account_id": A[0],
            "service": "s3",
            "policy": "s3.*",
        }
    ]
    assert bodies(stack.inventory_queue) == []


def test_a_refresh_scan_enqueues_only_its_inventories_carrying_the_scan(stack: Stack) -> None:
    # GIVEN one account / WHEN a refresh scan of every policy starts
    register(A[:1])
    started = answer({"operation": "scan", "policy": "*", "accounts": A[:1], "refresh": True})
    job_id = started["job_id"]
    # THEN an inventory and a scan task per service; only the inventories are enqueued, each
    # carrying the scan to enqueue after it
    assert job_id.startswith("scan-all-")
    assert started["total_tasks"] == 6
    assert bodies(stack.inventory_queue) == [
        {
            "v": 1,
            "job_id": job_id,
            "kind": "inventory",
            "account_id": A[0],
            "service": s,
            "scan_policy": "*",
        }
        for s in ("ec2", "iam", "s3")
    ]
    assert bodies(stack.scan_queue) == []
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.policy, job.refresh) == ("*", True)


def test_messages_that_cannot_be_enqueued_fail_their_tasks_and_dependents(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SQS refusing every message / WHEN a refresh scan of one account starts
    register(A[:1])

    def refuse(self: TaskQueue, url: str, messages: Any, threads: int = 16) -> dict[str, str]:
        return {m.id: "InternalError" for m in messages}

    monkeypatch.setattr(TaskQueue, "send", refuse)
    started = answer({"operation": "scan", "policy": "s3.*", "accounts": A[:1], "refresh": True})
    # THEN the inventory fails enqueue-failed, its scan with it, and the job is over
    assert (started["enqueue_failures"], started["total_tasks"]) == (1, 2)
    assert tasks(started["job_id"]) == {
        TaskKey(A[0], TaskKind.INVENTORY, "s3"): (
            TaskStatus.FAILED,
            "enqueue-failed: InternalError",
        ),
        TaskKey(A[0], TaskKind.SCAN, "s3"): (TaskStatus.FAILED, "inventory-failed: enqueue-failed"),
    }
    job = runtime().store.get_job(started["job_id"])
    assert job is not None
    assert job.status == JobStatus.FAILED


# ---------------------------------------------------------------- status, cancel, retry
def test_status_counts_tasks_by_state_and_lists_the_failed(stack: Stack) -> None:
    # GIVEN a 3-task job: one succeeded, one failed
    register(A[:3])
    job_id = answer({"operation": "inventory", "service": "s3", "accounts": A[:3]})["job_id"]
    runtime().store.complete_tasks(
        job_id,
        [
            TaskOutcome(TaskKey(A[0], TaskKind.INVENTORY, "s3"), TaskStatus.SUCCEEDED),
            TaskOutcome.failed(TaskKey(A[1], TaskKind.INVENTORY, "s3"), "boom"),
        ],
    )
    # WHEN its status is asked for
    status = answer({"operation": "status", "job_id": job_id})
    # THEN every state is counted and the failed task is listed
    assert status["task_counts"] == {"SUCCEEDED": 1, "FAILED": 1, "PENDING": 1}
    assert [(t["account_id"], t["reason"]) for t in status["failed_tasks"]] == [(A[1], "boom")]
    assert status["job"]["job_id"] == job_id


def test_status_lists_at_most_the_first_failed_tasks(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a job with two failed tasks, and at most one failed task shown
    monkeypatch.setattr(service_module, "MAX_FAILED_SHOWN", 1)
    register(A[:2])
    job_id = answer({"operation": "inventory", "service": "s3", "accounts": A[:2]})["job_id"]
    runtime().store.complete_tasks(
        job_id, [TaskOutcome.failed(TaskKey(a, TaskKind.INVENTORY, "s3"), "boom") for a in A[:2]]
    )
    # WHEN its status is asked for THEN both are counted, one is listed
    status = answer({"operation": "status", "job_id": job_id})
    assert status["task_counts"] == {"FAILED": 2}
    assert len(status["failed_tasks"]) == 1


def test_an_unknown_job_is_refused_by_id(stack: Stack) -> None:
    job_id = "inv-s3-20260101T000000Z-abcdef"
    for operation in ("status", "cancel", "retry"):
        assert refusal({"operation": operation, "job_id": job_id}) == (
            f"job_id: unknown job {job_id!r}"
        )


def test_cancel_fails_the_pending_tasks_and_answers_the_count(stack: Stack) -> None:
    # GIVEN a running 3-task job with one task done
    register(A[:3])
    job_id = answer({"operation": "inventory", "service": "s3", "accounts": A[:3]})["job_id"]
    done = TaskKey(A[0], TaskKind.INVENTORY, "s3")
    runtime().store.complete_tasks(job_id, [TaskOutcome(done, TaskStatus.SUCCEEDED)])
    # WHEN it is cancelled
    cancelled = answer({"operation": "cancel", "job_id": job_id})
    # THEN the two pending tasks are failed as cancelled, and the answer says so
    assert cancelled == {
        "job_id": job_id,
        "status": "CANCELLED",
        "cancelled_tasks": 2,
        "total_tasks": 3,
        "total_accounts": 3,
    }
    assert tasks(job_id)[done] == (TaskStatus.SUCCEEDED, "")
    # AND a finished job cannot be cancelled
    assert refusal({"operation": "cancel", "job_id": job_id}) == (
        f"job_id: job {job_id} is CANCELLED, only running jobs can be cancelled"
    )


def test_retry_runs_only_the_failed_tasks_of_a_finished_job(stack: Stack) -> None:
    # GIVEN a 3-account inventory of every service
    register(A[:3])
    job_id = answer({"operation": "inventory", "service": "*", "accounts": A[:3]})["job_id"]
    # WHEN it is retried while running THEN refused
    assert refusal({"operation": "retry", "job_id": job_id}) == (
        f"job_id: job {job_id} is still running; retry it when it has finished"
    )
    # GIVEN it finished with two failed tasks, of one service
    store = runtime().store
    failed = [TaskKey(a, TaskKind.INVENTORY, "iam") for a in A[:2]]
    store.complete_tasks(
        job_id,
        [TaskOutcome.failed(k, "boom") for k in failed]
        + [
            TaskOutcome(k, TaskStatus.SUCCEEDED)
            for k in {t.key for t in store.iter_tasks(job_id)} - set(failed)
        ],
    )
    bodies(stack.inventory_queue)
    # WHEN it is retried
    retried = answer({"operation": "retry", "job_id": job_id})
    # THEN a new job runs those two tasks only, scoped to their service
    assert retried["job_id"].startswith("inv-iam-")
    assert (retried["total_tasks"], retried["total_accounts"]) == (2, 2)
    assert sorted(tasks(retried["job_id"])) == sorted(failed)
    job = store.get_job(retried["job_id"])
    assert job is not None
    assert (job.retry_of, job.service) == (job_id, "*")
    assert [b["account_id"] for b in bodies(stack.inventory_queue)] == A[:2]


@pytest.mark.parametrize(
    ("service", "failing", "prefix"),
    [("s3", ["s3"], "inv-s3-"), ("*", ["s3", "iam"], "inv-all-")],
)
def test_a_retry_keeps_the_service_and_is_scoped_to_what_failed(
    stack: Stack, service: str, failing: list[str], prefix: str
) -> None:
    # GIVEN a finished inventory whose tasks of `failing` services failed
    register(A[:1])
    job_id = answer({"operation": "inventory", "service": service, "accounts": A[:1]})["job_id"]
    store = runtime().store
    store.complete_tasks(
        job_id,
        [
            TaskOutcome.failed(t.key, "boom")
            if t.key.service in failing
            else TaskOutcome(t.key, TaskStatus.SUCCEEDED)
            for t in store.iter_tasks(job_id)
        ],
    )
    # WHEN it is retried THEN the new job keeps its service spec, and is named by its scope
    retried = answer({"operation": "retry", "job_id": job_id})
    assert retried["job_id"].startswith(prefix)
    job = store.get_job(retried["job_id"])
    assert job is not None
    assert job.service == service


def test_retry_of_a_job_without_failures_is_refused(stack: Stack) -> None:
    register(A[:1])
    job_id = answer({"operation": "inventory", "service": "s3", "accounts": A[:1]})["job_id"]
    key = TaskKey(A[0], TaskKind.INVENTORY, "s3")
    runtime().store.complete_tasks(job_id, [TaskOutcome(key, TaskStatus.SUCCEEDED)])
    assert refusal({"operation": "retry", "job_id": job_id}) == (
        f"job_id: job {job_id} has no failed tasks"
    )


def test_retry_of_a_refresh_scan_reruns_both_stages(stack: Stack) -> None:
    # GIVEN a finished refresh scan whose inventory of one account failed (and its scan)
    register(A[:2])
    started = answer({"operation": "scan", "policy": "s3.*", "accounts": A[:2], "refresh": True})
    job_id = started["job_id"]
    inv, scan = TaskKey(A[0], TaskKind.INVENTORY, "s3"), TaskKey(A[0], TaskKind.SCAN, "s3")
    store = runtime().store
    store.complete_tasks(
        job_id,
        [TaskOutcome.failed(inv, "boom"), TaskOutcome.failed(scan, "inventory-failed: boom")]
        + [
            TaskOutcome(TaskKey(A[1], kind, "s3"), TaskStatus.SUCCEEDED)
            for kind in (TaskKind.INVENTORY, TaskKind.SCAN)
        ],
    )
    # WHEN it is retried
    retried = answer({"operation": "retry", "job_id": job_id})
    # THEN both stages of that account run again, as a refresh scan of the same policy
    assert sorted(tasks(retried["job_id"])) == sorted([inv, scan])
    job = store.get_job(retried["job_id"])
    assert job is not None
    assert (job.operation, job.policy, job.refresh, job.retry_of) == (
        TaskKind.SCAN,
        "s3.*",
        True,
        job_id,
    )


def test_starting_a_job_records_one_invocation_of_usage(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one account, in a 512 MB function / WHEN an inventory starts
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    register(A[:1])
    job_id = answer({"operation": "inventory", "service": "s3", "accounts": A[:1]})["job_id"]
    # THEN its usage holds the starting invocation, the time it took and its memory-time
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert job.usage.invocations == 1
    assert job.usage.ms > 0
    assert job.usage.mb_ms == pytest.approx(job.usage.ms * 512)


def test_a_job_started_where_local_time_is_not_utc_is_stamped_in_utc(
    stack: Stack, local_time_not_utc: None
) -> None:
    # GIVEN a registered account, and a machine whose local time is five hours ahead of UTC
    register(A[:1])
    before = datetime.now(UTC).replace(microsecond=0)
    # WHEN an inventory is started
    started = answer({"operation": "inventory", "service": "s3", "accounts": A[:1]})
    after = datetime.now(UTC)
    # THEN the job's creation time is UTC now, and so is the time its id says
    job = runtime().store.get_job(started["job_id"])
    assert job is not None
    assert before <= parse_timestamp(job.created_at) <= after
    stamped = datetime.strptime(started["job_id"].split("-")[-2], "%Y%m%dT%H%M%SZ")
    assert before <= stamped.replace(tzinfo=UTC) <= after


@pytest.mark.parametrize(
    ("operation", "scope", "prefix"),
    [
        (TaskKind.INVENTORY, "s3", "inv-s3-20260102T030405Z-"),
        (TaskKind.SCAN, "*", "scan-all-20260102T030405Z-"),
        (TaskKind.SCAN, "", "scan-all-20260102T030405Z-"),
    ],
)
def test_a_job_id_says_what_when_and_is_unique(
    operation: TaskKind, scope: str, prefix: str
) -> None:
    # GIVEN an operation, a scope and a moment / WHEN job ids are made
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = {new_job_id(operation, scope, moment) for _ in range(20)}
    # THEN each says the operation, the scope ("all" for every service) and the time, and ends
    # with 6 random hex digits
    assert all(i.startswith(prefix) and len(i) == len(prefix) + 6 for i in ids)
    assert all(int(i[-6:], 16) >= 0 for i in ids)
    assert len(ids) > 1
