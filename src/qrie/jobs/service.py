"""Job orchestration: validate a request, write the job and its tasks, enqueue, answer queries."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qrie.config import Settings
from qrie.errors import ValidationError
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
from qrie.store import keys
from qrie.store.table import COMPLETED, FAILED, IN_PROGRESS, Store, TaskOutcome

INVENTORY = "inventory"
SCAN = "scan"
MAX_FAILED_SHOWN = 1000
MAX_SKIPPED_KEPT = 200


@dataclass(frozen=True)
class Unit:
    """One queued task: (account, kind, service) of a job."""

    account_id: str
    kind: str
    service: str

    @property
    def sk(self) -> str:
        return keys.task_sk(self.account_id, self.kind, self.service)


def new_job_id(operation: str, scope: str, now: datetime) -> str:
    prefix = "inv" if operation == INVENTORY else "scan"
    scope = "all" if scope in {"*", ""} else scope
    return f"{prefix}-{scope}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def public_job(item: dict[str, Any]) -> dict[str, Any]:
    """A job item without its storage keys, with derived progress."""
    job = {k: v for k, v in item.items() if k not in {"PK", "SK", "GSI1PK", "GSI1SK"}}
    total = int(job.get("Total", 0))
    done = int(job.get("Succeeded", 0)) + int(job.get("Failed", 0))
    job["Done"] = done
    job["Progress"] = round(done / total, 4) if total else 1.0
    return job


def public_task(item: dict[str, Any]) -> dict[str, Any]:
    account_id, kind, service = keys.parse_task_sk(item["SK"])
    task = {k: v for k, v in item.items() if k not in {"PK", "SK", "ExpiresAt"}}
    task.update(AccountId=account_id, Kind=kind, Service=service)
    return task


class JobService:
    def __init__(self, settings: Settings, store: Store, queue: TaskQueue) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue

    # ------------------------------------------------------------------ entry point
    def handle(self, event: Any) -> dict[str, Any]:
        try:
            request = parse_request(event)
            if isinstance(request, InventoryRequest):
                return self.start_inventory(request)
            if isinstance(request, ScanRequest):
                return self.start_scan(request)
            if isinstance(request, StatusRequest):
                return self.status(request.job_id)
            if isinstance(request, ListRequest):
                return {"jobs": [public_job(j) for j in self.store.list_jobs(request.limit)]}
            if isinstance(request, CancelRequest):
                return self.cancel(request.job_id)
            if isinstance(request, RetryRequest):
                return self.retry(request.job_id)
        except ValidationError as exc:
            return exc.to_response()
        raise AssertionError(f"unhandled request {event!r}")  # pragma: no cover

    # ------------------------------------------------------------------ starting jobs
    def resolve_accounts(self, accounts: list[str] | str) -> tuple[list[str], list[dict[str, str]]]:
        """The accounts to run, and the ones skipped with a reason (suspended, closed)."""
        registered = {a["AccountId"]: a for a in self.store.list_accounts()}
        if accounts == "*":
            run = sorted(a for a, item in registered.items() if item.get("Status") == "ACTIVE")
            skipped = [
                {"AccountId": a, "Reason": f"account is {item.get('Status', 'unknown')}"}
                for a, item in sorted(registered.items())
                if item.get("Status") != "ACTIVE"
            ]
            if not run:
                raise ValidationError(
                    'accounts: "*" matched no ACTIVE registered account; register accounts first',
                    field="accounts",
                )
            return run, skipped
        run, skipped = [], []
        for account_id in accounts:
            status = registered.get(account_id, {}).get("Status", "ACTIVE")
            if status == "ACTIVE":
                run.append(account_id)
            else:
                skipped.append({"AccountId": account_id, "Reason": f"account is {status}"})
        return run, skipped

    def start_inventory(self, request: InventoryRequest) -> dict[str, Any]:
        accounts, skipped = self.resolve_accounts(request.accounts)
        units = [Unit(a, INVENTORY, s) for a in accounts for s in request.services()]
        return self._start(
            INVENTORY, request.service, {"Service": request.service}, units, skipped, None
        )

    def start_scan(self, request: ScanRequest) -> dict[str, Any]:
        accounts, skipped = self.resolve_accounts(request.accounts)
        services = services_of(select(request.policy))
        units = [Unit(a, SCAN, s) for a in accounts for s in services]
        if request.refresh:
            units = [Unit(a, INVENTORY, s) for a in accounts for s in services] + units
        scope = services[0] if len(services) == 1 else "all"
        extra = {"Policy": request.policy, "Refresh": request.refresh}
        return self._start(SCAN, scope, extra, units, skipped, request.policy)

    def _start(
        self,
        operation: str,
        scope: str,
        extra: dict[str, Any],
        units: list[Unit],
        skipped: list[dict[str, str]],
        policy: str | None,
        retry_of: str | None = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        job_id = new_job_id(operation, scope, now)
        created = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expires = int(time.time()) + self.settings.job_ttl_days * 86400
        refresh = bool(extra.get("Refresh"))
        accounts = sorted({u.account_id for u in units})
        job = {
            "JobId": job_id,
            "Operation": operation,
            **extra,
            "Status": IN_PROGRESS if units else COMPLETED,
            "Total": len(units),
            "Succeeded": 0,
            "Failed": 0,
            "Remaining": len(units),
            "Cancelled": False,
            "TotalAccounts": len(accounts),
            "SkippedAccounts": skipped[:MAX_SKIPPED_KEPT],
            "SkippedCount": len(skipped),
            "CreatedAt": created,
            "Deadline": int(time.time()) + self.settings.job_timeout_seconds,
            "ExpiresAt": expires,
            "RetryOf": retry_of,
        }
        if not units:
            job["FinishedAt"] = created
        tasks = [
            {"SK": u.sk, "Kind": u.kind, "Service": u.service, "Account": u.account_id}
            for u in units
        ]
        self.store.create_job(job, tasks)

        # Enqueue: scan tasks of a refresh job are enqueued by their inventory task.
        by_queue: dict[str, list[Outgoing]] = {INVENTORY: [], SCAN: []}
        for u in units:
            if refresh and u.kind == SCAN:
                continue
            message = TaskMessage(
                job_id=job_id,
                kind=u.kind,
                account_id=u.account_id,
                service=u.service,
                policy=policy if u.kind == SCAN else None,
                scan_policy=policy if refresh and u.kind == INVENTORY else None,
            )
            by_queue[u.kind].append(Outgoing(u.sk, message.model_dump_json(exclude_none=True)))
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
                TaskOutcome(sk, FAILED, f"enqueue-failed: {code}") for sk, code in unsent.items()
            ]
            if refresh:
                outcomes += dependents_of([o.sk for o in outcomes], "enqueue-failed")
            self.store.complete_tasks(job_id, outcomes)
        return {
            "job_id": job_id,
            "status": job["Status"],
            "total_tasks": len(units),
            "total_accounts": len(accounts),
            "skipped_accounts": len(skipped),
            "enqueue_failures": len(unsent),
        }

    # ------------------------------------------------------------------ queries and control
    def _job_or_error(self, job_id: str) -> dict[str, Any]:
        job = self.store.get_job(job_id)
        if job is None:
            raise ValidationError(f"job_id: unknown job {job_id!r}", field="job_id")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        job = public_job(self._job_or_error(job_id))
        counts: Counter[str] = Counter()
        failed: list[dict[str, Any]] = []
        for task in self.store.iter_tasks(job_id):
            counts[task.get("Status", "?")] += 1
            if task.get("Status") == FAILED and len(failed) < MAX_FAILED_SHOWN:
                failed.append(public_task(task))
        return {"job": job, "task_counts": dict(counts), "failed_tasks": failed}

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        self._job_or_error(job_id)
        return [public_task(t) for t in self.store.iter_tasks(job_id)]

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_error(job_id)
        if job.get("Status") != IN_PROGRESS:
            raise ValidationError(
                f"job_id: job {job_id} is {job.get('Status')}, only running jobs can be cancelled",
                field="job_id",
            )
        self.store.mark_cancelled(job_id)
        pending = [t["SK"] for t in self.store.iter_tasks(job_id, status="PENDING")]
        self.store.complete_tasks(job_id, [TaskOutcome(sk, FAILED, "cancelled") for sk in pending])
        # The polling service also fails the pending tasks of a cancelled job: whichever of the
        # two got a task there first counted it (exactly once); the answer counts them all.
        cancelled = sum(
            1
            for t in self.store.iter_tasks(job_id, status=FAILED)
            if t.get("Reason") == "cancelled"
        )
        refreshed = public_job(self._job_or_error(job_id))
        return {
            "job_id": job_id,
            "status": refreshed["Status"],
            "cancelled_tasks": cancelled,
            "total_tasks": refreshed["Total"],
            "total_accounts": refreshed.get("TotalAccounts", 0),
        }

    def retry(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_error(job_id)
        if job.get("Status") == IN_PROGRESS:
            raise ValidationError(
                f"job_id: job {job_id} is still running; retry it when it has finished",
                field="job_id",
            )
        failed_units = []
        for task in self.store.iter_tasks(job_id, status=FAILED):
            account_id, kind, service = keys.parse_task_sk(task["SK"])
            failed_units.append(Unit(account_id, kind, service))
        if not failed_units:
            raise ValidationError(f"job_id: job {job_id} has no failed tasks", field="job_id")
        operation = str(job.get("Operation", INVENTORY))
        policy = job.get("Policy")
        refresh = bool(job.get("Refresh"))
        if refresh:
            # a refresh scan retries both stages of every (account, service) that failed
            pairs = sorted({(u.account_id, u.service) for u in failed_units})
            units = [Unit(a, INVENTORY, s) for a, s in pairs] + [Unit(a, SCAN, s) for a, s in pairs]
        else:
            units = failed_units
        services = sorted({u.service for u in units})
        scope = services[0] if len(services) == 1 else "all"
        extra: dict[str, Any] = (
            {"Policy": policy, "Refresh": refresh}
            if operation == SCAN
            else {"Service": job.get("Service", "*")}
        )
        return self._start(
            operation, scope, extra, units, [], policy if operation == SCAN else None, job_id
        )


def dependents_of(inventory_sks: list[str], reason: str) -> list[TaskOutcome]:
    """The scan tasks of a refresh job that cannot run because their inventory task failed."""
    outcomes = []
    for sk in inventory_sks:
        account_id, kind, service = keys.parse_task_sk(sk)
        if kind == INVENTORY:
            outcomes.append(
                TaskOutcome(
                    keys.task_sk(account_id, SCAN, service), FAILED, f"inventory-failed: {reason}"
                )
            )
    return outcomes
