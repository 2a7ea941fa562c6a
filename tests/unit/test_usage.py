"""Measuring usage: the request hook and its context, DynamoDB's capacity answers (the local
AWS's, by DynamoDB's rules), the accounting transaction's predicted share, a job's creation."""

from __future__ import annotations

import math
import threading
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest

from qrie import metering
from qrie.aws import Clients
from qrie.domain import (
    Account,
    Job,
    JobStatus,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    Usage,
)
from qrie.handlers import job_handler
from qrie.handlers.runtime import runtime
from qrie.jobs.worker import Delivery, Invocation, Prepared, TaskWorker
from qrie.metering import ContextThreadPool, Meter, metered
from qrie.store import items, sizes
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack

JOB_ID = "inv-s3-20260101T000000Z-abcdef"


def new_job(store: Store, n: int) -> list[TaskKey]:
    keys = [TaskKey(f"{500000000000 + i}", TaskKind.INVENTORY, "s3") for i in range(n)]
    job = Job(
        JOB_ID,
        TaskKind.INVENTORY,
        JobStatus.IN_PROGRESS,
        total=n,
        remaining=n,
        created_at="2026-01-01T00:00:00.000000Z",
        deadline=1_900_000_000,
        expires_at=1_900_000_000,
    )
    store.create_job(job, keys)
    return keys


# ------------------------------------------------------------------ the meter
def test_requests_land_on_the_meter_of_their_context_also_in_pool_threads(
    stack: Stack,
) -> None:
    # GIVEN two meters, each running GetItem calls from its own thread and pool
    clients = Clients()
    client = clients.get("dynamodb", REGION)
    key = {"PK": {"S": "X"}, "SK": {"S": "Y"}}

    def work(meter: Meter, n: int) -> None:
        with metered(meter), ContextThreadPool(max_workers=4) as pool:
            list(pool.map(lambda _i: client.get_item(TableName=stack.table, Key=key), range(n)))

    meters = [Meter(), Meter()]
    threads = [
        threading.Thread(target=work, args=(m, n)) for m, n in zip(meters, (3, 7), strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # WHEN nothing is metered outside them
    client.get_item(TableName=stack.table, Key=key)
    # THEN each meter counted exactly its own requests
    assert [m.usage().requests for m in meters] == [
        {"dynamodb.GetItem": 3.0},
        {"dynamodb.GetItem": 7.0},
    ]


def test_a_retried_attempt_counts_as_a_request(stack: Stack) -> None:
    # GIVEN a client whose first attempt of a call gets a 500 (botocore retries it)
    clients = Clients()
    client = clients.get("sqs", REGION)
    failures = [1]

    def fail_once(**_kwargs: Any) -> Any:
        if failures:
            failures.pop()
            from botocore.awsrequest import AWSResponse

            class Raw:
                def stream(self, **_kw: Any) -> Any:
                    yield b""

            return AWSResponse("https://sqs", 500, {}, Raw())
        return None

    client.meta.events.register_first("before-send.sqs.GetQueueUrl", fail_once)
    # WHEN it is called under a meter
    with metered() as meter:
        client.get_queue_url(QueueName="qrie-inventory")
    # THEN both attempts are counted, as AWS counts them
    assert meter.usage().requests == {"sqs.GetQueueUrl": 2.0}


def test_capacity_is_read_from_every_answer_shape() -> None:
    # GIVEN answers with one entry, a list, and read/write units
    with metered() as meter:
        metering.record_capacity("GetItem", {"ConsumedCapacity": {"CapacityUnits": 0.5}})
        metering.record_capacity("Query", {"ConsumedCapacity": {"CapacityUnits": 2.0}})
        metering.record_capacity(
            "BatchWriteItem", {"ConsumedCapacity": [{"CapacityUnits": 3}, {"CapacityUnits": 1}]}
        )
        metering.record_capacity(
            "TransactWriteItems",
            {"ConsumedCapacity": [{"CapacityUnits": 4, "WriteCapacityUnits": 4}]},
        )
        metering.record_capacity("PutItem", {})
    # THEN reads and writes are told apart by the operation (or the answer's own split)
    usage = meter.usage()
    assert (usage.read_units, usage.write_units) == (2.5, 8.0)


@pytest.mark.parametrize(
    ("context_mb", "env", "expected"), [(2048, "512", 2048), (None, "512", 512), (None, "", 0)]
)
def test_the_functions_memory_comes_from_the_context_or_lambdas_variable(
    monkeypatch: pytest.MonkeyPatch, context_mb: int | None, env: str, expected: int
) -> None:
    # GIVEN a context (or none) and AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", env)
    context = LambdaContext("f", 10, context_mb) if context_mb else None
    # WHEN the memory is asked for THEN the context wins, then the variable
    assert metering.memory_mb(context) == expected


# ------------------------------------------------------------------ DynamoDB's answers
def test_the_local_aws_answers_capacity_by_dynamodbs_rules(stack: Stack) -> None:
    # GIVEN a 3,000-byte item (3 write units, 1 read unit)
    ddb = boto3.client("dynamodb", region_name=REGION)
    item = {"PK": {"S": "CAP"}, "SK": {"S": "one"}, "Blob": {"S": "x" * (3000 - 14)}}
    size = len("PKCAPSKoneBlob") + (3000 - 14)

    def units(response: dict[str, Any]) -> float:
        consumed = response["ConsumedCapacity"]
        entries = consumed if isinstance(consumed, list) else [consumed]
        return float(sum(e["CapacityUnits"] for e in entries))

    total = {"ReturnConsumedCapacity": "TOTAL"}
    key = {"PK": item["PK"], "SK": item["SK"]}
    # WHEN it is written, read both ways, queried, updated in a transaction and deleted
    put = ddb.put_item(TableName=stack.table, Item=item, **total)
    strong = ddb.get_item(TableName=stack.table, Key=key, ConsistentRead=True, **total)
    eventual = ddb.get_item(TableName=stack.table, Key=key, **total)
    query = ddb.query(
        TableName=stack.table,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "CAP"}},
        ProjectionExpression="SK",
        ConsistentRead=True,
        **total,
    )
    txn = ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": stack.table,
                    "Key": key,
                    "UpdateExpression": "SET N1 = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            }
        ],
        **total,
    )
    missing = ddb.get_item(TableName=stack.table, Key={**key, "SK": {"S": "none"}}, **total)
    deleted = ddb.delete_item(TableName=stack.table, Key=key, **total)
    # THEN each answer is what DynamoDB charges for that size (a projection reads it whole)
    assert size == 3000
    assert units(put) == 3
    assert (units(strong), units(eventual), units(missing)) == (1.0, 0.5, 0.5)
    assert units(query) == 1.0
    assert units(txn) == 2 * 3
    assert units(deleted) == 3


def test_an_item_in_the_index_also_writes_the_index(stack: Stack) -> None:
    # GIVEN an item holding GSI1's keys (as a job item does)
    ddb = boto3.client("dynamodb", region_name=REGION)
    item = {
        "PK": {"S": "JOB#x"},
        "SK": {"S": "JOB"},
        "GSI1PK": {"S": "JOBS"},
        "GSI1SK": {"S": "2026#x"},
    }
    # WHEN it is written THEN the table and the index each take a unit
    put = ddb.put_item(TableName=stack.table, Item=item, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"]["CapacityUnits"] == 2


def test_the_accounting_transaction_predicts_the_capacity_dynamodb_reports(stack: Stack) -> None:
    # GIVEN a running job of 4 tasks, two of them finishing with a measured usage
    store = Store(stack.table, Clients())
    keys = new_job(store, 4)
    store.get_job(JOB_ID)  # as the worker's job check does: its size is known
    usage = Usage(ms=120.0, requests={"s3.ListBuckets": 1.0}, write_units=2.0, tasks=1)
    outcomes = [
        TaskOutcome(k, TaskStatus.SUCCEEDED, "", 1, {"resource_count": 3}, usage) for k in keys[:2]
    ]
    # WHEN they are accounted
    with metered() as meter:
        store.complete_tasks(JOB_ID, outcomes)
    # THEN the write units their items carry for the transaction equal what DynamoDB reported
    recorded = [store.get_task(JOB_ID, k) for k in keys[:2]]
    shares = [t.usage.write_units - 2.0 for t in recorded if t is not None and t.usage]
    assert len(shares) == 2
    assert sum(shares) == pytest.approx(meter.usage().write_units)
    assert meter.usage().requests == {"dynamodb.TransactWriteItems": 1.0}
    # AND each task carries half the request, and the job the sum of both usages
    assert [t.usage.requests["dynamodb.TransactWriteItems"] for t in recorded if t and t.usage] == [
        0.5,
        0.5,
    ]
    job = store.get_job(JOB_ID)
    assert job is not None
    assert job.usage.tasks == 2
    assert job.usage.ms == 240.0
    assert job.usage.requests == {"dynamodb": 1.0, "s3": 2.0}
    assert job.usage.write_units == pytest.approx(4.0 + meter.usage().write_units)


def test_outcomes_without_usage_change_no_usage(stack: Stack) -> None:
    # GIVEN a job whose pending tasks the polling service fails (no usage of their own)
    store = Store(stack.table, Clients())
    keys = new_job(store, 2)
    # WHEN they are accounted
    store.complete_tasks(JOB_ID, [TaskOutcome.failed(k, "timed-out") for k in keys])
    # THEN the job is final and no usage is recorded, on it or its tasks
    job = store.get_job(JOB_ID)
    assert job is not None
    assert job.status == "FAILED"
    assert job.usage == Usage()
    assert all(t.usage is None for t in store.iter_tasks(JOB_ID))


def test_usage_numbers_are_stored_without_exponents() -> None:
    # GIVEN figures that Decimal would write with an exponent THEN they are plain numbers
    assert [str(items.number(v)) for v in (20.0, 1e-7, 0.333333333, 1500)] == [
        "20",
        "0",
        "0.333333",
        "1500",
    ]
    assert items.number(2.5) == Decimal("2.5")


def test_a_write_costs_one_unit_per_started_kilobyte() -> None:
    # GIVEN item sizes around the 1 KB boundary THEN units round up, at least one
    assert [sizes.write_units(n) for n in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]
    assert sizes.item_size({"PK": "abc", "N": 12345}) == 2 + 3 + 1 + 4


# ------------------------------------------------------------------ a job's creation
def test_starting_a_job_records_its_requests_and_one_invocation(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 25 registered accounts and a 1,024 MB job handler
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
    accounts = [f"{600000000000 + i}" for i in range(25)]
    runtime().store.put_accounts(Account(a) for a in accounts)
    # WHEN an inventory of every service starts (75 tasks)
    response = job_handler.lambda_handler(
        {"operation": "inventory", "service": "*", "accounts": accounts},
        LambdaContext("JobHandlerFunction", 120),
    )
    # THEN the job's usage holds the handler's requests: 8 SendMessageBatch (10 a call), the
    # task items' writes, the accounts' query and the usage's own UpdateItem; one invocation
    job = runtime().store.get_job(str(response["job_id"]))
    assert job is not None
    usage = job.usage
    assert usage.tasks == 0
    assert usage.invocations == 1
    assert usage.requests["sqs"] == math.ceil(75 / 10)
    assert usage.requests["dynamodb"] >= 1 + math.ceil(75 / 25) + 1
    assert usage.write_units >= 75
    assert usage.mb_ms == pytest.approx(usage.ms * 1024)
    assert usage.ms > 0


# ------------------------------------------------------------------ a batch's invocation, shared
class TimedMeter(Meter):
    """A record's meter whose work took ``ms`` of wall time and made ``calls`` S3 requests."""

    def __init__(self, ms: float, calls: int) -> None:
        super().__init__()
        self._ms = ms
        self.count("s3.ListBuckets", calls)

    @property
    def wall_ms(self) -> float:
        return self._ms


def settle(stack: Stack, walls: list[float], memory_mb: int) -> tuple[dict[str, Usage], float]:
    """A running job of one task per wall time, its records worked on (record i made i + 1 S3
    calls) and settled in an invocation that began 1,000 s ago. Returns each task's usage and
    the invocation's duration in ms, at most (it is measured while settling)."""
    current = runtime()
    keys = new_job(current.store, len(walls))
    worker = TaskWorker(
        current.settings, current.store, current.queue, current.sessions, TaskKind.INVENTORY
    )
    batch = [
        Prepared(
            Delivery(f"m{i}", "{}", 1, f"r{i}", stack.inventory_queue),
            TimedMeter(wall, i + 1),
            JOB_ID,
            [TaskOutcome(key, TaskStatus.SUCCEEDED, "", 1)],
        )
        for i, (key, wall) in enumerate(zip(keys, walls, strict=True))
    ]
    started = time.perf_counter() - 1000.0
    assert worker.settle(batch, Invocation(started, memory_mb)) == ["succeeded"] * len(walls)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    usage = {}
    for task in current.store.iter_tasks(JOB_ID):
        assert task.usage is not None
        usage[task.account_id] = task.usage
    return {k.account_id: usage[k.account_id] for k in keys}, elapsed_ms


@pytest.mark.parametrize("scale", [100.0, 0.001])
def test_a_batch_shares_its_invocation_by_each_records_wall_time(
    stack: Stack, scale: float
) -> None:
    # GIVEN a batch of three records whose work took 1, 3 and 6 units of wall time (ms or
    # microseconds), settled in a 1,024 MB invocation 1,000 s old
    usage, at_most = settle(stack, [1 * scale, 3 * scale, 6 * scale], 1024)
    tasks = list(usage.values())
    # THEN the invocation's duration is shared 10%, 30% and 60%, at the function's memory
    duration = sum(u.ms for u in tasks)
    assert 1_000_000 <= duration <= at_most
    assert [u.ms / duration for u in tasks] == pytest.approx([0.1, 0.3, 0.6])
    assert [u.mb_ms for u in tasks] == pytest.approx([u.ms * 1024 for u in tasks])
    # AND each task carries its own requests, a third of the Lambda request and of the event
    # source's ReceiveMessage and DeleteMessageBatch, and counts as one task
    for calls, u in enumerate(tasks, start=1):
        assert u.invocations == pytest.approx(1 / 3, abs=1e-6)
        assert u.requests["s3.ListBuckets"] == calls
        assert u.requests["sqs.ReceiveMessage"] == pytest.approx(1 / 3, abs=1e-6)
        assert u.requests["sqs.DeleteMessageBatch"] == pytest.approx(1 / 3, abs=1e-6)
        assert u.tasks == 1
    job = runtime().store.get_job(JOB_ID)
    assert job is not None
    assert job.usage.tasks == 3
    assert job.usage.invocations == pytest.approx(1, abs=1e-5)
    assert job.usage.requests["sqs"] == pytest.approx(2, abs=1e-5)
    assert job.usage.requests["s3"] == 6


def test_records_of_no_measurable_wall_time_share_the_invocation_equally(stack: Stack) -> None:
    # GIVEN a batch of two records whose meters measured no wall time (a coarse clock)
    usage, at_most = settle(stack, [0.0, 0.0], 512)
    # THEN each carries half of the invocation's duration
    first, second = usage.values()
    assert first.ms == second.ms
    assert 1_000_000 <= first.ms + second.ms <= at_most
    assert first.mb_ms == pytest.approx(first.ms * 512)
    assert (first.invocations, second.invocations) == (0.5, 0.5)
