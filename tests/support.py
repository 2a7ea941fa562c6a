"""Test support: an in-process stack on moto `mock_aws`, and a tiny SQS pump that delivers
queue messages to a worker handler the way Lambda's event source mapping does."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from qrie_local import server
from qrie_local.events import LambdaContext, sqs_event
from qrie_local.members import deploy_member_role
from qrie_local.roles import assume_execution_role

REGION = "us-east-1"
HUB_ACCOUNT = "123456789012"
HUB_STACK = "qrie-test"
ROLE = "QrieReadOnly"
EXTERNAL_ID = "qrie-test-external-id"
# The inventory worker's execution role, where template.yaml's RolePath puts it: the principal
# the member roles trust (onboarding/member-role.yaml, aws:PrincipalArn).
WORKER_ROLE_ARN = (
    f"arn:aws:iam::{HUB_ACCOUNT}:role/qrie/{HUB_STACK}/inventory-worker/"
    f"{HUB_STACK}-InventoryWorkerFunctionRole"
)


@dataclass
class Stack:
    table: str
    inventory_queue: str
    scan_queue: str
    dlq: str
    credentials: dict[str, str] = field(default_factory=dict)  # the worker role's session

    def env(self) -> dict[str, str]:
        return {
            **self.credentials,
            "TABLE_NAME": self.table,
            "INVENTORY_QUEUE_URL": self.inventory_queue,
            "SCAN_QUEUE_URL": self.scan_queue,
            "DLQ_URL": self.dlq,
            "MEMBER_ROLE_NAME": ROLE,
            "EXTERNAL_ID": EXTERNAL_ID,
            "REGIONS": "us-east-1,eu-west-1",
            "RETRY_BASE_SECONDS": "0",
            "JOB_CACHE_SECONDS": "0",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Qrie",
            "POWERTOOLS_SERVICE_NAME": "qrie",
        }


def create_stack(visibility_timeout: int = 30) -> Stack:
    """Table and queues with the keys, index and redrive policy template.yaml declares."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="qrie-test",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="qrie-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    urls = [
        sqs.create_queue(
            QueueName=name,
            Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout)},
        )["QueueUrl"]
        for name in ("qrie-inventory", "qrie-scan")
    ]
    credentials = assume_execution_role(
        boto3.client("iam", region_name=REGION),
        boto3.client("sts", region_name=REGION),
        WORKER_ROLE_ARN,
        "qrie-test-worker",
    )
    return Stack("qrie-test", urls[0], urls[1], dlq, credentials)


def onboard(accounts: list[str]) -> None:
    """Deploy qrie's member role (onboarding/member-role.yaml: it trusts the hub's inventory
    worker with the ExternalId) in each account."""
    for account in accounts:
        deploy_member_role(account, ROLE, EXTERNAL_ID, HUB_ACCOUNT, HUB_STACK)


def queue_arn(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return f"arn:aws:sqs:{REGION}:{HUB_ACCOUNT}:{name}"


def receive(
    url: str, max_messages: int = 10, visibility: int | None = None
) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "QueueUrl": url,
        "MaxNumberOfMessages": max_messages,
        "AttributeNames": ["All"],
        "WaitTimeSeconds": 0,
    }
    if visibility is not None:
        kwargs["VisibilityTimeout"] = visibility
    return list(
        boto3.client("sqs", region_name=REGION).receive_message(**kwargs).get("Messages", [])
    )


def pump(
    url: str,
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    duplicate: Callable[[dict[str, Any]], bool] = lambda _m: False,
    max_batches: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Deliver batches until the queue is empty; delete records not reported as failures.
    ``duplicate(message)`` True delivers that message a second time in the next batch."""
    sqs = boto3.client("sqs", region_name=REGION)
    again: list[dict[str, Any]] = []
    for _ in range(max_batches):
        messages = receive(url) + again
        again = []
        if not messages:
            return
        event = sqs_event(messages, queue_arn(url), REGION)
        response = handler(event, LambdaContext("worker", 300))
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if duplicate(message) and not message.get("_dup"):
                    again.append({**message, "_dup": True})
        yield response


# ---------------------------------------------------------------------------- README commands
@dataclass(frozen=True)
class ReadmeCommand:
    """A ``qrie`` command line of README.md: its section, and its arguments after ``qrie``."""

    section: str
    args: tuple[str, ...]
    in_code_block: bool

    def __str__(self) -> str:
        return "qrie " + " ".join(self.args)


# placeholders of commands quoted in the README's prose, and what stands for them in tests
README_PLACEHOLDERS = {
    "N": "3",
    "FN": "JobHandlerFunction",
    "EVENT_FILE": "events/JobHandlerFunction/list.json",
    "ID": "123456789012",
    "JOB_ID": "inv-all-20250101T000000Z-0a1b2c",
}


def readme_commands(readme: str) -> list[ReadmeCommand]:
    """Every ``qrie`` command of the README: the lines of its ``bash`` code blocks that run
    ``qrie`` or ``.venv/bin/qrie`` (comments dropped, quotes honoured), and the commands quoted
    in its prose (placeholders replaced by :data:`README_PLACEHOLDERS`)."""
    import re
    import shlex

    found: list[ReadmeCommand] = []
    section = ""
    fence: str | None = None  # the language of the code block we are in
    prose: list[str] = []

    def quoted_in_prose() -> None:
        for quoted in re.findall(r"`(qrie [^`]+)`", " ".join(prose)):
            words = [README_PLACEHOLDERS.get(w, w) for w in shlex.split(quoted)]
            found.append(ReadmeCommand(section, tuple(words[1:]), False))
        prose.clear()

    for line in readme.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence is not None:
            if fence == "bash" and line.split()[:1] in (["qrie"], [".venv/bin/qrie"]):
                words = shlex.split(line, comments=True)
                found.append(ReadmeCommand(section, tuple(words[1:]), True))
            continue
        if line.startswith("#"):
            quoted_in_prose()
            section = line.lstrip("#").strip()
            continue
        prose.append(line)
    quoted_in_prose()
    return found


@contextlib.contextmanager
def local_server(**options: Any) -> Iterator[str]:
    """qrie's local AWS (moto + middleware) on a free port, in a thread of this process; yields
    its endpoint. ``options`` go to :func:`qrie_local.server.serve`."""
    stop = threading.Event()
    ready = threading.Event()
    ports: list[int] = []

    def on_ready(port: int) -> None:
        ports.append(port)
        ready.set()

    thread = threading.Thread(
        target=server.serve,
        kwargs={"port": 0, "stop": stop, "ready": on_ready, **options},
        daemon=True,
    )
    thread.start()
    assert ready.wait(30), "the local AWS server did not start"
    try:
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        stop.set()
        thread.join(10)


def worker_metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The worker's metrics as they are published (name -> total), from now on in the test."""
    from qrie.jobs import worker

    published: dict[str, int] = {}

    def count(name: str, value: int = 1) -> None:
        if value:
            published[name] = published.get(name, 0) + value

    monkeypatch.setattr(worker, "count", count)
    return published
