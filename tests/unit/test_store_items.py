"""Domain records <-> table items: the storage contract of the single table.

Items written by one version of qrie are read by the next, and every access pattern (keys, the
GSI1 attributes, the TTL attribute ``ExpiresAt``, the sparse open-findings index) depends on
exact attribute names and key shapes (``qrie.store.keys``, the README's table). So for each kind
of item these tests pin:

- the item a builder writes for a representative record: every attribute, its name and type
  (numbers as ``Decimal``: boto3 refuses floats), optional attributes left out when empty;
- the record the reader gives back, through DynamoDB's own wire format (``stored``): equal;
- what the reader makes of what the table may really hold: an item with only its keys (an item
  written before an attribute existed), numbers as ``Decimal``, odd values where it has
  fallbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from qrie.aws import Clients
from qrie.domain import (
    Account,
    AccountStatus,
    Coverage,
    Evaluation,
    Finding,
    FindingState,
    Job,
    JobStatus,
    Mute,
    PolicyTally,
    Resource,
    ResultStatus,
    Severity,
    SkippedAccount,
    Task,
    TaskKey,
    TaskKind,
    TaskStatus,
    Usage,
    timestamp,
)
from qrie.store import items
from qrie.store.dynamo import deserialize, serialize
from qrie.store.table import Store
from tests.support import REGION, Stack

ACCOUNT = "111111111111"  # CRC-32 shard: 1 of 2, 31 of 32 (test_store_keys)
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = timestamp(T0)
TS2 = "2024-05-01T12:05:00.000000Z"
TS3 = "2024-05-01T12:06:00.000000Z"
JOB_ID = "scan-s3-20240501T120000Z-abcdef"
S3_KEY = TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3")


def stored(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as a later read of the table returns it (written and read in DynamoDB's wire
    format: refuses floats, gives numbers back as int or float)."""
    return deserialize(serialize(item))


# ---------------------------------------------------------------- numbers and JSON text
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (20, "20"),  # never "2E+1": the console and the CLI show it as written
        (20.0, "20"),
        (0.5, "0.5"),
        (1234.5678901, "1234.56789"),  # six decimals kept
        (1 / 3, "0.333333"),
        (2 / 3, "0.666667"),
        (1e-9, "0"),  # below the sixth decimal
        (-1e-9, "0"),  # never "-0"
        (-0.0, "0"),
        (-2.5, "-2.5"),
    ],
)
def test_a_measured_figure_is_stored_as_a_decimal_of_six_places_at_most(
    value: float, text: str
) -> None:
    # GIVEN a measured figure (a float, as usage is measured)
    # WHEN it becomes a DynamoDB number
    number = items.number(value)
    # THEN it is a Decimal (boto3 refuses floats), written plainly, rounded to six places
    assert isinstance(number, Decimal)
    assert str(number) == text


def test_config_is_stored_as_compact_sorted_json_text() -> None:
    # GIVEN a resource's config with unsorted keys and a value JSON cannot hold as such
    config = {"b": {"y": 1, "x": [1, 2]}, "a": "text", "at": T0}
    # WHEN it is written as the Config attribute
    text = items.dumps(config)
    # THEN it is compact, keys sorted (the same config is always the same text), and the odd
    # value is kept as its text instead of failing the write
    assert text == '{"a":"text","at":"2024-05-01 12:00:00+00:00","b":{"x":[1,2],"y":1}}'


@pytest.mark.parametrize(
    ("snake", "camel"),
    [("resource_count", "ResourceCount"), ("not_applicable", "NotApplicable"), ("x", "X")],
)
def test_counts_are_camel_case_attributes_and_read_back_snake_case(snake: str, camel: str) -> None:
    # GIVEN a count's name (a task's resource_count, a tally's not_applicable)
    # THEN its attribute is CamelCase, and the attribute reads back as the same name
    assert items.camel(snake) == camel
    assert items.snake(camel) == snake


# ---------------------------------------------------------------- usage
TASK_USAGE = Usage(
    ms=12.5,
    mb_ms=1600.0,
    invocations=0.25,
    requests={"s3.ListBuckets": 1.0, "dynamodb.Query": 0.5},
    read_units=0.5,
    write_units=2.0,
    tasks=1,
)


def test_a_tasks_usage_is_one_small_map_of_decimals() -> None:
    # GIVEN what a task consumed
    # WHEN it is written on the task item
    item = items.task_usage_item(TASK_USAGE)
    # THEN it is the documented Usage map, requests by service.Operation
    assert item == {
        "Ms": Decimal("12.5"),
        "MbMs": Decimal("1600"),
        "Inv": Decimal("0.25"),
        "Rru": Decimal("0.5"),
        "Wru": Decimal("2"),
        "Req": {"dynamodb.Query": Decimal("0.5"), "s3.ListBuckets": Decimal("1")},
    }
    # AND it reads back as the same usage, counted as one task's
    assert items.task_usage_of(stored({"Usage": item})["Usage"]) == TASK_USAGE


@pytest.mark.parametrize(
    ("value", "usage"),
    [
        (None, None),  # a task that ended before usage was measured
        ("junk", None),
        ({}, Usage(tasks=1)),
        ({"Ms": 3, "Req": None}, Usage(ms=3.0, tasks=1)),
        ({"Ms": 3, "Req": ["s3.ListBuckets"]}, Usage(ms=3.0, tasks=1)),
        (
            {"Ms": Decimal("1.5"), "Rru": Decimal("2"), "Req": {"sqs.SendMessage": Decimal("1")}},
            Usage(ms=1.5, read_units=2.0, requests={"sqs.SendMessage": 1.0}, tasks=1),
        ),
    ],
)
def test_a_tasks_usage_reads_whatever_the_table_holds(value: Any, usage: Usage | None) -> None:
    # GIVEN a task item's Usage attribute: absent, not a map, partial, or Decimal numbers
    # WHEN it is read
    # THEN missing figures are zero and a missing or odd value is no usage at all
    assert items.task_usage_of(value) == usage


def test_a_jobs_usage_adds_are_top_level_numbers_with_requests_summed_per_service() -> None:
    # GIVEN the usage of a task's work
    usage = Usage(
        ms=10.0,
        requests={"dynamodb.Query": 1.5, "dynamodb.UpdateItem": 0.25, "s3.ListBuckets": 2.0},
        read_units=0.5,
        tasks=1,
    )
    # WHEN the accounting computes what it ADDs to the job item
    adds = items.job_usage_adds(usage)
    # THEN it is one number per figure, requests per service, and no zero is written
    assert adds == {
        "UsageTasks": Decimal("1"),
        "UsageMs": Decimal("10"),
        "UsageRru": Decimal("0.5"),
        "UsageReq_dynamodb": Decimal("1.75"),
        "UsageReq_s3": Decimal("2"),
    }


# ---------------------------------------------------------------- jobs
FULL_JOB = Job(
    job_id=JOB_ID,
    operation=TaskKind.SCAN,
    status=JobStatus.CANCELLED,
    total=4,
    succeeded=2,
    failed=2,
    remaining=0,
    cancelled=True,
    created_at=TS,
    finished_at=TS2,
    updated_at=TS3,
    deadline=1_700_000_000,
    expires_at=1_800_000_000,
    service="s3",
    policy="s3.*",
    refresh=True,
    total_accounts=2,
    skipped_accounts=(SkippedAccount("222222222222", "account is SUSPENDED"),),
    skipped_count=1,
    retry_of="scan-s3-20240430T120000Z-fedcba",
    usage=Usage(
        ms=1234.5,
        mb_ms=158_016.0,
        invocations=2.5,
        requests={"dynamodb": 12.25, "s3": 3.0},
        read_units=4.5,
        write_units=9.0,
        tasks=4,
    ),
    task_shards=2,
)
FULL_JOB_ITEM = {
    "PK": f"JOB#{JOB_ID}",
    "SK": "JOB",
    "GSI1PK": "JOBS",  # list jobs, newest first
    "GSI1SK": f"{TS}#{JOB_ID}",
    "JobId": JOB_ID,
    "Operation": "scan",
    "Status": "CANCELLED",
    "Total": 4,
    "Succeeded": 2,
    "Failed": 2,
    "Remaining": 0,
    "Cancelled": True,
    "TotalAccounts": 2,
    "SkippedAccounts": [{"AccountId": "222222222222", "Reason": "account is SUSPENDED"}],
    "SkippedCount": 1,
    "CreatedAt": TS,
    "Deadline": 1_700_000_000,
    "ExpiresAt": 1_800_000_000,  # the table's TTL
    "Refresh": True,
    "Service": "s3",
    "Policy": "s3.*",
    "RetryOf": "scan-s3-20240430T120000Z-fedcba",
    "FinishedAt": TS2,
    "UpdatedAt": TS3,
    "TaskShards": 2,
    "UsageTasks": Decimal("4"),
    "UsageMs": Decimal("1234.5"),
    "UsageMbMs": Decimal("158016"),
    "UsageInvocations": Decimal("2.5"),
    "UsageRru": Decimal("4.5"),
    "UsageWru": Decimal("9"),
    "UsageReq_dynamodb": Decimal("12.25"),
    "UsageReq_s3": Decimal("3"),
}
NEW_JOB = Job(
    job_id="inv-s3-20240501T120000Z-abcdef",
    operation=TaskKind.INVENTORY,
    status=JobStatus.IN_PROGRESS,
    total=3,
    remaining=3,
    created_at=TS,
    deadline=1_700_000_000,
    expires_at=1_800_000_000,
)
NEW_JOB_ITEM = {
    "PK": "JOB#inv-s3-20240501T120000Z-abcdef",
    "SK": "JOB",
    "GSI1PK": "JOBS",
    "GSI1SK": f"{TS}#inv-s3-20240501T120000Z-abcdef",
    "JobId": "inv-s3-20240501T120000Z-abcdef",
    "Operation": "inventory",
    "Status": "IN_PROGRESS",
    "Total": 3,
    "Succeeded": 0,
    "Failed": 0,
    "Remaining": 3,
    "Cancelled": False,
    "TotalAccounts": 0,
    "SkippedAccounts": [],
    "SkippedCount": 0,
    "CreatedAt": TS,
    "Deadline": 1_700_000_000,
    "ExpiresAt": 1_800_000_000,
    "Refresh": False,
}  # no None attributes, no zero usage, no TaskShards for a single shard


# ---------------------------------------------------------------- the other records
FULL_ACCOUNT = Account(
    ACCOUNT,
    AccountStatus.SUSPENDED,
    "prod",
    source="organizations",
    tags={"team": "sec", "env": "prod"},
    org_status="PENDING_CLOSURE",
    added_at=TS,
    updated_at=TS2,
)
FULL_ACCOUNT_ITEM = {
    "PK": "ACCOUNT",
    "SK": ACCOUNT,
    "AccountId": ACCOUNT,
    "Name": "prod",
    "Status": "SUSPENDED",
    "Source": "organizations",
    "OrgStatus": "PENDING_CLOSURE",
    "AddedAt": TS,
    "UpdatedAt": TS2,
    "Tags": {"team": "sec", "env": "prod"},
}
NEW_ACCOUNT = Account(ACCOUNT)
NEW_ACCOUNT_ITEM = {
    "PK": "ACCOUNT",
    "SK": ACCOUNT,
    "AccountId": ACCOUNT,
    "Name": "",
    "Status": "ACTIVE",
    "Source": "manual",
}  # no Tags when there are none

OPEN_FINDING = Finding(
    account_id=ACCOUNT,
    policy_id="s3.encrypted",
    arn="arn:aws:s3:::data",
    state=FindingState.OPEN,
    severity=Severity.HIGH,
    title="Bucket is not encrypted",
    evidence="no default encryption",
    resource_type="s3.bucket",
    scope="global",
    region="eu-west-1",
    service="s3",
    first_seen=TS,
    last_seen=TS2,
    reopened_at=TS2,
    opened_by_job="scan-1",
    last_job="scan-2",
)
OPEN_FINDING_ITEM = {
    "PK": f"FINDING#{ACCOUNT}",
    "SK": "s3.encrypted#arn:aws:s3:::data",
    "Account": ACCOUNT,
    "Policy": "s3.encrypted",
    "Arn": "arn:aws:s3:::data",
    "State": "OPEN",
    "Severity": "high",
    "Title": "Bucket is not encrypted",
    "Evidence": "no default encryption",
    "ResourceType": "s3.bucket",
    "Scope": "global",
    "Region": "eu-west-1",
    "Service": "s3",
    "FirstSeen": TS,
    "LastSeen": TS2,
    "ReopenedAt": TS2,
    "OpenedByJob": "scan-1",
    "LastJob": "scan-2",
    "GSI1PK": "OPEN#s3.encrypted",  # open findings of a policy ...
    "GSI1SK": f"high#{ACCOUNT}#arn:aws:s3:::data",  # ... by severity, account, resource
}
MUTED_FINDING = Finding(
    account_id=ACCOUNT,
    policy_id="iam.mfa",
    arn="arn:aws:iam::111111111111:user/bob",
    state=FindingState.MUTED,
    severity=Severity.CRITICAL,
    title="",  # empty text is left out of the item
    muted_by="mute-1",
    muted_reason="break-glass user",
    muted_until=TS3,
)
MUTED_FINDING_ITEM = {
    "PK": f"FINDING#{ACCOUNT}",
    "SK": "iam.mfa#arn:aws:iam::111111111111:user/bob",
    "Account": ACCOUNT,
    "Policy": "iam.mfa",
    "Arn": "arn:aws:iam::111111111111:user/bob",
    "State": "MUTED",
    "Severity": "critical",
    "MutedBy": "mute-1",
    "MutedReason": "break-glass user",
    "MutedUntil": TS3,
}  # not in the open index
RESOLVED_FINDING = OPEN_FINDING.resolved("compliant", TS3)
RESOLVED_FINDING_ITEM = {
    **{k: v for k, v in OPEN_FINDING_ITEM.items() if not k.startswith("GSI1")},
    "State": "RESOLVED",
    "ResolvedAt": TS3,
    "ResolvedReason": "compliant",
}

TALLY = PolicyTally(
    ACCOUNT,
    "s3.encrypted",
    Severity.MEDIUM,
    open=2,
    updated_at=TS,
    passed=5,
    failed=3,
    unknown=1,
    not_applicable=4,
    muted=1,
)
TALLY_ITEM = {
    "PK": "SUMMARY",
    "SK": f"{ACCOUNT}#s3.encrypted",
    "Account": ACCOUNT,
    "Policy": "s3.encrypted",
    "Severity": "medium",
    "Open": 2,
    "UpdatedAt": TS,
    "Passed": 5,
    "Failed": 3,
    "Unknown": 1,
    "NotApplicable": 4,
    "Muted": 1,
}

EVALUATION = Evaluation(
    ACCOUNT,
    "s3.encrypted",
    "arn:aws:s3:::data",
    ResultStatus.FAIL,
    "no default encryption",
    resource_type="s3.bucket",
    region="eu-west-1",
    since=TS,
    last_job="scan-2",
)
EVALUATION_ITEM = {
    "PK": f"EVAL#{ACCOUNT}",
    "SK": "s3.encrypted#arn:aws:s3:::data",
    "Status": "fail",
    "Evidence": "no default encryption",
    "ResourceType": "s3.bucket",
    "Region": "eu-west-1",
    "Since": TS,
    "LastJob": "scan-2",
}
BARE_EVALUATION = Evaluation(ACCOUNT, "iam.root", "arn:aws:iam::1:root", ResultStatus.PASS, "")
BARE_EVALUATION_ITEM = {
    "PK": f"EVAL#{ACCOUNT}",
    "SK": "iam.root#arn:aws:iam::1:root",
    "Status": "pass",
}  # empty text and no region are left out

MUTE = Mute("mute-1", "iam.*", ACCOUNT, "arn:aws:iam::*:user/bob", "break-glass", TS3, TS)
MUTE_ITEM = {
    "PK": "MUTE",
    "SK": "mute-1",
    "Policy": "iam.*",
    "Account": ACCOUNT,
    "Resource": "arn:aws:iam::*:user/bob",
    "Reason": "break-glass",
    "ExpiresAt": TS3,
    "CreatedAt": TS,
}


@pytest.mark.parametrize(
    ("record", "build", "item"),
    [
        (FULL_JOB, items.job_item, FULL_JOB_ITEM),
        (NEW_JOB, items.job_item, NEW_JOB_ITEM),
        (FULL_ACCOUNT, items.account_item, FULL_ACCOUNT_ITEM),
        (NEW_ACCOUNT, items.account_item, NEW_ACCOUNT_ITEM),
        (OPEN_FINDING, items.finding_item, OPEN_FINDING_ITEM),
        (MUTED_FINDING, items.finding_item, MUTED_FINDING_ITEM),
        (RESOLVED_FINDING, items.finding_item, RESOLVED_FINDING_ITEM),
        (TALLY, items.summary_item, TALLY_ITEM),
        (EVALUATION, items.evaluation_item, EVALUATION_ITEM),
        (BARE_EVALUATION, items.evaluation_item, BARE_EVALUATION_ITEM),
        (MUTE, items.mute_item, MUTE_ITEM),
    ],
)
def test_each_record_is_written_as_exactly_the_documented_item(
    record: Any, build: Callable[[Any], dict[str, Any]], item: dict[str, Any]
) -> None:
    # GIVEN a record of the domain
    # WHEN the store builds its item
    # THEN it is exactly the documented item: keys, index keys, attribute names and types
    assert build(record) == item


@pytest.mark.parametrize(
    ("record", "build", "read"),
    [
        (FULL_JOB, items.job_item, items.job_of),
        (NEW_JOB, items.job_item, items.job_of),
        (FULL_ACCOUNT, items.account_item, items.account_of),
        (NEW_ACCOUNT, items.account_item, items.account_of),
        (OPEN_FINDING, items.finding_item, items.finding_of),
        (MUTED_FINDING, items.finding_item, items.finding_of),
        (RESOLVED_FINDING, items.finding_item, items.finding_of),
        (TALLY, items.summary_item, items.summary_of),
        (EVALUATION, items.evaluation_item, items.evaluation_of),
        (BARE_EVALUATION, items.evaluation_item, items.evaluation_of),
        (MUTE, items.mute_item, items.mute_of),
    ],
)
def test_each_record_reads_back_equal_from_the_table(
    record: Any, build: Callable[[Any], dict[str, Any]], read: Callable[[Any], Any]
) -> None:
    # GIVEN a record written to the table
    # WHEN a later read gives its item back (numbers no longer Decimal)
    # THEN the reader returns an equal record
    assert read(stored(build(record))) == record


@pytest.mark.parametrize(
    ("read", "item", "record"),
    [
        # items with their keys only (written before an attribute existed): the defaults
        (
            items.job_of,
            {"JobId": "j"},
            Job("j", TaskKind.INVENTORY, JobStatus.IN_PROGRESS, total=0),
        ),
        (items.account_of, {"PK": "ACCOUNT", "SK": ACCOUNT}, Account(ACCOUNT)),
        (
            items.finding_of,
            {"Account": ACCOUNT, "Policy": "s3.encrypted", "Arn": "arn:aws:s3:::a"},
            Finding(ACCOUNT, "s3.encrypted", "arn:aws:s3:::a", FindingState.OPEN, Severity.LOW),
        ),
        (items.summary_of, {}, PolicyTally("", "", Severity.LOW, 0, "")),
        (
            items.evaluation_of,
            {"PK": f"EVAL#{ACCOUNT}", "SK": "iam.root#arn:aws:iam::1:root"},
            Evaluation(ACCOUNT, "iam.root", "arn:aws:iam::1:root", ResultStatus.UNKNOWN, ""),
        ),
        (items.mute_of, {"SK": "mute-1"}, Mute("mute-1", "*", "*", "*", "", "", "")),
        (
            items.resource_of,
            {},
            Resource(arn="", account_id="", service="", type="", scope="", config={}),
        ),
        # numbers as Decimal (the resource API's reads), counts missing
        (
            items.job_of,
            {
                "JobId": "j",
                "Operation": "scan",
                "Status": "COMPLETED",
                "Total": Decimal(5),
                "Succeeded": Decimal(5),
                "TaskShards": Decimal(3),
                "UsageMs": Decimal("1.5"),
                "UsageTasks": Decimal(5),
                "UsageReq_s3": Decimal("2"),
                "UsageReq_odd": "n/a",  # not a number: not a request count
                "UsageReq_flag": True,
            },
            Job(
                "j",
                TaskKind.SCAN,
                JobStatus.COMPLETED,
                total=5,
                succeeded=5,
                task_shards=3,
                usage=Usage(ms=1.5, requests={"s3": 2.0}, tasks=5),
            ),
        ),
        (
            items.summary_of,
            {"Account": ACCOUNT, "Policy": "p", "Open": Decimal(1), "Failed": Decimal(1)},
            PolicyTally(ACCOUNT, "p", Severity.LOW, 1, "", failed=1),  # Muted: none yet
        ),
        # a job item of no shards, and skipped accounts with odd entries
        (
            items.job_of,
            {
                "JobId": "j",
                "TaskShards": 0,
                "SkippedAccounts": [{"AccountId": "2", "Reason": "r"}, "junk", {}],
                "SkippedCount": 2,
            },
            Job(
                "j",
                TaskKind.INVENTORY,
                JobStatus.IN_PROGRESS,
                total=0,
                skipped_accounts=(SkippedAccount("2", "r"), SkippedAccount("", "")),
                skipped_count=2,
            ),
        ),
        # an account of a status this version does not know is not run
        (
            items.account_of,
            {"PK": "ACCOUNT", "SK": ACCOUNT, "Status": "CLOSED", "Tags": {"n": 1}},
            Account(ACCOUNT, AccountStatus.SUSPENDED, tags={"n": "1"}),
        ),
        # a severity written in capitals
        (
            items.finding_of,
            {
                "Account": ACCOUNT,
                "Policy": "p",
                "Arn": "a",
                "State": "RESOLVED",
                "Severity": "HIGH",
            },
            Finding(ACCOUNT, "p", "a", FindingState.RESOLVED, Severity.HIGH),
        ),
    ],
)
def test_a_reader_tolerates_what_the_table_may_hold(
    read: Callable[[Any], Any], item: dict[str, Any], record: Any
) -> None:
    # GIVEN an item as an older version, or another reader of the table, may leave it
    # WHEN it is read
    # THEN missing attributes take their defaults and numbers come back as ints
    assert read(item) == record


# ---------------------------------------------------------------- tasks
def test_a_new_task_is_a_pending_item_beside_its_job_or_on_its_accounts_shard() -> None:
    # GIVEN a task of a job
    # WHEN its item is created (single shard by default, and for a job of 32 shards)
    single = items.new_task_item("job-1", S3_KEY, 1_800_000_000)
    sharded = items.new_task_item("job-1", S3_KEY, 1_800_000_000, shards=32)
    # THEN it is PENDING with its key fields, its TTL, and the partition key of its shard
    assert single == {
        "PK": "JOB#job-1",
        "SK": f"TASK#{ACCOUNT}#inventory#s3",
        "Status": "PENDING",
        "Kind": "inventory",
        "Service": "s3",
        "Account": ACCOUNT,
        "ExpiresAt": 1_800_000_000,
    }
    assert sharded == {**single, "PK": "JOB#job-1#T31"}
    assert items.task_pk("job-1", S3_KEY, 2) == "JOB#job-1#T1"
    # AND a new task reads back as pending, with nothing measured
    assert items.task_of("job-1", stored(single)) == Task("job-1", S3_KEY, TaskStatus.PENDING)


def test_an_ended_task_reads_back_its_counts_attempts_and_usage() -> None:
    # GIVEN a task item as the accounting leaves it (counts as top-level attributes)
    item = {
        **items.new_task_item("job-1", S3_KEY, 1_800_000_000),
        "Status": "FAILED",
        "Reason": "AccessDenied",
        "StartedAt": TS,
        "EndedAt": TS2,
        "Attempts": 3,
        "ResourceCount": 7,
        "Deleted": 1,
        "Usage": items.task_usage_item(TASK_USAGE),
    }
    # WHEN it is read back from the table
    task = items.task_of("job-1", stored(item))
    # THEN every field comes back; only the counts are counts (not the TTL, nor the attempts)
    assert task == Task(
        "job-1",
        S3_KEY,
        TaskStatus.FAILED,
        reason="AccessDenied",
        attempts=3,
        ended_at=TS2,
        counts={"resource_count": 7, "deleted": 1},
        usage=TASK_USAGE,
    )


def test_a_task_item_keeps_only_numbers_as_counts() -> None:
    # GIVEN a task item with a flag and a text beside its counts
    item = {"SK": f"TASK#{ACCOUNT}#scan#iam", "Evaluated": 4, "Partial": True, "Note": "x"}
    # WHEN it is read
    task = items.task_of("job-1", item)
    # THEN only the number is a count (a boolean is not)
    assert task.counts == {"evaluated": 4}
    assert task.key == TaskKey(ACCOUNT, TaskKind.SCAN, "iam")


# ---------------------------------------------------------------- resources
RESOURCE = Resource(
    arn="arn:aws:s3:::logs",
    account_id=ACCOUNT,
    service="s3",
    type="s3.bucket",
    scope="global",
    config={"region": "eu-west-1", "policy": {"Statement": [{"Effect": "Deny"}]}},
    name="logs",
)


def test_a_resource_item_has_its_keys_config_as_json_text_and_the_sweeps_time() -> None:
    # GIVEN a collected bucket with a nested config
    # WHEN it is mapped to a table item and read back
    item = items.resource_item(RESOURCE, "job-1", "col-9", TS, 1234)
    # THEN the item has the keys of the single-table design, Config as compact JSON text,
    # and the wall-clock milliseconds the deletion sweep compares
    assert item == {
        "PK": f"RES#{ACCOUNT}#s3",
        "SK": "global#arn:aws:s3:::logs",
        "Arn": "arn:aws:s3:::logs",
        "Type": "s3.bucket",
        "Scope": "global",
        "Name": "logs",
        "Account": ACCOUNT,
        "Service": "s3",
        "Config": '{"policy":{"Statement":[{"Effect":"Deny"}]},"region":"eu-west-1"}',
        "CollectionId": "col-9",
        "LastSeenJob": "job-1",
        "LastSeenAt": "2024-05-01T12:00:00.000000Z",
        "SeenAtMs": 1234,
    }
    # AND the resource comes back unchanged
    assert items.resource_of(stored(item)) == RESOURCE


@pytest.mark.parametrize(
    ("item", "resource"),
    [
        (  # only its keys and type: account, service, scope and ARN come from PK and SK
            {
                "PK": f"RES#{ACCOUNT}#ec2",
                "SK": "eu-west-1#arn:aws:ec2:eu-west-1:1:volume/v-1",
                "Type": "ec2.volume",
            },
            Resource(
                "arn:aws:ec2:eu-west-1:1:volume/v-1", ACCOUNT, "ec2", "ec2.volume", "eu-west-1"
            ),
        ),
        (  # the ARN is everything after the scope, '#' included
            {"PK": f"RES#{ACCOUNT}#s3", "SK": "global#arn:aws:s3:::a#b", "Config": ""},
            Resource("arn:aws:s3:::a#b", ACCOUNT, "s3", "", "global"),
        ),
        (  # the service is everything after the account, '#' included
            {"PK": f"RES#{ACCOUNT}#svc#x", "SK": "global#arn:x"},
            Resource("arn:x", ACCOUNT, "svc#x", "", "global"),
        ),
        (  # a key that is not a resource key names no account nor service
            {"PK": f"RES#{ACCOUNT}", "SK": "global#arn:x", "Config": {"k": 1}},
            Resource("arn:x", "", "", "", "global", config={"k": 1}),
        ),
        (  # Config that is not an object (or not JSON text) reads as empty
            {"PK": "x", "SK": "global#arn:x", "Config": "[1, 2]", "Name": None},
            Resource("arn:x", "", "", "", "global"),
        ),
        (
            {"PK": "x", "SK": "global#arn:x", "Config": 7},
            Resource("arn:x", "", "", "", "global"),
        ),
    ],
)
def test_a_resource_reads_from_its_keys_what_its_item_lacks(
    item: dict[str, Any], resource: Resource
) -> None:
    # GIVEN a resource item as an older version may have left it
    # WHEN it is read
    # THEN the reader takes what is missing from the keys, and an odd Config as empty
    assert items.resource_of(item) == resource


# ---------------------------------------------------------------- evaluations, coverage
def test_an_evaluation_of_an_arn_with_hashes_keeps_it_whole() -> None:
    # GIVEN an evaluation of a resource whose ARN holds a '#'
    evaluation = Evaluation(ACCOUNT, "p.x", "arn:aws:s3:::a#b", ResultStatus.FAIL, "e")
    # THEN its sort key splits at the first '#' only: the policy, then the ARN
    assert items.evaluation_of(stored(items.evaluation_item(evaluation))) == evaluation


COVERAGE_ITEM = {
    "PK": f"COVERAGE#{ACCOUNT}",
    "SK": "inventory#s3",
    "JobId": "inv-1",
    "At": TS,
    "ResourceCount": 7,
    "Deleted": 0,
    "FailedJobId": "inv-0",
    "FailedAt": "2024-04-30T12:00:00.000000Z",
    "Failure": "AccessDenied",
}


@pytest.mark.parametrize(
    ("item", "coverage"),
    [
        (
            COVERAGE_ITEM,
            Coverage(
                ACCOUNT,
                TaskKind.INVENTORY,
                "s3",
                job_id="inv-1",
                at=TS,
                counts={"resource_count": 7, "deleted": 0},
                failed_job_id="inv-0",
                failed_at="2024-04-30T12:00:00.000000Z",
                failure="AccessDenied",
            ),
        ),
        (  # a failure only, a flag and a text that are not counts, a Decimal count
            {
                "PK": f"COVERAGE#{ACCOUNT}",
                "SK": "scan#iam#x",
                "FailedAt": TS,
                "Partial": True,
                "Note": "n",
                "Evaluated": Decimal(3),
            },
            Coverage(ACCOUNT, TaskKind.SCAN, "iam#x", counts={"evaluated": 3}, failed_at=TS),
        ),
    ],
)
def test_a_coverage_item_reads_as_its_last_success_and_last_failure(
    item: dict[str, Any], coverage: Coverage
) -> None:
    # GIVEN a coverage item (COVERAGE#<account> / <kind>#<service>)
    # WHEN it is read
    # THEN the success, its counts and the failure come back; absent ones are None
    assert items.coverage_of(item) == coverage


def test_recording_coverage_keeps_the_last_success_and_the_last_failure(stack: Stack) -> None:
    # GIVEN a failed inventory of an account's s3, then a successful one, then a failed one
    store = Store(stack.table, Clients())

    def failure(reason: str) -> Coverage:
        return Coverage(
            ACCOUNT,
            TaskKind.INVENTORY,
            "s3",
            failed_job_id="inv-0",
            failed_at="2024-04-30T12:00:00.000000Z",
            failure=reason,
        )

    store.record_coverage(failure("Throttled"))
    store.record_coverage(
        Coverage(
            ACCOUNT,
            TaskKind.INVENTORY,
            "s3",
            job_id="inv-1",
            at=TS,
            counts={"resource_count": 7, "deleted": 0},
        )
    )
    store.record_coverage(failure("AccessDenied"))
    # WHEN the table's item is read
    ddb = boto3.client("dynamodb", region_name=REGION)
    key = serialize({"PK": f"COVERAGE#{ACCOUNT}", "SK": "inventory#s3"})
    raw = deserialize(ddb.get_item(TableName=stack.table, Key=key)["Item"])
    # THEN it holds the last success with its counts, and the last failure with its reason
    assert raw == COVERAGE_ITEM
    coverage = store.get_coverage(ACCOUNT, TaskKind.INVENTORY, "s3")
    assert coverage is not None
    assert (coverage.at, coverage.failure, coverage.failing) == (TS, "AccessDenied", False)
