"""Domain records <-> table items: the store's mapping keeps every field and the key design."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from qrie.domain import (
    Account,
    AccountStatus,
    Finding,
    FindingState,
    Job,
    JobStatus,
    Resource,
    Severity,
    SkippedAccount,
    TaskKey,
    TaskKind,
    timestamp,
)
from qrie.store import items

ACCOUNT = "111111111111"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_resource_item_round_trip() -> None:
    # GIVEN a collected bucket with a nested config
    resource = Resource(
        arn="arn:aws:s3:::logs",
        account_id=ACCOUNT,
        service="s3",
        type="s3.bucket",
        scope="global",
        config={"region": "eu-west-1", "policy": {"Statement": [{"Effect": "Deny"}]}},
        name="logs",
    )

    # WHEN it is mapped to a table item and back
    item = items.resource_item(resource, "job-1", "col-9", timestamp(T0), 1234)
    back = items.resource_of(item)

    # THEN the item has the keys and attributes of the single-table design, Config as JSON text
    assert {k: v for k, v in item.items() if k != "Config"} == {
        "PK": f"RES#{ACCOUNT}#s3",
        "SK": "global#arn:aws:s3:::logs",
        "Arn": "arn:aws:s3:::logs",
        "Type": "s3.bucket",
        "Scope": "global",
        "Name": "logs",
        "Account": ACCOUNT,
        "Service": "s3",
        "CollectionId": "col-9",
        "LastSeenJob": "job-1",
        "LastSeenAt": "2024-05-01T12:00:00.000000Z",
        "SeenAtMs": 1234,
    }
    assert json.loads(item["Config"]) == resource.config
    # AND the resource comes back unchanged
    assert back == resource


def test_resource_of_an_item_falls_back_to_the_keys() -> None:
    # GIVEN an item with only its keys, type and a missing Config
    item = {
        "PK": f"RES#{ACCOUNT}#ec2",
        "SK": "eu-west-1#arn:aws:ec2:eu-west-1:1:volume/v-1",
        "Type": "ec2.volume",
    }
    # WHEN it is read
    resource = items.resource_of(item)
    # THEN account, service, scope and ARN come from PK/SK and the config is empty
    assert (resource.account_id, resource.service, resource.scope) == (ACCOUNT, "ec2", "eu-west-1")
    assert resource.arn == "arn:aws:ec2:eu-west-1:1:volume/v-1"
    assert resource.config == {}


def test_job_item_round_trip_keeps_every_field() -> None:
    job = Job(
        job_id="scan-s3-20240501T120000Z-abcdef",
        operation=TaskKind.SCAN,
        status=JobStatus.COMPLETED_WITH_ERRORS,
        total=4,
        succeeded=3,
        failed=1,
        remaining=0,
        cancelled=False,
        created_at=timestamp(T0),
        finished_at=timestamp(T0),
        updated_at=timestamp(T0),
        deadline=1_700_000_000,
        expires_at=1_800_000_000,
        policy="s3.*",
        refresh=True,
        total_accounts=2,
        skipped_accounts=(SkippedAccount("222222222222", "account is SUSPENDED"),),
        skipped_count=1,
        retry_of="scan-s3-20240430T120000Z-fedcba",
    )
    item = items.job_item(job)
    assert (item["PK"], item["SK"]) == (f"JOB#{job.job_id}", "JOB")
    assert (item["GSI1PK"], item["GSI1SK"]) == ("JOBS", f"{job.created_at}#{job.job_id}")
    assert items.job_of(item) == job


def test_task_counts_are_top_level_attributes_and_come_back_snake_case() -> None:
    key = TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3")
    item = items.new_task_item("job-1", key, 99)
    assert item["SK"] == f"TASK#{ACCOUNT}#inventory#s3"
    task = items.task_of(
        "job-1", {**item, "Status": "SUCCEEDED", "Attempts": 2, "ResourceCount": 7, "Deleted": 1}
    )
    assert task.key == key
    assert task.attempts == 2
    assert dict(task.counts) == {"resource_count": 7, "deleted": 1}


def test_finding_item_is_in_the_open_index_only_while_open() -> None:
    finding = Finding(
        account_id=ACCOUNT,
        policy_id="s3.encrypted",
        arn="arn:aws:s3:::data",
        state=FindingState.OPEN,
        severity=Severity.HIGH,
        title="t",
        evidence="e",
        region="eu-west-1",
        first_seen=timestamp(T0),
        last_seen=timestamp(T0),
    )
    item = items.finding_item(finding)
    assert (item["GSI1PK"], item["GSI1SK"]) == (
        "OPEN#s3.encrypted",
        f"high#{ACCOUNT}#arn:aws:s3:::data",
    )
    assert items.finding_of(item) == finding
    resolved = finding.resolved("compliant", timestamp(T0))
    assert "GSI1PK" not in items.finding_item(resolved)
    assert items.finding_of(items.finding_item(resolved)) == resolved


def test_account_item_round_trip_and_unknown_status_is_not_runnable() -> None:
    account = Account(ACCOUNT, AccountStatus.ACTIVE, "prod", tags={"team": "sec"})
    assert items.account_of(items.account_item(account)) == account
    odd = items.account_of({"PK": "ACCOUNT", "SK": ACCOUNT, "Status": "CLOSED"})
    assert odd.status is AccountStatus.SUSPENDED
