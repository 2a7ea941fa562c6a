"""The throttling storm of ``make chaos``: member calls throttled at a high rate, at the
template's default concurrency; no task may fail. Measures the retries and the time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import TEMPLATE
from qrie.domain import TaskStatus
from qrie.store.table import Store
from qrie_local import faults
from qrie_local.chaos import MEMBER_ROLE, SERVICES, fault_stack, start_job, tiny_seed, wait_final
from qrie_local.invariants import Check, check_job
from qrie_local.runner import Runner

__all__ = ["StormReport", "run_storm"]


@dataclass
class StormReport:
    accounts: int
    throttle: float
    concurrency: str
    tasks: int = 0
    succeeded: int = 0
    failed: int = 0
    failed_for_throttling: int = 0
    seconds: float = 0.0
    member_requests: int = 0
    throttled_requests: int = 0
    worker_retries: int = 0
    unknown_attributes: int = 0
    checks: list[Check] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return all(c.held for c in self.checks)


def _unknown_attributes(store: Store, accounts: Sequence[str]) -> int:
    total = 0
    for account in accounts:
        for service in SERVICES:
            for resource in store.iter_resources(account, service):
                total += len(resource.config.get("unknown") or {})
    return total


def run_storm(
    state_dir: Path,
    accounts: int = 40,
    throttle: float = 0.4,
    seed: int = 11,
    concurrency: int | None = None,
    log: Any = print,
) -> StormReport:
    report = StormReport(accounts, throttle, str(concurrency or "template default"))
    with fault_stack(state_dir, TEMPLATE) as stack, stack.apply_env():
        store = Store(stack.table_name)
        log(f"seeding {accounts} member accounts ...")
        tiny_seed(stack, accounts, seed)
        ids = [a.account_id for a in store.list_accounts()]
        runner = Runner(
            stack,
            schedule_interval=2.0,
            max_concurrency=concurrency,
            time_scale=0.002,
            env_overrides={"RETRY_BASE_SECONDS": "1", "MAX_RETRY_SECONDS": "4"},
            log_path=state_dir / "runner.log",
        )
        with runner:
            # the same accounts without faults first: the attributes moto itself cannot answer
            baseline_id = start_job(runner, {"operation": "inventory", "service": "*"})
            wait_final(store, baseline_id)
            baseline_unknown = _unknown_attributes(store, ids)
            faults.configure(
                stack.endpoint,
                faults.FaultConfig(
                    enabled=True, seed=seed, member_role=MEMBER_ROLE, throttle_rate=throttle
                ),
            )
            t0 = time.monotonic()
            job_id = start_job(runner, {"operation": "inventory", "service": "*"})
            log(f"storm job {job_id} ({throttle:.0%} of member calls throttled)")
            wait_final(store, job_id, progress=True)
            report.seconds = round(time.monotonic() - t0, 1)
            injected = faults.fault_report(stack.endpoint)
            faults.configure(stack.endpoint, faults.FaultConfig())
        figures, checks, tasks = check_job(store, "storm", job_id, report.seconds, 2.0)
        report.checks += checks
        report.tasks = figures.total
        report.succeeded, report.failed = figures.succeeded, figures.failed
        report.failed_for_throttling = sum(
            1
            for t in tasks
            if t.status is TaskStatus.FAILED
            and any(
                code in t.reason
                for code in ("Throttl", "SlowDown", "RequestLimitExceeded", "InternalError")
            )
        )
        report.worker_retries = sum(max(0, (t.attempts or 1) - 1) for t in tasks)
        report.member_requests = int(injected["counts"].get("member_requests", 0))
        report.throttled_requests = int(injected["counts"].get("throttled", 0))
        report.unknown_attributes = _unknown_attributes(store, ids) - baseline_unknown
        report.checks.append(
            Check(
                "storm: no task failed for throttling",
                report.failed == 0,
                f"{report.failed} failed ({report.failed_for_throttling} for throttling)",
            )
        )
    return report
