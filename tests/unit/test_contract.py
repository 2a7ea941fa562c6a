"""The functions under hostile or misdirected input, through the Lambda contract: identifiers
are ASCII and whole, refusals are bounded, deep nesting is refused cleanly, a task message on
the wrong queue fails its task, a dead letter of an unknown job is recorded, and an account that
was never inventoried is never scanned clean."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from qrie.domain import Account, TaskKey, TaskKind, TaskStatus
from qrie.errors import ValidationError
from qrie.handlers import job_handler, polling_service, scan_worker
from qrie.handlers.runtime import runtime
from qrie.models import parse_task
from qrie_local.events import LambdaContext, sqs_event
from tests.support import REGION, Stack, onboard, pump, queue_arn, receive

ACCOUNT = "230000000001"
OTHER = "230000000002"


def start(event: Any) -> dict[str, Any]:
    return job_handler.lambda_handler(event, LambdaContext("JobHandlerFunction", 120))


def register(*accounts: str) -> None:
    runtime().store.put_accounts(Account(a) for a in accounts)


def table_items(stack: Stack) -> list[dict[str, Any]]:
    return list(boto3.client("dynamodb", region_name=REGION).scan(TableName=stack.table)["Items"])


# ---------------------------------------------------------------- identifiers (bug 2)
@pytest.mark.parametrize(
    "account",
    [
        "１１１１１１１１１１１１",  # fullwidth digits  # noqa: RUF001
        "٣٣٣٣٣٣٣٣٣٣٣٣",  # Arabic-Indic digits
        "111111111111\n",  # a trailing newline
        " 111111111111",
    ],
)
def test_account_ids_must_be_twelve_ascii_digits(stack: Stack, account: str) -> None:
    # GIVEN an account id that only looks like 12 digits WHEN a job names it
    response = start({"operation": "inventory", "service": "s3", "accounts": [account]})
    # THEN it is refused naming the field, and nothing is written
    assert response["error"]["field"] == "accounts"
    assert "12 digits" in response["error"]["message"]
    assert table_items(stack) == []


def test_an_id_and_the_same_id_with_a_newline_are_not_two_tasks(stack: Stack) -> None:
    register(ACCOUNT)
    response = start(
        {"operation": "inventory", "service": "s3", "accounts": [ACCOUNT, ACCOUNT + "\n"]}
    )
    assert response["error"]["field"] == "accounts"
    assert receive(stack.inventory_queue) == []


def test_job_ids_must_match_whole_and_ascii() -> None:
    for job_id in ("inv-s3-20260101T000000Z-abcdef\n", "inv-s3-２０２６0101T000000Z-abcdef"):  # noqa: RUF001
        with pytest.raises(ValidationError) as refused:
            parse_task(
                json.dumps(
                    {"job_id": job_id, "kind": "scan", "account_id": ACCOUNT, "service": "s3"}
                )
            )
        assert refused.value.field == "job_id"


# ---------------------------------------------------------------- bounded refusals (bug 3)
def test_refusals_never_echo_more_than_a_bounded_excerpt(stack: Stack) -> None:
    huge = "x" * 1_000_000
    cases = [
        {"operation": "inventory", "service": huge},
        {"operation": "inventory", huge: 1},
        {"operation": "inventory", "accounts": ["\u200b" * 200_000] * 5},
        {"operation": huge},
    ]
    for event in cases:
        response = start(event)
        assert "error" in response
        assert len(json.dumps(response)) < 2_000, len(json.dumps(response))
    # AND the excerpt says how long the value was
    response = start({"operation": "inventory", "service": huge})
    assert "(1000000 chars)" in response["error"]["message"]


# ---------------------------------------------------------------- deep nesting (bug 4)
def test_deeply_nested_input_is_refused_cleanly(stack: Stack) -> None:
    deep: Any = "111111111111"
    for _ in range(20_000):
        deep = [deep]
    response = start({"operation": "inventory", "accounts": [deep]})
    assert response["error"]["code"] == "ValidationError"
    assert "nested" in response["error"]["message"]
    body = "[" * 50_000 + "]" * 50_000
    with pytest.raises(ValidationError):
        parse_task(body)


# ---------------------------------------------------------------- misdirected messages (bug 5)
def test_a_task_message_on_the_wrong_queue_fails_its_task(stack: Stack) -> None:
    # GIVEN a running inventory job with one task
    onboard([ACCOUNT])
    register(ACCOUNT)
    job_id = start({"operation": "inventory", "service": "s3", "accounts": [ACCOUNT]})["job_id"]
    [message] = receive(stack.inventory_queue)
    # WHEN its message arrives on the scan queue
    event = sqs_event([message], queue_arn(stack.scan_queue), REGION)
    response = scan_worker.lambda_handler(event, LambdaContext("ScanWorkerFunction", 300))
    # THEN it is not retried, it is recorded, and its task fails at once with the reason
    assert response["batchItemFailures"] == []
    task = runtime().store.get_task(job_id, TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3"))
    assert task is not None
    assert task.status is TaskStatus.FAILED
    assert "wrong queue" in task.reason
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert (job.failed, job.remaining, job.running) == (1, 0, False)
    assert any("wrong queue" in b.error for b in runtime().store.bad_messages())


# ---------------------------------------------------------------- unknown dead letters (bug 6)
def test_a_dead_letter_of_an_unknown_job_is_recorded(stack: Stack) -> None:
    body = json.dumps(
        {
            "job_id": "inv-s3-20260101T000000Z-abcdef",
            "kind": "inventory",
            "account_id": ACCOUNT,
            "service": "s3",
        }
    )
    boto3.client("sqs", region_name=REGION).send_message(QueueUrl=stack.dlq, MessageBody=body)
    report = polling_service.lambda_handler(
        {"source": "aws.events"}, LambdaContext("PollingServiceFunction", 110)
    )
    assert report["bad_messages"] == 1
    [bad] = runtime().store.bad_messages()
    assert "unknown job" in bad.error
    assert bad.body == body
    assert receive(stack.dlq) == []


# ---------------------------------------------------------------- never clean without evidence
def test_an_unregistered_account_is_refused_by_name(stack: Stack) -> None:
    register(ACCOUNT)
    response = start({"operation": "scan", "policy": "*", "accounts": [ACCOUNT, "999999999999"]})
    assert response["error"]["field"] == "accounts"
    assert "999999999999" in response["error"]["message"]
    assert "not registered" in response["error"]["message"]
    assert table_items(stack) == [i for i in table_items(stack) if i["PK"]["S"] == "ACCOUNT"]
    # AND the request can say it means it
    allowed = start(
        {
            "operation": "scan",
            "policy": "*",
            "accounts": ["999999999999"],
            "allow_unregistered": True,
        }
    )
    assert allowed["total_tasks"] == 3


def test_a_scan_of_an_account_never_inventoried_fails_not_inventoried(stack: Stack) -> None:
    # GIVEN a registered account whose inventory never succeeded
    register(ACCOUNT)
    job_id = start({"operation": "scan", "policy": "s3.*", "accounts": [ACCOUNT]})["job_id"]
    # WHEN its scan task runs
    list(pump(stack.scan_queue, scan_worker.lambda_handler))
    # THEN the task fails as not-inventoried and the job is not COMPLETED
    [task] = runtime().store.iter_tasks(job_id)
    assert task.status is TaskStatus.FAILED
    assert task.reason.startswith("not-inventoried")
    job = runtime().store.get_job(job_id)
    assert job is not None
    assert job.status == "FAILED"


def test_a_scan_after_a_successful_inventory_runs(stack: Stack) -> None:
    from qrie.handlers import inventory_worker

    onboard([ACCOUNT])
    register(ACCOUNT)
    start({"operation": "inventory", "service": "s3", "accounts": [ACCOUNT]})
    list(pump(stack.inventory_queue, inventory_worker.lambda_handler))
    job_id = start({"operation": "scan", "policy": "s3.*", "accounts": [ACCOUNT]})["job_id"]
    list(pump(stack.scan_queue, scan_worker.lambda_handler))
    [task] = runtime().store.iter_tasks(job_id)
    assert task.status is TaskStatus.SUCCEEDED, task.reason


def test_removing_an_account_closes_its_findings(stack: Stack) -> None:
    from qrie.accounts import registry
    from qrie.domain import FindingState
    from qrie.handlers import inventory_worker

    # GIVEN an account with an open finding
    onboard([ACCOUNT])
    register(ACCOUNT)
    from qrie_local.members import member_session

    member_session(ACCOUNT).client("s3", region_name=REGION).create_bucket(Bucket="plain-bucket")
    start({"operation": "scan", "policy": "s3.*", "accounts": [ACCOUNT], "refresh": True})
    list(pump(stack.inventory_queue, inventory_worker.lambda_handler))
    list(pump(stack.scan_queue, scan_worker.lambda_handler))
    store = runtime().store
    assert list(store.iter_findings(ACCOUNT, state=FindingState.OPEN))
    # WHEN it is removed from the registry
    assert registry.remove_account(store, ACCOUNT)
    # THEN every finding of it is closed as account-removed, and the dashboard counts drop
    findings = list(store.iter_findings(ACCOUNT))
    assert findings
    assert {(f.state, f.resolved_reason) for f in findings} == {
        (FindingState.RESOLVED, "account-removed")
    }
    assert all(c.open == 0 for c in store.summary() if c.account_id == ACCOUNT)


def test_coverage_keeps_the_last_success_and_the_last_failure(stack: Stack) -> None:
    from qrie.handlers import inventory_worker

    # GIVEN an account inventoried once, whose role is then removed
    onboard([ACCOUNT])
    register(ACCOUNT)
    start({"operation": "inventory", "service": "iam", "accounts": [ACCOUNT]})
    list(pump(stack.inventory_queue, inventory_worker.lambda_handler))
    store = runtime().store
    first = store.get_coverage(ACCOUNT, TaskKind.INVENTORY, "iam")
    assert first is not None
    assert first.succeeded
    assert not first.failing
    from qrie_local.members import member_session

    iam = member_session(ACCOUNT).client("iam", region_name=REGION)
    for policy in iam.list_role_policies(RoleName="QrieReadOnly")["PolicyNames"]:
        iam.delete_role_policy(RoleName="QrieReadOnly", PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName="QrieReadOnly")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="QrieReadOnly", PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName="QrieReadOnly")
    # WHEN the next inventory fails on AssumeRole
    from qrie.handlers import runtime as runtime_module

    runtime_module.reset()  # a new execution environment: no cached credentials
    start({"operation": "inventory", "service": "iam", "accounts": [ACCOUNT]})
    list(pump(stack.inventory_queue, inventory_worker.lambda_handler))
    # THEN the coverage says why, and still holds the earlier success
    after = store.get_coverage(ACCOUNT, TaskKind.INVENTORY, "iam")
    assert after is not None
    assert (after.at, after.job_id) == (first.at, first.job_id)
    assert after.failing
    assert "AssumeRole" in (after.failure or "")
