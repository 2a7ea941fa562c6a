"""The invariants qrie must keep under faults, checked against the table after a run on the
local stack (the chaos run of :mod:`qrie_local.chaos`: ``make chaos`` and the integration
tests). Each check returns :class:`Check` results (held or not, with what was found):

- :func:`check_job`: every task terminal exactly once (all task items SUCCEEDED/FAILED,
  Remaining == 0); the job's counters equal the task items' states (a task counted twice would
  not); the job final, with the status its counters call for, within one polling cycle of its
  last task's terminal write;
- :func:`check_inventory`: no resource lost or duplicated (the inventory equals what the
  accounts hold, for every (account, service) whose inventory task succeeded; a subset where it
  failed);
- :func:`check_findings`: no finding lost or duplicated (open findings equal the policies'
  verdicts over the stored inventory; the dashboard summary counts them once);
- :func:`check_isolation`: a task fails only for a fault planned against it (denied -- its own
  service or another API its collector calls --, poison) or a crash that used up its receives;
  every transient burst ends in success.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qrie.domain import Task, TaskKind, TaskStatus, final_status
from qrie.policies.base import Outcome
from qrie.policies.registry import select
from qrie.store.table import Store
from qrie_local.faults import FaultConfig

__all__ = [
    "Check",
    "JobFigures",
    "check_findings",
    "check_inventory",
    "check_isolation",
    "check_job",
]


@dataclass
class Check:
    """One invariant after a run: whether it held, and what was found."""

    name: str
    held: bool
    detail: str = ""


@dataclass
class JobFigures:
    """One job's figures after a run: its counters, time, how late it was final, and its tasks'
    failure reasons (by class) and receive counts."""

    label: str
    job_id: str
    status: str
    total: int
    succeeded: int
    failed: int
    seconds: float
    final_lag_seconds: float
    reasons: dict[str, int]
    attempts: dict[str, int]


def _parse(stamp: Any) -> datetime | None:
    if not stamp:
        return None
    return datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _reason_class(reason: str) -> str:
    if not reason:
        return ""
    if "AccessDenied" in reason or "UnauthorizedOperation" in reason:
        return "denied"
    return reason.split(":", 1)[0]


def check_job(
    store: Store, label: str, job_id: str, seconds: float, polling: float
) -> tuple[JobFigures, list[Check], list[Task]]:
    """The accounting invariants of one job."""
    job = store.get_job(job_id)
    assert job is not None, f"no job {job_id}"
    tasks = list(store.iter_tasks(job_id))
    states = Counter(t.status for t in tasks)
    succeeded, failed, total = job.succeeded, job.failed, job.total
    ok, ko = states[TaskStatus.SUCCEEDED], states[TaskStatus.FAILED]
    terminal = ok + ko
    checks = [
        Check(
            f"{label}: every task terminal exactly once",
            terminal == len(tasks) == total
            and job.remaining == 0
            and all(t.ended_at for t in tasks),
            f"{dict(states)} of {total} items, Remaining={job.remaining}",
        ),
        Check(
            f"{label}: job counters equal the task items' states",
            succeeded == ok and failed == ko,
            f"counters {succeeded}/{failed}, items {ok}/{ko}",
        ),
        Check(
            f"{label}: no task counted twice",
            succeeded + failed == terminal == total,
            f"Succeeded+Failed={succeeded + failed}, terminal items={terminal}",
        ),
    ]
    ended = [e for e in (_parse(t.ended_at) for t in tasks) if e is not None]
    finished = _parse(job.finished_at)
    lag = (finished - max(ended)).total_seconds() if finished and ended else float("nan")
    expected_status = final_status(succeeded, failed, job.cancelled)
    running = job_id in store.running_job_ids()
    checks.append(
        Check(
            f"{label}: final within one polling cycle of its last task",
            job.status == expected_status and not running and 0 <= lag <= polling + 1.0,
            f"{job.status} (expected {expected_status}), {lag:.3f}s after the last task",
        )
    )
    figures = JobFigures(
        label=label,
        job_id=job_id,
        status=job.status.value,
        total=total,
        succeeded=succeeded,
        failed=failed,
        seconds=round(seconds, 1),
        final_lag_seconds=round(lag, 3),
        reasons=dict(Counter(_reason_class(t.reason) for t in tasks if t.reason)),
        attempts=dict(Counter(str(t.attempts or "-") for t in tasks)),
    )
    return figures, checks, tasks


def check_inventory(
    store: Store, tasks: Sequence[Task], expected: dict[str, dict[str, int]]
) -> tuple[list[Check], int]:
    """No resource lost or duplicated: the stored inventory against what the accounts hold."""
    lost, extra, wrong = [], [], []
    stored_total = 0
    for task in tasks:
        account, service = task.account_id, task.service
        items = list(store.iter_resources(account, service))
        stored_total += len(items)
        arns = [i.arn for i in items]
        want = expected[account][service]
        if len(set(arns)) != len(arns) or any(i.account_id != account for i in items):
            wrong.append(f"{account}/{service}")
        if task.status is TaskStatus.SUCCEEDED and len(items) < want:
            lost.append(f"{account}/{service}: {len(items)} of {want}")
        if len(items) > want:
            extra.append(f"{account}/{service}: {len(items)} of {want}")
    checks = [
        Check(
            "inventory: no resource lost (succeeded tasks hold every resource)",
            not lost,
            "; ".join(lost[:10]) or f"{stored_total} resources",
        ),
        Check(
            "inventory: no resource duplicated or foreign",
            not extra and not wrong,
            "; ".join((extra + wrong)[:10]) or "none",
        ),
    ]
    return checks, stored_total


def check_findings(
    store: Store, tasks: Sequence[Task], inventory_tasks: Sequence[Task]
) -> tuple[list[Check], int]:
    """No finding lost or duplicated: open findings equal the policies' verdicts over the stored
    inventory, for every (account, service) whose inventory and scan tasks both succeeded (where
    the inventory failed, the scan saw what there was then, and the cancelled job's inventory,
    which runs beside the scan, may have completed it since), and the summary counts them once.
    """
    now = datetime.now(UTC)
    mismatched, summary_wrong = [], []
    total_open = 0
    inventoried = {
        (t.account_id, t.service) for t in inventory_tasks if t.status is TaskStatus.SUCCEEDED
    }
    summary = {f"{c.account_id}#{c.policy_id}": c.open for c in store.summary()}
    for task in tasks:
        account, service = task.account_id, task.service
        policies = [p for p in select("*") if p.service == service]
        ids = {p.id for p in policies}
        open_now = Counter(
            (f.policy_id, f.arn)
            for f in store.iter_findings(account)
            if f.is_open and f.policy_id in ids
        )
        total_open += sum(open_now.values())
        if task.status is not TaskStatus.SUCCEEDED or (account, service) not in inventoried:
            continue
        verdicts: set[tuple[str, str]] = set()
        for resource in store.iter_resources(account, service):
            for policy in policies:
                if not policy.applies_to(resource):
                    continue
                verdict = policy.evaluate(resource, now)
                if verdict is not None and verdict.outcome == Outcome.NON_COMPLIANT:
                    verdicts.add((policy.id, resource.arn))
        if set(open_now) != verdicts or any(n != 1 for n in open_now.values()):
            mismatched.append(
                f"{account}/{service}: open {sorted(open_now)} != verdicts {sorted(verdicts)}"
            )
        per_policy = Counter(policy_id for policy_id, _arn in open_now)
        for policy_id in ids:
            if summary.get(f"{account}#{policy_id}", 0) != per_policy.get(policy_id, 0):
                summary_wrong.append(f"{account}#{policy_id}")
    checks = [
        Check(
            "findings: none lost or duplicated (open findings == verdicts)",
            not mismatched,
            "; ".join(mismatched[:3]) or f"{total_open} open findings",
        ),
        Check(
            "findings: the summary counts every open finding once",
            not summary_wrong,
            ", ".join(summary_wrong[:10]) or "all accounts and policies",
        ),
    ]
    return checks, total_open


def called_apis(service: str) -> set[str]:
    """The APIs the service's collector calls (its CALLS): its own, and any other."""
    from qrie.inventory.registry import all_collectors  # noqa: PLC0415

    collector = all_collectors().get(service)
    own = {service}
    return own | {call.service for call in collector.calls.calls} if collector else own


def check_isolation(
    tasks: Sequence[Task],
    config: FaultConfig,
    runner_faults: dict[str, Any],
    kind: str,
    inventoried: set[tuple[str, str]] | None = None,
) -> tuple[list[Check], int]:
    """A task fails only for a fault planned against it: denied, poison, or -- Lambda returns a
    whole batch when its execution environment dies -- receives used up by crashes (its own,
    or of a batch-mate before it); every transient burst otherwise ends in success. A scan of an
    (account, service) whose inventory did not succeed (``inventoried`` holds those that did)
    fails ``not-inventoried``: explained by the inventory's own fault, checked there."""
    poisoned = set(runner_faults.get("poisoned", []))
    crashed = set(runner_faults.get("crashed", [])) | set(runner_faults.get("starved", {}))
    unexplained, burst_failed, denied_ok = [], [], []
    collateral = 0
    for task in tasks:
        account, task_kind, service = task.account_id, task.kind, task.service
        key = f"{task_kind.value}:{account}:{service}"
        planned = config.task_fault(account, service) if task_kind is TaskKind.INVENTORY else None
        # a denial planned against an API the collector calls beside its own service's (the IAM
        # inventory's DescribeRegions goes to EC2) explains a failure too
        denied = task_kind is TaskKind.INVENTORY and any(
            config.task_fault(account, api) == "deny" for api in called_apis(service)
        )
        reason = task.reason
        failed = task.status is TaskStatus.FAILED
        uncovered = (
            inventoried is not None
            and (account, service) not in inventoried
            and reason.startswith("not-inventoried")
        )
        if failed and not (reason == "cancelled" or key in poisoned or denied or uncovered):
            if key in crashed and reason.startswith(("dead-lettered", "retries-exhausted")):
                collateral += 1
            else:
                unexplained.append(f"{key}: {reason[:120]}")
        if planned == "deny" and not failed:
            denied_ok.append(key)
        if planned == "burst" and failed and key not in poisoned | crashed:
            burst_failed.append(f"{key}: {reason[:120]}")
    checks = [
        Check(
            f"{kind}: no task failed without a fault planned against it",
            not unexplained,
            "; ".join(unexplained[:5])
            or f"{collateral} failed after crashes (theirs or a batch-mate's) used their receives",
        ),
        Check(
            f"{kind}: every transient burst ended in success",
            not burst_failed,
            "; ".join(burst_failed[:5]) or "retried through the worker's backoff",
        ),
        Check(
            f"{kind}: every denied task failed (permanently)",
            not denied_ok,
            ", ".join(denied_ok[:5]) or "all failed",
        ),
    ]
    return checks, collateral
