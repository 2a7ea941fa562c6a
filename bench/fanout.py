"""Bench 1 (the sequential MVP against the fan-out through the runner), the completion-latency
readings of bench 3, the 10,000-task job of bench 4, and the scan jobs of the cost section.

The fan-out runs the real pipeline: the job handler (in this process, warm, as a direct Lambda
invoke), the inventory queue, the runner playing the event source mapping with warm execution
environments running the real worker handler (bench.lambdas), and the table. A poller reads the
job every 0.1 s, as the CLI's ``--watch`` does, and the clock stops when it sees the final
status.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from bench.common import Window, item_size, parse_time
from bench.lambdas import WARMUP_BODY
from qrie.aws import AccountSessions, Clients
from qrie.config import Settings
from qrie.domain import TaskStatus
from qrie.errors import PermanentTaskError
from qrie.inventory.engine import inventory_account
from qrie.inventory.registry import SERVICES, get_collector
from qrie.store import keys
from qrie.store.table import Store
from qrie_local.events import LambdaContext
from qrie_local.runner import Runner
from qrie_local.stack import LocalStack

WORKER = "InventoryWorkerFunction"
SCAN_WORKER = "ScanWorkerFunction"
BATCH = 10
POLL_SECONDS = 0.1
JOB_TIMEOUT_SECONDS = 900.0


def with_handler(stack: LocalStack, logical_id: str, handler: str) -> LocalStack:
    """A view of ``stack`` whose function ``logical_id`` runs ``handler`` (same environment)."""
    functions = dict(stack.provisioned.functions)
    functions[logical_id] = dataclasses.replace(functions[logical_id], handler=handler)
    return dataclasses.replace(
        stack, provisioned=dataclasses.replace(stack.provisioned, functions=functions)
    )


# ------------------------------------------------------------------------------ the MVP loop
def run_mvp(stack: LocalStack, accounts: list[str], job_id: str) -> dict[str, Any]:
    """The original design's MVP: the same collectors, called in a loop over the accounts in one
    process (the engine's inventory_account: stream, batch-write, sweep; EC2 regions threaded
    inside an account as in the worker)."""
    with stack.apply_env(WORKER):
        settings = Settings.from_env()
        clients = Clients()
        store = Store(settings.table_name, clients)
        sessions = AccountSessions(settings.member_role_name, settings.external_id, hub=clients)
        _ = store.db  # warm: the hub's clients exist before the clock starts, as in the workers
        clients.get("sts")
        resources = failed = 0
        with Window(stack) as window:
            for account in accounts:
                try:
                    session = sessions.for_account(account)
                except PermanentTaskError:
                    failed += len(SERVICES)
                    continue
                for service in SERVICES:
                    counts = inventory_account(
                        store,
                        session,
                        get_collector(service),
                        settings.regions,
                        job_id,
                        settings.region_threads,
                    )
                    resources += counts.resources
                    failed += int(bool(counts.failed_scopes))
            window.stop()
    result = window.as_dict()
    result.update(
        accounts=len(accounts),
        tasks=len(accounts) * len(SERVICES),
        resources=resources,
        failed_tasks=failed,
        accounts_per_second=round(len(accounts) / window.wall, 2),
    )
    return result


# ------------------------------------------------------------------------------ the runner
class FanOut:
    """A runner over a view of the stack whose inventory worker is bench.lambdas, with warm
    execution environments; runs jobs through the in-process job handler."""

    def __init__(
        self, stack: LocalStack, concurrency: int, state_dir: Path, record_threads: int = 10
    ) -> None:
        self.stack = stack
        self.concurrency = concurrency
        self.record_threads = record_threads
        self.mode_file = state_dir / "bench-mode"
        self.set_mode("real")
        view = with_handler(stack, WORKER, "bench.lambdas.inventory_worker")
        self.runner = Runner(
            view,
            schedule_interval=3600.0,  # completion is event-driven: no polling service needed
            max_concurrency=concurrency,
            env_overrides={
                "QRIE_BENCH_MODE_FILE": str(self.mode_file),
                "QRIE_BENCH_WARMUP_SECONDS": "1.0",
                "RECORD_THREADS": str(record_threads),  # records of a batch worked on at once
            },
            log_path=state_dir / "runner.log",
            functions=[WORKER],
        )
        self.warm_slots = 0
        self.warmup: dict[str, Any] = {}

    def set_mode(self, mode: str) -> None:
        self.mode_file.write_text(mode, encoding="utf-8")

    def __enter__(self) -> FanOut:
        self.runner.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.runner.stop()

    def _deleted(self) -> int:
        return int(self.runner.stats().get(WORKER, {}).get("records_deleted", 0))

    def warm(self, slots: int) -> dict[str, Any]:
        """Start ``slots`` execution environments (cold starts, measured) with warm-up batches."""
        slots = max(1, min(slots, self.concurrency))
        if slots <= self.warm_slots:
            return self.warmup
        with self.stack.apply_env(WORKER):
            sqs = Clients().get("sqs")
            url = Settings.from_env().inventory_queue_url
            before = self._deleted()
            started = time.perf_counter()
            for _ in range(slots):
                sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "MessageBody": WARMUP_BODY} for i in range(BATCH)],
                )
            deadline = time.monotonic() + 300
            while self._deleted() - before < slots * BATCH and time.monotonic() < deadline:
                time.sleep(0.1)
        stats = self.runner.stats().get(WORKER, {})
        self.warm_slots = int(stats.get("cold_starts", 0))
        self.warmup = {
            "execution_environments": self.warm_slots,
            "seconds": round(time.perf_counter() - started, 2),
        }
        return self.warmup

    def run_job(self, request: dict[str, Any], poll_seconds: float = POLL_SECONDS) -> JobRun:
        return run_job(self.stack, request, poll_seconds, runner=self.runner)


@dataclasses.dataclass
class JobRun:
    response: dict[str, Any]
    job: dict[str, Any]
    window: Window
    seen_at: float  # time.time() when the poller saw the final status
    polls: int
    runner_stats: dict[str, Any]

    @property
    def job_id(self) -> str:
        return str(self.response["job_id"])


def run_job(
    stack: LocalStack,
    request: dict[str, Any],
    poll_seconds: float = POLL_SECONDS,
    runner: Runner | None = None,
) -> JobRun:
    """Start a job through the job handler (in this process), poll it like the CLI until it is
    final; the window covers the request to the moment the poller sees the final status."""
    from qrie.handlers import job_handler
    from qrie.handlers.runtime import runtime

    with stack.apply_env("JobHandlerFunction"):
        warm = runtime()  # a warm job handler: settings, clients and store exist already
        _ = warm.store.db
        _ = warm.queue.sqs
        watcher = Store(warm.settings.table_name, Clients())
        _ = watcher.db
        context = LambdaContext("JobHandlerFunction", 120)
        with Window(stack) as window:
            response = job_handler.lambda_handler(request, context)
            if "job_id" not in response:
                raise RuntimeError(f"job refused: {response}")
            polls, job, seen_at = _watch(watcher, str(response["job_id"]), poll_seconds)
            window.stop()
        runner_stats = runner.stats() if runner is not None else {}
    return JobRun(response, job, window, seen_at, polls, runner_stats)


def _watch(store: Store, job_id: str, poll_seconds: float) -> tuple[int, dict[str, Any], float]:
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    polls = 0
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        polls += 1
        if job is not None and not job.running:
            return polls, job.to_dict(), time.time()
        time.sleep(poll_seconds)
    raise RuntimeError(f"job {job_id} did not finish within {JOB_TIMEOUT_SECONDS:.0f}s")


def run_scan(
    stack: LocalStack,
    accounts: list[str],
    concurrency: int,
    state_dir: Path,
    record_threads: int = 10,
) -> JobRun:
    """A scan of every policy over ``accounts`` through a runner of the real scan worker (its
    environments start cold: the cost section reads the job's measured usage, not its time)."""
    runner = Runner(
        stack,
        schedule_interval=3600.0,
        max_concurrency=concurrency,
        env_overrides={"RECORD_THREADS": str(record_threads)},
        log_path=state_dir / "scan-runner.log",
        functions=[SCAN_WORKER],
    )
    with runner:
        return run_job(
            stack, {"operation": "scan", "policy": "*", "accounts": accounts}, runner=runner
        )


def check_tasks(stack: LocalStack, job_id: str) -> dict[str, Any]:
    """Every task item of the job: counts by status, the last EndedAt, the tasks' counts summed
    (resources inventoried, pairs evaluated), item sizes, and the job's measured usage."""
    from qrie.store import items

    with stack.apply_env("JobHandlerFunction"):
        store = Store(Settings.from_env().table_name)
        statuses: dict[str, int] = {}
        counts: dict[str, int] = {}
        last_ended = ""
        task_bytes = 0
        raw_tasks = (
            raw
            for pk in store.task_partitions(job_id)
            for raw in store.db.query(pk, sk_prefix=keys.TASK_PREFIX)
        )
        for raw_task in raw_tasks:
            task = items.task_of(job_id, raw_task)
            status = task.status.value
            statuses[status] = statuses.get(status, 0) + 1
            last_ended = max(last_ended, task.ended_at or "")
            task_bytes += item_size(raw_task)
            for name, value in task.counts.items():
                counts[name] = counts.get(name, 0) + int(value)
        raw = store.db.get(keys.job_pk(job_id), keys.JOB_SK) or {}
    tasks = sum(statuses.values())
    return {
        "statuses": statuses,
        "tasks": tasks,
        "pending": statuses.get(TaskStatus.PENDING, 0),
        "last_ended_at": last_ended,
        "job_item_bytes": item_size(raw),
        "task_item_bytes": round(task_bytes / tasks) if tasks else 0,
        "counts": counts,
        "usage": items.job_of(raw).usage.to_dict() if raw else {},
    }


def completion(run: JobRun, tasks: dict[str, Any]) -> dict[str, Any]:
    """Bench 3 for one job: last task's terminal write -> final status -> seen by the poller."""
    finished = str(run.job.get("finished_at") or "")
    finished_at = parse_time(finished)
    last_ended = parse_time(tasks["last_ended_at"])
    return {
        "last_task_ended_at": tasks["last_ended_at"],
        "job_finished_at": finished,
        "final_status_after_last_task_ms": round(1000 * (finished_at - last_ended), 1),
        "seen_by_poller_after_ms": round(1000 * (run.seen_at - finished_at), 1),
        "poll_interval_ms": round(1000 * POLL_SECONDS),
    }


def fanout_result(run: JobRun, accounts: int, mvp_seconds: float | None) -> dict[str, Any]:
    wall = run.window.wall
    result = run.window.as_dict()
    # the watcher's own GetItem calls are not the job's requests
    result["server_requests"] = max(0, result["server_requests"] - run.polls)
    result["server_requests_per_second"] = round(result["server_requests"] / wall, 1)
    result["watcher_polls"] = run.polls
    ops = result["by_operation"]
    ops["dynamodb.GetItem"] = ops.get("dynamodb.GetItem", 0) - run.polls
    total_cpu = sum(result["cpu_seconds"].values())
    result["cpu_ms_per_request"] = round(1000 * total_cpu / max(1, result["server_requests"]), 2)
    speedup = mvp_seconds / wall if mvp_seconds else None
    # the speedup if this run's CPU were spread perfectly over the machine's cores
    ceiling = mvp_seconds / result["cpu_bound_seconds"] if mvp_seconds else None
    result.update(
        job_id=run.job_id,
        status=run.job.get("status"),
        accounts=accounts,
        tasks=int(run.job.get("total", 0)),
        succeeded=int(run.job.get("succeeded", 0)),
        failed=int(run.job.get("failed", 0)),
        accounts_per_second=round(accounts / wall, 2),
        speedup_vs_mvp=round(speedup, 2) if speedup else None,
        cpu_bound_speedup=round(ceiling, 2) if ceiling else None,
        share_of_cpu_ceiling=round(speedup / ceiling, 3) if speedup and ceiling else None,
        runner=run.runner_stats.get(WORKER, {}),
    )
    return result


def slots_for(tasks: int, concurrency: int) -> int:
    return min(concurrency, math.ceil(tasks / BATCH))


__all__ = [
    "FanOut",
    "JobRun",
    "check_tasks",
    "completion",
    "fanout_result",
    "run_job",
    "run_mvp",
    "run_scan",
    "slots_for",
]
