"""Job orchestration: validate a request, write the job and its tasks, enqueue, answer queries.

Starting a job is metered (``qrie.metering``): the requests it made (the accounts' query, the
task items' writes, the enqueue) and the handler's time are added to the new job's usage, with
one UpdateItem after the enqueue (one request per job, not per task)."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from qrie.config import Settings
from qrie.domain import (
    SERVICES,
    Job,
    JobStatus,
    SkippedAccount,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    Usage,
    timestamp,
)
from qrie.domain.jobs import dependents_of
from qrie.errors import ValidationError
from qrie.metering import memory_mb, metered
from qrie.models import (
    CancelRequest,
    InventoryRequest,
    ListRequest,
    RetryRequest,
    ScanRequest,
    StatusRequest,
    TaskMessage,
    parse_request,
)
from qrie.policies.registry import select, services_of
from qrie.queue import Outgoing, TaskQueue
from qrie.store.table import Store

MAX_FAILED_SHOWN = 1000
MAX_SKIPPED_KEPT = 200
MAX_NAMED = 10  # ids named in a refusal


def new_job_id(operation: TaskKind, scope: str, now: datetime) -> str:
    prefix = "inv" if operation is TaskKind.INVENTORY else "scan"
    scope = "all" if scope in {"*", ""} else scope
    return f"{prefix}-{scope}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def message_id(key: TaskKey) -> str:
    """A task's id within one enqueue call (unique per job)."""
    return f"{key.account_id}#{key.kind.value}#{key.service}"


class JobService:
    def __init__(self, settings: Settings, store: Store, queue: TaskQueue) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue

    # ------------------------------------------------------------------ entry point
    def handle(self, event: Any) -> dict[str, Any]:
        try:
            request = parse_request(event)
            if isinstance(request, InventoryRequest | ScanRequest | RetryRequest):
                return self._start_metered(request)
            if isinstance(request, StatusRequest):
                return self.status(request.job_id)
            if isinstance(request, ListRequest):
                return {"jobs": [j.to_dict() for j in self.store.list_jobs(request.limit)]}
            if isinstance(request, CancelRequest):
                return self.cancel(request.job_id)
        except ValidationError as exc:
            return exc.to_response()
        raise AssertionError(f"unhandled request {type(event).__name__}")  # pragma: no cover

    # ------------------------------------------------------------------ starting jobs
    def _start_metered(
        self, request: InventoryRequest | ScanRequest | RetryRequest
    ) -> dict[str, Any]:
        """Start the job, measuring what starting it consumed, and add that to its usage."""
        with metered() as meter:
            if isinstance(request, InventoryRequest):
                response = self.start_inventory(request)
            elif isinstance(request, ScanRequest):
                response = self.start_scan(request)
            else:
                response = self.retry(request.job_id)
        ms = meter.wall_ms
        usage = meter.usage() + Usage(ms=ms, mb_ms=ms * memory_mb(), invocations=1)
        self.store.add_job_usage(str(response["job_id"]), usage)
        return response

    def resolve_accounts(
        self, accounts: list[str] | str, allow_unregistered: bool = False
    ) -> tuple[list[str], list[SkippedAccount]]:
        """The accounts to run, and the ones skipped with a reason (suspended, closed). Ids that
        are not registered are refused, naming them (a typo would otherwise run a job that
        fails on AssumeRole, or scan an account qrie knows nothing of), unless
        ``allow_unregistered``."""
        registered = {a.account_id: a for a in self.store.list_accounts()}
        if accounts == "*":
            run = sorted(a for a, acct in registered.items() if acct.active)
            skipped = [
                SkippedAccount(a, f"account is {acct.status.value}")
                for a, acct in sorted(registered.items())
                if not acct.active
            ]
            if not run:
                raise ValidationError(
                    'accounts: "*" matched no ACTIVE registered account; register accounts first',
                    field="accounts",
                )
            return run, skipped
        unknown = [a for a in accounts if a not in registered]
        if unknown and not allow_unregistered:
            shown = ", ".join(unknown[:MAX_NAMED])
            more = f" and {len(unknown) - MAX_NAMED} more" if len(unknown) > MAX_NAMED else ""
            raise ValidationError(
                f"accounts: not registered: {shown}{more} (register them with `qrie accounts add`"
                " or `accounts sync`, or pass allow_unregistered)",
                field="accounts",
            )
        run, skipped = [], []
        for account_id in accounts:
            acct = registered.get(account_id)
            if acct is None or acct.active:
                run.append(account_id)
            else:
                skipped.append(SkippedAccount(account_id, f"account is {acct.status.value}"))
        return run, skipped

    def start_inventory(self, request: InventoryRequest) -> dict[str, Any]:
        accounts, skipped = self.resolve_accounts(request.accounts, request.allow_unregistered)
        units = [TaskKey(a, TaskKind.INVENTORY, s) for a in accounts for s in request.services()]
        return self._start(
            TaskKind.INVENTORY, request.service, units, skipped, service=request.service
        )

    def start_scan(self, request: ScanRequest) -> dict[str, Any]:
        policies = select(request.policy)
        if not policies:
            hint = ", ".join([*(f"{s}.*" for s in SERVICES), "*"])
            raise ValidationError(
                f"policy: unknown policy {request.policy!r}; valid: a policy id, {hint}",
                field="policy",
            )
        accounts, skipped = self.resolve_accounts(request.accounts, request.allow_unregistered)
        services = services_of(policies)
        units = [TaskKey(a, TaskKind.SCAN, s) for a in accounts for s in services]
        if request.refresh:
            units = [TaskKey(a, TaskKind.INVENTORY, s) for a in accounts for s in services] + units
        scope = services[0] if len(services) == 1 else "all"
        return self._start(
            TaskKind.SCAN, scope, units, skipped, policy=request.policy, refresh=request.refresh
        )

    def _start(
        self,
        operation: TaskKind,
        scope: str,
        units: list[TaskKey],
        skipped: list[SkippedAccount],
        service: str | None = None,
        policy: str | None = None,
        refresh: bool = False,
        retry_of: str | None = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        created = timestamp(now)
        job_id = new_job_id(operation, scope, now)
        accounts = sorted({u.account_id for u in units})
        job = Job(
            job_id=job_id,
            operation=operation,
            status=JobStatus.IN_PROGRESS if units else JobStatus.COMPLETED,
            total=len(units),
            remaining=len(units),
            created_at=created,
            finished_at=None if units else created,
            deadline=int(time.time()) + self.settings.job_timeout_seconds,
            expires_at=int(time.time()) + self.settings.job_ttl_days * 86400,
            service=service,
            policy=policy,
            refresh=refresh,
            total_accounts=len(accounts),
            skipped_accounts=tuple(skipped[:MAX_SKIPPED_KEPT]),
            skipped_count=len(skipped),
            retry_of=retry_of,
        )
        self.store.create_job(job, units)

        # Enqueue: scan tasks of a refresh job are enqueued by their inventory task.
        by_queue: dict[TaskKind, list[Outgoing]] = {TaskKind.INVENTORY: [], TaskKind.SCAN: []}
        keys_by_id: dict[str, TaskKey] = {}
        for u in units:
            if refresh and u.kind is TaskKind.SCAN:
                continue
            message = TaskMessage(
                job_id=job_id,
                kind=u.kind.value,
                account_id=u.account_id,
                service=u.service,
                policy=policy if u.kind is TaskKind.SCAN else None,
                scan_policy=policy if refresh and u.kind is TaskKind.INVENTORY else None,
            )
            keys_by_id[message_id(u)] = u
            by_queue[u.kind].append(
                Outgoing(message_id(u), message.model_dump_json(exclude_none=True))
            )
        unsent: dict[str, str] = {}
        for kind, messages in by_queue.items():
            if messages:
                unsent.update(
                    self.queue.send(
                        self.settings.queue_url(kind), messages, self.settings.enqueue_threads
                    )
                )
        if unsent:
            outcomes = [
                TaskOutcome.failed(keys_by_id[mid], f"enqueue-failed: {code}")
                for mid, code in unsent.items()
            ]
            if refresh:
                outcomes += dependents_of([o.key for o in outcomes], "enqueue-failed")
            self.store.complete_tasks(job_id, outcomes)
        return {
            "job_id": job_id,
            "status": job.status.value,
            "total_tasks": len(units),
            "total_accounts": len(accounts),
            "skipped_accounts": len(skipped),
            "enqueue_failures": len(unsent),
        }

    # ------------------------------------------------------------------ queries and control
    def _job_or_error(self, job_id: str) -> Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise ValidationError(f"job_id: unknown job {job_id!r}", field="job_id")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_error(job_id)
        counts: Counter[str] = Counter()
        failed: list[dict[str, Any]] = []
        for task in self.store.iter_tasks(job_id):
            counts[task.status.value] += 1
            if task.status is TaskStatus.FAILED and len(failed) < MAX_FAILED_SHOWN:
                failed.append(task.to_dict())
        return {"job": job.to_dict(), "task_counts": dict(counts), "failed_tasks": failed}

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_error(job_id)
        if not job.running:
            raise ValidationError(
                f"job_id: job {job_id} is {job.status.value}, only running jobs can be cancelled",
                field="job_id",
            )
        self.store.mark_cancelled(job_id)
        pending = [t.key for t in self.store.iter_tasks(job_id, status=TaskStatus.PENDING)]
        self.store.complete_tasks(job_id, [TaskOutcome.failed(k, "cancelled") for k in pending])
        # The polling service also fails the pending tasks of a cancelled job: whichever of the
        # two got a task there first counted it (exactly once); the answer counts them all.
        cancelled = sum(
            1
            for t in self.store.iter_tasks(job_id, status=TaskStatus.FAILED)
            if t.reason == "cancelled"
        )
        refreshed = self._job_or_error(job_id)
        return {
            "job_id": job_id,
            "status": refreshed.status.value,
            "cancelled_tasks": cancelled,
            "total_tasks": refreshed.total,
            "total_accounts": refreshed.total_accounts,
        }

    def retry(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_error(job_id)
        if job.running:
            raise ValidationError(
                f"job_id: job {job_id} is still running; retry it when it has finished",
                field="job_id",
            )
        failed_units = [t.key for t in self.store.iter_tasks(job_id, status=TaskStatus.FAILED)]
        if not failed_units:
            raise ValidationError(f"job_id: job {job_id} has no failed tasks", field="job_id")
        if job.refresh:
            # a refresh scan retries both stages of every (account, service) that failed
            pairs = sorted({(u.account_id, u.service) for u in failed_units})
            units = [TaskKey(a, TaskKind.INVENTORY, s) for a, s in pairs] + [
                TaskKey(a, TaskKind.SCAN, s) for a, s in pairs
            ]
        else:
            units = failed_units
        services = sorted({u.service for u in units})
        scope = services[0] if len(services) == 1 else "all"
        if job.operation is TaskKind.SCAN:
            return self._start(
                TaskKind.SCAN,
                scope,
                units,
                [],
                policy=job.policy,
                refresh=job.refresh,
                retry_of=job_id,
            )
        return self._start(
            TaskKind.INVENTORY, scope, units, [], service=job.service or "*", retry_of=job_id
        )
