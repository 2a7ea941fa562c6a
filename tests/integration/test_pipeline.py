"""The whole pipeline on the local stack: seeded member accounts, the job handler, the queues, the
workers run by the runner, the table; an inventory of every service, then a scan of every policy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from qrie.domain import FindingState, JobStatus, TaskStatus
from qrie.store.table import Store
from qrie_local.runner import Runner
from qrie_local.seed import SeedReport, seed
from qrie_local.stack import LocalStack

ACCOUNTS = 10
SERVICES = ("s3", "ec2", "iam")
JOB_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def seeded(local_stack: LocalStack) -> SeedReport:
    return seed(local_stack, ACCOUNTS, seed=11, unassumable=1)


@pytest.fixture(scope="module")
def runner(local_stack: LocalStack, seeded: SeedReport) -> Iterator[Runner]:
    # 4 execution environments per worker: the suite runs on 2 cores next to the moto server.
    with Runner(local_stack, schedule_interval=2.0, max_concurrency=4) as running:
        yield running


@pytest.fixture(scope="module")
def store(local_stack: LocalStack) -> Iterator[Store]:
    with local_stack.apply_env():
        yield Store(local_stack.table_name)


def run_job(local_stack: LocalStack, runner: Runner, request: dict[str, Any]) -> dict[str, Any]:
    """Start a job through the job handler (a fresh execution environment, as a direct Lambda
    invoke), then wait until the workers the runner drives finish it."""
    response = runner.invoke("JobHandlerFunction", request)
    assert "job_id" in response, response
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    with local_stack.apply_env():
        store = Store(local_stack.table_name)
        while time.monotonic() < deadline:
            job = store.get_job(response["job_id"])
            assert job is not None
            if not job.running:
                return job
            time.sleep(0.5)
    raise AssertionError(f"job {response['job_id']} did not finish: {job}")


@pytest.fixture(scope="module")
def inventory_job(local_stack: LocalStack, runner: Runner, seeded: SeedReport) -> dict[str, Any]:
    return run_job(local_stack, runner, {"operation": "inventory", "service": "*", "accounts": "*"})


def test_seeding_made_the_accounts_asked_for(local_stack: LocalStack, seeded: SeedReport) -> None:
    assert len(seeded.accounts) == ACCOUNTS
    assert len(set(seeded.accounts)) == ACCOUNTS
    assert all(len(a) == 12 and a.isdigit() for a in seeded.accounts)
    assert len(seeded.unassumable) == 1
    assert seeded.unassumable[0] in seeded.accounts
    assert len(seeded.suspended) == 1
    assert seeded.suspended[0] not in seeded.accounts
    assert set(seeded.resources) == set(seeded.accounts)
    # about a third non-compliant, in every service across the accounts
    for service in SERVICES:
        assert sum(nc[service] for nc in seeded.non_compliant.values()) > 0
    # the same seed gives the same accounts
    again = seed(local_stack, ACCOUNTS, seed=11, unassumable=1)
    assert again.accounts == seeded.accounts
    assert again.resources == seeded.resources


def test_inventory_job_counts_every_task_exactly(
    seeded: SeedReport, inventory_job: dict[str, Any]
) -> None:
    active = len(seeded.accounts)
    unassumable = len(seeded.unassumable)
    assert inventory_job.status == JobStatus.COMPLETED_WITH_ERRORS
    assert inventory_job.total == active * len(SERVICES)
    assert inventory_job.succeeded == (active - unassumable) * len(SERVICES)
    assert inventory_job.failed == unassumable * len(SERVICES)
    assert inventory_job.remaining == 0
    assert inventory_job.total_accounts == active


def test_suspended_account_is_skipped_with_a_reason(
    seeded: SeedReport, inventory_job: dict[str, Any]
) -> None:
    skipped = {s.account_id: s.reason for s in inventory_job.skipped_accounts}
    assert set(skipped) == set(seeded.suspended)
    assert all("SUSPENDED" in reason for reason in skipped.values())


def test_unassumable_account_failed_with_access_denied(
    store: Store, seeded: SeedReport, inventory_job: dict[str, Any]
) -> None:
    failed = list(store.iter_tasks(inventory_job.job_id, status=TaskStatus.FAILED))
    assert sorted(t.account_id for t in failed) == sorted(seeded.unassumable * len(SERVICES))
    assert {t.service for t in failed} == set(SERVICES)
    for task in failed:
        assert "AccessDenied" in task.reason or "AssumeRole" in task.reason, task
    succeeded = list(store.iter_tasks(inventory_job.job_id, status=TaskStatus.SUCCEEDED))
    assert len(succeeded) == inventory_job.succeeded


def test_inventory_holds_what_was_seeded(
    store: Store, seeded: SeedReport, inventory_job: dict[str, Any]
) -> None:
    found = {
        account: {
            service: sum(1 for _ in store.iter_resources(account, service)) for service in SERVICES
        }
        for account in seeded.accounts
    }
    expected = {
        account: (
            dict.fromkeys(SERVICES, 0)
            if account in seeded.unassumable
            else {service: seeded.resources[account][service] for service in SERVICES}
        )
        for account in seeded.accounts
    }
    assert found == expected
    for suspended in seeded.suspended:
        assert all(not list(store.iter_resources(suspended, s)) for s in SERVICES)


def test_scan_job_finds_the_non_compliant_resources(
    local_stack: LocalStack,
    runner: Runner,
    store: Store,
    seeded: SeedReport,
    inventory_job: dict[str, Any],
) -> None:
    # WHEN every policy is scanned over every account
    job = run_job(local_stack, runner, {"operation": "scan", "policy": "*", "accounts": "*"})
    # THEN the job finished, one task per account and service
    assert job.status in {JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS}
    assert job.total == len(seeded.accounts) * len(SERVICES)
    assert job.succeeded + job.failed == job.total
    assert job.succeeded >= len(seeded.assumable) * len(SERVICES)
    # and every inventoried account with deliberately non-compliant resources has open findings
    # in those services
    for account in seeded.assumable:
        findings = list(store.iter_findings(account, state=FindingState.OPEN))
        services = {f.policy_id.split(".", 1)[0] for f in findings}
        for service in SERVICES:
            if seeded.non_compliant[account][service]:
                assert service in services, (account, service, seeded.non_compliant[account])
    stats = runner.stats()
    assert stats["InventoryWorkerFunction"]["records_deleted"] == inventory_job.total
    assert stats["ScanWorkerFunction"]["records_deleted"] == job.total
    assert stats["InventoryWorkerFunction"]["crashes"] == 0
    assert stats["PollingServiceFunction"]["invocations"] >= 1
