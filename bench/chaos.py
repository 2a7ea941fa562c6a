"""Chaos run (``make chaos`` = ``python -m bench.chaos``): qrie's pipeline on the local stack
under the faults SQS, Lambda and AWS APIs really produce, then the invariants, checked.

1. **Chaos**: N member accounts (tiny: a bucket and a user each, plus what every account has),
   an inventory job of every service, a scan job of every policy, and an inventory job
   cancelled in its middle, with faults injected by :mod:`qrie_local.faults`: transient bursts
   (throttling, 5xx) and permanent denials (AccessDenied) in member-account calls, duplicate
   deliveries, crashes of the execution environment mid-batch, and poison messages that crash
   every receive until SQS dead-letters them. Invariants after the run:

   - every task terminal exactly once (all task items SUCCEEDED/FAILED, Remaining == 0);
   - the job's counters equal the task items' states (a task counted twice would not);
   - every job final, within one polling cycle of its last task's terminal write;
   - no resource lost or duplicated (the inventory equals what the accounts hold, for every
     (account, service) whose inventory task succeeded; a subset where it failed);
   - no finding lost or duplicated (open findings equal the policies' verdicts over the stored
     inventory; the dashboard summary counts them once);
   - failures isolated: a task fails only for a fault planned against it (denied, poison) or a
     dead-lettered batch-mate of a poison message; every transient burst ends in success.

2. **Throttling storm**: member calls throttled at a high rate, at the template's default
   concurrency: no task may fail; prints the retries and the time.

3. **Fuzzing**: the hypothesis suite (tests/unit/test_fuzz.py) with >= 1,000 examples each.

Prints every figure and exits non-zero if an invariant did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from qrie.aws import client_config
from qrie.config import Settings
from qrie.domain import Account, Job, JobStatus, Task, TaskKind, TaskStatus, final_status
from qrie.jobs.service import JobService
from qrie.policies.base import Outcome
from qrie.policies.registry import select
from qrie.queue import TaskQueue
from qrie.store.table import Store
from qrie_local import faults
from qrie_local.members import trust_policy
from qrie_local.moto_patches import BOOTSTRAP_ROLE
from qrie_local.provision import ACCOUNT_ID
from qrie_local.runner import Runner
from qrie_local.seed import account_ids
from qrie_local.server import HOOKS_ENV
from qrie_local.stack import LOCAL_PARAMETERS, LocalStack

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("s3", "ec2", "iam")
MEMBER_ROLE = "QrieReadOnly"
REGIONS = LOCAL_PARAMETERS["Regions"]  # the EC2 inventory's regions
SEED_THREADS = 8
JOB_TIMEOUT_SECONDS = 900.0
QUIET_TIMEOUT_SECONDS = 300.0
# boto3's default session is not safe to build clients from in several threads at once.
_CLIENTS = threading.Lock()


# ============================================================================ settings
@dataclass(frozen=True)
class ChaosSettings:
    accounts: int = 334
    seed: int = 7
    transient: float = 0.10  # (account, service) pairs with a transient burst
    permanent: float = 0.05  # (account, service) pairs denied
    duplicates: float = 0.03  # messages delivered twice
    crashes: float = 0.02  # deliveries that crash their invocation
    poison: float = 0.005  # messages that crash every receive (-> dead-letter queue)
    throttle: float = 0.0  # background throttling of every member request
    burst_throttle_share: float = 0.5  # bursts of throttling errors (slow backoff), else 5xx
    regions: str = REGIONS
    concurrency: int | None = 8  # None: the template's MaximumConcurrency
    time_scale: float = 0.002  # 1800 s visibility -> 3.6 s
    schedule_interval: float = 2.0  # the polling service's cycle
    cancel: bool = True
    cancel_service: str = "*"  # what the cancelled inventory job covers
    scan: bool = True
    via_handler: bool = True  # start jobs through the job handler's Lambda (else in-process)

    def server_faults(self) -> faults.FaultConfig:
        return faults.FaultConfig(
            enabled=True,
            seed=self.seed,
            member_role=MEMBER_ROLE,
            throttle_rate=self.throttle,
            burst_rate=self.transient,
            burst_throttle_share=self.burst_throttle_share,
            deny_rate=self.permanent,
        )

    def runner_faults(self) -> faults.RunnerFaultConfig:
        return faults.RunnerFaultConfig(
            seed=self.seed,
            crash_rate=self.crashes,
            duplicate_rate=self.duplicates,
            poison_rate=self.poison,
        )


@dataclass
class Check:
    name: str
    held: bool
    detail: str = ""


@dataclass
class JobFigures:
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


@dataclass
class ChaosReport:
    settings: dict[str, Any]
    tasks: int = 0
    seconds: float = 0.0
    seed_seconds: float = 0.0
    jobs: list[JobFigures] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    injected_aws: dict[str, Any] = field(default_factory=dict)
    injected_runner: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)
    resources: int = 0
    findings: int = 0
    cancelled_tasks: int = 0
    collateral_dead_letters: int = 0

    @property
    def held(self) -> bool:
        return all(c.held for c in self.checks)


# ============================================================================ the stack
@contextmanager
def fault_stack(state_dir: Path, regions: str = REGIONS) -> Iterator[LocalStack]:
    """A local stack whose AWS carries the fault hook (disabled until configured)."""
    previous = os.environ.get(HOOKS_ENV)
    os.environ[HOOKS_ENV] = faults.HOOK_SPEC
    try:
        stack = LocalStack.up(
            state_dir=state_dir,
            template=ROOT / "template.yaml",
            parameters={"Regions": regions},
        )
    finally:
        if previous is None:
            os.environ.pop(HOOKS_ENV, None)
        else:
            os.environ[HOOKS_ENV] = previous
    try:
        yield stack
    finally:
        stack.down()


class Admin:
    """Administrator clients inside member accounts (the Organizations bootstrap role), built
    from one shared session: a session per account would parse the service models again."""

    def __init__(self) -> None:
        self.session = boto3.Session()
        self.sts = self.session.client("sts", config=client_config())

    def clients(self, account: str, regions: Sequence[str]) -> tuple[Any, Any, dict[str, Any]]:
        credentials = self.sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{BOOTSTRAP_ROLE}",
            RoleSessionName="qrie-chaos-admin",
        )["Credentials"]
        kwargs: dict[str, Any] = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
            "config": client_config(),
        }
        with _CLIENTS:
            s3 = self.session.client("s3", region_name="us-east-1", **kwargs)
            iam = self.session.client("iam", region_name="us-east-1", **kwargs)
            ec2 = {r: self.session.client("ec2", region_name=r, **kwargs) for r in regions}
        return s3, iam, ec2


def count_resources(s3: Any, iam: Any, ec2: dict[str, Any]) -> dict[str, int]:
    """What qrie's collectors find in an account, read directly with its admin clients."""

    def pages(client: Any, operation: str, key: str, **kwargs: Any) -> int:
        return sum(len(p[key]) for p in client.get_paginator(operation).paginate(**kwargs))

    ec2_total = 0
    for client in ec2.values():
        instances = sum(
            1
            for page in client.get_paginator("describe_instances").paginate()
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
            if instance.get("State", {}).get("Name") != "terminated"
        )
        volumes = pages(client, "describe_volumes", "Volumes")
        groups = pages(client, "describe_security_groups", "SecurityGroups")
        ec2_total += instances + volumes + groups + 1  # + the EBS default-encryption setting
    iam_total = (
        pages(iam, "list_users", "Users")
        + pages(iam, "list_policies", "Policies", Scope="Local")
        + pages(iam, "list_roles", "Roles")
        + 2  # the account summary and the password policy
    )
    return {"s3": len(s3.list_buckets().get("Buckets", [])), "ec2": ec2_total, "iam": iam_total}


def tiny_seed(stack: LocalStack, accounts: int, seed: int) -> dict[str, dict[str, int]]:
    """``accounts`` member accounts, onboarded and registered, each with one public-ish bucket
    and one user; returns what the inventory must find per account and service."""
    ids = sorted(account_ids(accounts, seed))
    external_id = stack.parameters.get("ExternalId") or LOCAL_PARAMETERS["ExternalId"]
    regions = (stack.parameters.get("Regions") or REGIONS).split(",")

    admin = Admin()

    def one(account: str) -> dict[str, int]:
        s3, iam, ec2 = admin.clients(account, regions)
        iam.create_role(  # the onboarding step: the read-only member role
            RoleName=MEMBER_ROLE,
            AssumeRolePolicyDocument=json.dumps(trust_policy(ACCOUNT_ID, external_id)),
        )
        s3.create_bucket(Bucket=f"qrie-chaos-{account}")
        iam.create_user(UserName="chaos-user")
        return count_resources(s3, iam, ec2)

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        expected = dict(zip(ids, pool.map(one, ids), strict=True))
    Store(stack.table_name).put_accounts(
        Account(a, name=f"chaos-{i:04d}") for i, a in enumerate(ids, start=1)
    )
    return expected


# ============================================================================ jobs
def start_job(runner: Runner, request: dict[str, Any], via_handler: bool = True) -> str:
    """Through the job handler (a fresh execution environment, as a direct Lambda invoke), or
    its domain call in this process (the environment must be the job handler's)."""
    if via_handler:
        response = runner.invoke("JobHandlerFunction", request)
    else:
        settings = Settings.from_env()
        store = Store(settings.table_name)
        response = JobService(settings, store, TaskQueue(store.clients)).handle(request)
    if "job_id" not in response:
        raise RuntimeError(f"job refused: {response}")
    return str(response["job_id"])


def wait_final(
    store: Store, job_id: str, timeout: float = JOB_TIMEOUT_SECONDS, progress: bool = False
) -> Job:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job is not None:
            line = f"  {job_id}: {job.status} {job.done}/{job.total}"
            if progress and line != last:
                print(line, flush=True)
                last = line
            if not job.running:
                return job
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} not final after {timeout:.0f}s: {store.get_job(job_id)}")


def wait_quiet(stack: LocalStack, timeout: float = QUIET_TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Until the task queues and the dead-letter queue hold no message (in flight or not);
    what they still hold if they do not within ``timeout``."""
    sqs = Store(stack.table_name).clients.get("sqs")
    queues = ("InventoryQueueUrl", "ScanQueueUrl", "DeadLetterQueueUrl")
    deadline = time.monotonic() + timeout
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    started = time.monotonic()
    while True:
        held = {}
        for key in queues:
            url = stack.outputs[key]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            held[key.removesuffix("Url")] = [int(attrs.get(n, 0)) for n in names]
        if not any(sum(counts) for counts in held.values()):
            return True, f"empty {time.monotonic() - started:.1f}s after the last job"
        if time.monotonic() >= deadline:
            return False, "still held (visible, in flight): " + json.dumps(held)
        time.sleep(0.5)


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


# ============================================================================ invariants
def check_job(
    store: Store, label: str, job_id: str, seconds: float, polling: float
) -> tuple[JobFigures, list[Check], list[dict[str, Any]]]:
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


def check_isolation(
    tasks: Sequence[Task],
    config: faults.FaultConfig,
    runner_faults: dict[str, Any],
    kind: str,
) -> tuple[list[Check], int]:
    """A task fails only for a fault planned against it: denied, poison, or -- Lambda returns a
    whole batch when its execution environment dies -- receives used up by crashes (its own,
    or of a batch-mate before it); every transient burst otherwise ends in success."""
    poisoned = set(runner_faults.get("poisoned", []))
    crashed = set(runner_faults.get("crashed", [])) | set(runner_faults.get("starved", {}))
    unexplained, burst_failed, denied_ok = [], [], []
    collateral = 0
    for task in tasks:
        account, task_kind, service = task.account_id, task.kind, task.service
        key = f"{task_kind.value}:{account}:{service}"
        planned = config.task_fault(account, service) if task_kind is TaskKind.INVENTORY else None
        reason = task.reason
        failed = task.status is TaskStatus.FAILED
        if failed and not (reason == "cancelled" or key in poisoned or planned == "deny"):
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


# ============================================================================ the chaos run
def run_chaos(settings: ChaosSettings, state_dir: Path, log: Any = print) -> ChaosReport:
    report = ChaosReport(settings=asdict(settings))
    started = time.monotonic()
    server_config = settings.server_faults()
    runner_config = settings.runner_faults()
    with fault_stack(state_dir, settings.regions) as stack, stack.apply_env():
        store = Store(stack.table_name)
        log(f"seeding {settings.accounts} member accounts ...")
        seeded = time.monotonic()
        expected = tiny_seed(stack, settings.accounts, settings.seed)
        report.seed_seconds = round(time.monotonic() - seeded, 1)
        faults.configure(stack.endpoint, server_config)
        injector = faults.RunnerFaults(runner_config)
        runner = Runner(
            stack,
            schedule_interval=settings.schedule_interval,
            max_concurrency=settings.concurrency,
            time_scale=settings.time_scale,
            env_overrides={"RETRY_BASE_SECONDS": "1", "MAX_RETRY_SECONDS": "4"},
            log_path=state_dir / "runner.log",
            faults=injector,
        )
        polling = settings.schedule_interval
        all_tasks: list[dict[str, Any]] = []
        with runner:
            # 1) inventory of every service
            t0 = time.monotonic()
            inventory_id = start_job(
                runner, {"operation": "inventory", "service": "*"}, settings.via_handler
            )
            log(f"inventory job {inventory_id}")
            wait_final(store, inventory_id, progress=True)
            figures, checks, inventory_tasks = check_job(
                store, "inventory", inventory_id, time.monotonic() - t0, polling
            )
            report.jobs.append(figures)
            report.checks += checks
            all_tasks += inventory_tasks
            # 2) a scan of every policy and, meanwhile, an inventory job cancelled in its middle
            scan_tasks: list[dict[str, Any]] = []
            t_scan = time.monotonic()
            scan_id = (
                start_job(runner, {"operation": "scan", "policy": "*"}, settings.via_handler)
                if settings.scan
                else ""
            )
            if scan_id:
                log(f"scan job {scan_id}")
            if settings.cancel:
                t_cancel = time.monotonic()
                cancel_id = start_job(
                    runner,
                    {"operation": "inventory", "service": settings.cancel_service},
                    settings.via_handler,
                )
                log(f"inventory job {cancel_id} (to be cancelled)")
                created = store.get_job(cancel_id)
                total = created.total if created else 0
                while True:
                    current = store.get_job(cancel_id)
                    done = current.done if current else 0
                    if done >= max(1, total // 5) or (current and not current.running):
                        break
                    time.sleep(0.05)
                service = JobService(Settings.from_env(), store, TaskQueue(store.clients))
                answer = service.handle({"operation": "cancel", "job_id": cancel_id})
                log(f"cancelled at {done}/{total}: {answer}")
                report.cancelled_tasks = int(answer.get("cancelled_tasks", 0))
            if scan_id:
                wait_final(store, scan_id, progress=True)
                figures, checks, scan_tasks = check_job(
                    store, "scan", scan_id, time.monotonic() - t_scan, polling
                )
                report.jobs.append(figures)
                report.checks += checks
                all_tasks += scan_tasks
            if settings.cancel:
                job = wait_final(store, cancel_id)
                figures, checks, cancel_tasks = check_job(
                    store, "cancel", cancel_id, time.monotonic() - t_cancel, polling
                )
                report.jobs.append(figures)
                report.checks += checks
                all_tasks += cancel_tasks
                cancelled = sum(1 for t in cancel_tasks if t.reason == "cancelled")
                report.checks.append(
                    Check(
                        "cancel: the job is CANCELLED in its middle, pending tasks cancelled",
                        job.status is JobStatus.CANCELLED
                        and cancelled == report.cancelled_tasks > 0
                        and done < total,
                        f"{job.status}, {cancelled} cancelled tasks "
                        f"(answer: {report.cancelled_tasks}), cancelled at {done}/{total}",
                    )
                )
            quiet, detail = wait_quiet(stack)
            if not quiet:
                busy = {name: s.get("busy_now", 0) for name, s in runner.stats().items()}
                detail += f"; invocations running: {json.dumps(busy)}"
            report.checks.append(
                Check("queues drained (nothing stuck in flight or in the DLQ)", quiet, detail)
            )
        report.runner = runner.stats()
        report.injected_aws = faults.fault_report(stack.endpoint)
        report.injected_runner = injector.report()
        faults.configure(stack.endpoint, faults.FaultConfig())
        # no resource or finding lost or duplicated (after every job and redelivery settled)
        checks, report.resources = check_inventory(store, inventory_tasks, expected)
        report.checks += checks
        if settings.scan:
            checks, report.findings = check_findings(store, scan_tasks, inventory_tasks)
            report.checks += checks
        checks, collateral = check_isolation(
            inventory_tasks, server_config, report.injected_runner, "inventory"
        )
        report.checks += checks
        report.collateral_dead_letters += collateral
        if settings.scan:
            checks, collateral = check_isolation(
                scan_tasks, server_config, report.injected_runner, "scan"
            )
            report.checks += checks
            report.collateral_dead_letters += collateral
        report.tasks = len(all_tasks)
    report.seconds = round(time.monotonic() - started, 1)
    return report


# ============================================================================ the storm
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
    with fault_stack(state_dir) as stack, stack.apply_env():
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


# ============================================================================ fuzzing
def run_fuzz(profile: str = "chaos") -> tuple[bool, float, str]:
    started = time.monotonic()
    env = {**os.environ, "QRIE_FUZZ_PROFILE": profile}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_fuzz.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = (result.stdout.strip().splitlines() or [""])[-1]
    return result.returncode == 0, round(time.monotonic() - started, 1), tail


# ============================================================================ printing
def print_chaos(report: ChaosReport) -> None:
    s = report.settings
    print("\n=== chaos run ===")
    print(
        f"{s['accounts']} accounts x {len(SERVICES)} services; {report.tasks} tasks in "
        f"{len(report.jobs)} jobs; {report.seconds}s (seeding {report.seed_seconds}s); "
        f"concurrency {s['concurrency'] or 'template'}; seed {s['seed']}"
    )
    print(
        f"rates: transient {s['transient']:.0%} of (account, service) pairs, permanent "
        f"{s['permanent']:.0%}, duplicates {s['duplicates']:.0%} of messages, crashes "
        f"{s['crashes']:.0%} of deliveries, poison {s['poison']:.1%} of messages"
    )
    aws = report.injected_aws.get("counts", {})
    run = report.injected_runner.get("counts", {})
    print("injected:")
    print(
        f"  member-account calls: {aws.get('member_requests', 0)}; transient errors "
        f"{aws.get('burst', 0) + aws.get('throttled', 0)} "
        f"(bursts on {len(report.injected_aws.get('burst_tasks', []))} tasks), AccessDenied "
        f"{aws.get('denied', 0)} (on {len(report.injected_aws.get('denied_tasks', []))} tasks)"
    )
    codes = {k: v for k, v in aws.items() if k[0].isupper()}
    print(f"  error codes: {json.dumps(codes, sort_keys=True)}")
    print(
        f"  duplicate deliveries {run.get('duplicates', 0)}; crashes "
        f"{run.get('crashes', 0)} before a record + {run.get('crashes_during_record', 0)} in "
        f"the middle of a record; poison crashes {run.get('poison_crashes', 0)} "
        f"({len(report.injected_runner.get('poisoned', []))} messages)"
    )
    print(f"  cancel: {report.cancelled_tasks} pending tasks cancelled")
    for name, stats in sorted(report.runner.items()):
        print(
            f"  {name}: {stats.get('invocations', 0)} invocations, "
            f"{stats.get('crashes', 0)} crashes, {stats.get('records_failed', 0)} records back "
            f"to the queue, peak concurrency {stats.get('peak_concurrency', 0)}"
        )
    print("jobs:")
    for job in report.jobs:
        print(
            f"  {job.label:9} {job.status:22} {job.succeeded:5} ok {job.failed:4} failed "
            f"of {job.total:5}  {job.seconds:7.1f}s  final {job.final_lag_seconds:.3f}s after "
            f"the last task; reasons {json.dumps(job.reasons, sort_keys=True)}; attempts "
            f"{json.dumps(job.attempts, sort_keys=True)}"
        )
    print(
        f"inventory: {report.resources} resources; findings: {report.findings} open; tasks "
        f"failed after crashes used up their receives: {report.collateral_dead_letters} "
        f"({run.get('receives_lost_to_batch_mates', 0)} receives lost to a batch-mate's crash)"
    )
    print_checks(report.checks)


def print_checks(checks: Sequence[Check]) -> None:
    print("invariants:")
    for check in checks:
        mark = "held " if check.held else "BROKEN"
        print(f"  [{mark}] {check.name}: {check.detail}")


def print_storm(report: StormReport) -> None:
    print("\n=== throttling storm ===")
    print(
        f"{report.accounts} accounts, {report.tasks} tasks, {report.throttle:.0%} of member "
        f"calls throttled, concurrency {report.concurrency}: {report.succeeded} succeeded, "
        f"{report.failed} failed ({report.failed_for_throttling} for throttling) in "
        f"{report.seconds}s"
    )
    print(
        f"member calls {report.member_requests}, throttled {report.throttled_requests} "
        f"(each retried by botocore's standard mode), worker-level retries "
        f"{report.worker_retries}, attributes recorded unknown after retries "
        f"{report.unknown_attributes}"
    )
    print_checks(report.checks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--accounts", type=int, default=334)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transient", type=float, default=0.10)
    parser.add_argument("--permanent", type=float, default=0.05)
    parser.add_argument("--duplicates", type=float, default=0.03)
    parser.add_argument("--crashes", type=float, default=0.02)
    parser.add_argument("--poison", type=float, default=0.005)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--storm-accounts", type=int, default=40)
    parser.add_argument("--storm-rate", type=float, default=0.4)
    parser.add_argument("--skip-chaos", action="store_true")
    parser.add_argument("--skip-storm", action="store_true")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--state-dir", type=Path, help="keep the stacks' state and logs here (else a temp dir)"
    )
    args = parser.parse_args(argv)
    # SIGTERM stops like Ctrl-C: the local AWS and the runner's processes are stopped too
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    ok = True
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qrie-chaos-") as scratch:
        tmp = str(args.state_dir or scratch)
        if not args.skip_chaos:
            settings = ChaosSettings(
                accounts=args.accounts,
                seed=args.seed,
                transient=args.transient,
                permanent=args.permanent,
                duplicates=args.duplicates,
                crashes=args.crashes,
                poison=args.poison,
                concurrency=args.concurrency,
            )
            chaos = run_chaos(settings, Path(tmp) / "chaos")
            print_chaos(chaos)
            ok = ok and chaos.held
            figures["chaos"] = asdict(chaos)
        if not args.skip_storm:
            storm = run_storm(Path(tmp) / "storm", args.storm_accounts, args.storm_rate)
            print_storm(storm)
            ok = ok and storm.held
            figures["storm"] = asdict(storm)
    if not args.skip_fuzz:
        passed, seconds, tail = run_fuzz()
        print(f"\n=== fuzzing (>= 1,000 examples per property) ===\n{tail} ({seconds}s)")
        ok = ok and passed
        figures["fuzz"] = {"passed": passed, "seconds": seconds, "summary": tail}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    print("\nALL INVARIANTS HELD" if ok else "\nSOME INVARIANTS DID NOT HOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
