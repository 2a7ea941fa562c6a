"""The chaos run: qrie's pipeline on the local stack under the faults SQS, Lambda and AWS APIs
really produce, then its invariants (:mod:`qrie_local.invariants`), checked. ``make chaos``
(``python -m bench.chaos``) runs it at size; ``tests/integration/test_chaos.py`` small and
seeded.

N member accounts (tiny: a bucket and a user each, plus what every account has), an inventory
job of every service, a scan job of every policy, and an inventory job cancelled in its middle,
with faults injected by :mod:`qrie_local.faults`: transient bursts (throttling, 5xx) and
permanent denials (AccessDenied) in member-account calls, duplicate deliveries, crashes of the
execution environment mid-batch, and poison messages that crash every receive until SQS
dead-letters them.

The building blocks (:func:`fault_stack`, :func:`tiny_seed`, :func:`start_job`,
:func:`wait_final`, :func:`wait_quiet`) serve other runs under faults too (the throttling storm of
``make chaos``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from qrie.aws import client_config
from qrie.config import Settings
from qrie.domain import Account, Job, JobStatus, Task, TaskStatus
from qrie.jobs.service import JobService
from qrie.queue import TaskQueue
from qrie.store.table import Store
from qrie_local import faults
from qrie_local.identity import ACCOUNT_ID
from qrie_local.invariants import (
    Check,
    JobFigures,
    check_findings,
    check_inventory,
    check_isolation,
    check_job,
)
from qrie_local.members import trust_policy
from qrie_local.moto_patches import BOOTSTRAP_ROLE
from qrie_local.runner import Runner
from qrie_local.seed import account_ids, ec2_resources
from qrie_local.stack import LOCAL_PARAMETERS, LocalStack

__all__ = [
    "MEMBER_ROLE",
    "SERVICES",
    "ChaosReport",
    "ChaosSettings",
    "count_resources",
    "fault_stack",
    "run_chaos",
    "start_job",
    "tiny_seed",
    "wait_final",
    "wait_quiet",
]

SERVICES = ("s3", "ec2", "iam")
MEMBER_ROLE = "QrieReadOnly"
BATCH_SIZE = 10  # the workers' SQS batch (template.yaml's WorkerBatchSize default)
TEMPLATE_CONCURRENCY = 20  # template.yaml's MaxConcurrency default
REGIONS = LOCAL_PARAMETERS["Regions"]  # the EC2 inventory's regions
SEED_THREADS = 8
JOB_TIMEOUT_SECONDS = 900.0
QUIET_TIMEOUT_SECONDS = 300.0
# boto3's default session is not safe to build clients from in several threads at once.
_CLIENTS = threading.Lock()


# ============================================================================ settings
@dataclass(frozen=True)
class ChaosSettings:
    """The size of a chaos run and the rates of its faults (``make chaos``'s defaults)."""

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
class ChaosReport:
    """What a chaos run injected and measured, and every invariant's check."""

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
def fault_stack(state_dir: Path, template: Path, regions: str = REGIONS) -> Iterator[LocalStack]:
    """A local stack whose AWS carries the fault hook (disabled until configured)."""
    stack = LocalStack.up(
        state_dir=state_dir,
        template=template,
        parameters={"Regions": regions},
        hooks=[faults.HOOK_SPEC],
    )
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

    ec2_total = sum(ec2_resources(client) for client in ec2.values())
    iam_total = (
        pages(iam, "list_users", "Users")
        + pages(iam, "list_policies", "Policies", Scope="Local")
        + pages(iam, "list_policies", "Policies", Scope="AWS", OnlyAttached=True)
        + pages(iam, "list_roles", "Roles")
        + pages(iam, "list_server_certificates", "ServerCertificateMetadataList")
        + 2  # the account summary and the password policy
        + len(ec2)  # IAM Access Analyzer's listing, one per region
    )
    buckets = len(s3.list_buckets().get("Buckets", []))
    # + the account's own S3 settings (one s3.account resource)
    return {"s3": buckets + 1, "ec2": ec2_total, "iam": iam_total}


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


# ============================================================================ the chaos run
def run_chaos(
    settings: ChaosSettings,
    state_dir: Path,
    template: Path = Path("template.yaml"),
    log: Any = print,
) -> ChaosReport:
    """The chaos run on a fresh local stack of ``template`` (state and logs in ``state_dir``):
    its figures and every invariant's check."""
    report = ChaosReport(settings=asdict(settings))
    started = time.monotonic()
    server_config = settings.server_faults()
    runner_config = settings.runner_faults()
    with fault_stack(state_dir, template, settings.regions) as stack, stack.apply_env():
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
            hooks=[injector],
        )
        polling = settings.schedule_interval
        all_tasks: list[Task] = []

        def checked(label: str, job_id: str, started_at: float) -> list[Task]:
            """The job's accounting checks and figures into the report; its task items."""
            figures, checks, tasks = check_job(
                store, label, job_id, time.monotonic() - started_at, polling
            )
            report.jobs.append(figures)
            report.checks += checks
            all_tasks.extend(tasks)
            return tasks

        with runner:
            # 1) inventory of every service
            t0 = time.monotonic()
            inventory_id = start_job(
                runner, {"operation": "inventory", "service": "*"}, settings.via_handler
            )
            log(f"inventory job {inventory_id}")
            wait_final(store, inventory_id, progress=True)
            inventory_tasks = checked("inventory", inventory_id, t0)
            # 2) a scan of every policy and, meanwhile, an inventory job cancelled in its middle
            scan_tasks: list[Task] = []
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
                # A job that fits in one round of batches is accounted a batch at a time, its
                # records worked on at once: by the time one is counted, all may be. It is
                # cancelled at once, its tasks queued or in flight. A larger one, once a fifth
                # of it is done.
                environments = settings.concurrency or TEMPLATE_CONCURRENCY
                one_round = total <= BATCH_SIZE * environments
                done = 0
                while not one_round:
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
                scan_tasks = checked("scan", scan_id, t_scan)
            if settings.cancel:
                job = wait_final(store, cancel_id)
                cancel_tasks = checked("cancel", cancel_id, t_cancel)
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
            inventoried = {
                (t.account_id, t.service)
                for t in inventory_tasks
                if t.status is TaskStatus.SUCCEEDED
            }
            checks, collateral = check_isolation(
                scan_tasks, server_config, report.injected_runner, "scan", inventoried
            )
            report.checks += checks
            report.collateral_dead_letters += collateral
        report.tasks = len(all_tasks)
    report.seconds = round(time.monotonic() - started, 1)
    return report
