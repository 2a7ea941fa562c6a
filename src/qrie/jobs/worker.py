"""Running one task: the record handler's domain logic, free of Lambda types.

Outcomes, in one place:
- malformed message, or a job that does not exist → recorded as a bad message, deleted (it must
  not poison the queue), nothing counted;
- a well-formed task message on the other kind's queue → recorded as a bad message, and the task
  it names (if the job has it, pending) FAILED with the reason: a misrouted message cannot run
  here and will never reach its own queue;
- a scan of an (account, service) without a successful inventory → FAILED ``not-inventoried``:
  an account is never scanned clean without evidence;
- job cancelled or finished, or task already terminal (a redelivery) → skipped, deleted;
- ``PermanentTaskError`` (AccessDenied, missing role, …) → task FAILED with the reason, deleted;
- ``TransientTaskError`` (throttling, 5xx, timeouts) or an unexpected exception → the message's
  visibility is extended with exponential backoff and jitter and it is reported as a batch item
  failure, so SQS redelivers it later; on the last allowed receive the task is recorded FAILED
  (``retries-exhausted: …``) instead of being silently dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qrie.aws import AccountSessions
from qrie.config import Settings
from qrie.domain import (
    Coverage,
    Job,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    now_iso,
    timestamp,
)
from qrie.domain.jobs import dependents_of
from qrie.errors import PermanentTaskError, TransientTaskError, ValidationError
from qrie.inventory.base import Collector
from qrie.inventory.engine import inventory_account
from qrie.inventory.registry import get_collector
from qrie.models import TaskMessage, parse_task
from qrie.observability import count, logger
from qrie.policies.registry import select
from qrie.queue import TaskQueue, backoff_seconds
from qrie.scan.engine import resolve_deleted, scan_account
from qrie.store.table import Store


class RetryLater(Exception):
    """Report this record as a batch item failure: SQS redelivers it after the backoff."""


@dataclass(frozen=True)
class Delivery:
    message_id: str
    body: str
    receive_count: int
    receipt_handle: str
    queue_url: str


class JobCache:
    """Jobs read at most once per ``ttl`` seconds per execution environment."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._jobs: dict[str, tuple[float, Job | None]] = {}

    def get(self, job_id: str) -> Job | None:
        now = time.monotonic()
        hit = self._jobs.get(job_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        job = self.store.get_job(job_id)
        self._jobs[job_id] = (now, job)
        if len(self._jobs) > 1000:
            self._jobs = {k: v for k, v in self._jobs.items() if now - v[0] < self.ttl}
        return job


class TaskWorker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        queue: TaskQueue,
        sessions: AccountSessions,
        kind: TaskKind,
        collectors: Callable[[str], Collector] = get_collector,
    ) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.sessions = sessions
        self.kind = TaskKind(kind)
        self.collectors = collectors
        self.jobs = JobCache(store, settings.job_cache_seconds)

    def process(self, delivery: Delivery) -> str:
        """Work on one delivered message. Returns what happened; raises RetryLater to have
        the message redelivered."""
        try:
            message = parse_task(delivery.body)
        except ValidationError as exc:
            return self._bad_message(delivery, f"malformed task message: {exc.message}")
        if message.kind != self.kind:
            return self._misrouted(delivery, message)
        logger.append_keys(
            job_id=message.job_id, account_id=message.account_id, service=message.service
        )
        try:
            return self._process(delivery, message)
        finally:
            logger.remove_keys(["job_id", "account_id", "service"])

    def _process(self, delivery: Delivery, message: TaskMessage) -> str:
        job = self.jobs.get(message.job_id)
        if job is None:
            return self._bad_message(delivery, f"unknown job {message.job_id}")
        if job.cancelled or not job.running:
            logger.info("skipping task: job is %s", job.status)
            count("TasksSkipped")
            return "skipped"
        key = message.key
        if delivery.receive_count > 1:
            task = self.store.get_task(message.job_id, key)
            if task is not None and task.status is not TaskStatus.PENDING:
                logger.info("skipping redelivered task already %s", task.status)
                count("TasksSkipped")
                return "skipped"
        attempts = delivery.receive_count
        try:
            outcomes = self._work(message, key, attempts)
        except PermanentTaskError as exc:
            outcomes = self._failed(message, key, exc.reason, attempts)
        except (TransientTaskError, Exception) as exc:
            reason = exc.reason if isinstance(exc, TransientTaskError) else _describe(exc)
            if delivery.receive_count < self.settings.max_receive_count:
                delay = backoff_seconds(
                    delivery.receive_count,
                    self.settings.retry_base_seconds,
                    self.settings.max_retry_seconds,
                )
                logger.warning("transient failure, retrying in %ss: %s", delay, reason)
                self.queue.delay(delivery.queue_url, delivery.receipt_handle, delay)
                count("TasksRetried")
                raise RetryLater(reason) from exc
            outcomes = self._failed(message, key, f"retries-exhausted: {reason}", attempts)
        return self._complete(delivery, message, outcomes)

    def _work(self, message: TaskMessage, key: TaskKey, attempts: int) -> list[TaskOutcome]:
        if key.kind is TaskKind.INVENTORY:
            return self._inventory(message, key, attempts)
        return self._scan(message, key, attempts)

    def _scan(self, message: TaskMessage, key: TaskKey, attempts: int) -> list[TaskOutcome]:
        inventoried = self.store.get_coverage(message.account_id, TaskKind.INVENTORY, key.service)
        if inventoried is None or not inventoried.succeeded:
            raise PermanentTaskError(
                f"not-inventoried: no successful {key.service} inventory of this account; "
                "run an inventory (or scan with refresh) first"
            )
        policies = [p for p in select(message.policy or "*") if p.service == message.service]
        now = datetime.now(UTC)
        result = scan_account(
            self.store, message.account_id, message.service, policies, message.job_id, now
        )
        count("FindingsOpened", result.opened)
        count("FindingsResolved", result.resolved)
        self._covered(key, message.job_id, now, result.as_counts())
        return [TaskOutcome(key, TaskStatus.SUCCEEDED, "", attempts, result.as_counts())]

    def _covered(self, key: TaskKey, job_id: str, when: datetime, counts: dict[str, int]) -> None:
        self.store.record_coverage(
            Coverage(key.account_id, key.kind, key.service, job_id, timestamp(when), counts)
        )

    def _uncovered(self, key: TaskKey, job_id: str, reason: str) -> None:
        """Why this (account, service) could not be looked at (kept beside its last success)."""
        try:
            self.store.record_coverage(
                Coverage(
                    key.account_id,
                    key.kind,
                    key.service,
                    failed_job_id=job_id,
                    failed_at=now_iso(),
                    failure=reason[:500],
                )
            )
        except Exception:  # the task's own outcome matters more than this note
            logger.exception("could not record the failure of %s", key)

    def _inventory(self, message: TaskMessage, key: TaskKey, attempts: int) -> list[TaskOutcome]:
        session = self.sessions.for_account(message.account_id)
        counts = inventory_account(
            self.store,
            session,
            self.collectors(message.service),
            self.settings.regions,
            message.job_id,
            self.settings.region_threads,
        )
        if counts.transient:
            raise TransientTaskError(counts.reason())
        if counts.deleted_arns:  # their open findings: resolved as resource-deleted
            resolve_deleted(
                self.store,
                message.account_id,
                counts.deleted_arns,
                datetime.now(UTC),
                message.job_id,
            )
        count("ResourcesCollected", counts.resources)
        count("ResourcesDeleted", counts.deleted)
        if counts.failed_scopes:
            return self._failed(message, key, counts.reason(), attempts, counts.as_counts())
        self._covered(key, message.job_id, datetime.now(UTC), counts.as_counts())
        if message.scan_policy:
            scan = message.model_copy(
                update={
                    "kind": TaskKind.SCAN.value,
                    "policy": message.scan_policy,
                    "scan_policy": None,
                }
            )
            self.queue.send_one(
                self.settings.queue_url(TaskKind.SCAN), scan.model_dump_json(exclude_none=True)
            )
        return [TaskOutcome(key, TaskStatus.SUCCEEDED, "", attempts, counts.as_counts())]

    def _failed(
        self,
        message: TaskMessage,
        key: TaskKey,
        reason: str,
        attempts: int,
        counts: dict[str, int] | None = None,
    ) -> list[TaskOutcome]:
        logger.warning("task failed: %s", reason)
        self._uncovered(key, message.job_id, reason)
        outcomes = [TaskOutcome(key, TaskStatus.FAILED, reason, attempts, counts or {})]
        if message.scan_policy:  # the scan stage of a refresh job cannot run now
            outcomes += dependents_of([key], reason)
        return outcomes

    def _complete(
        self, delivery: Delivery, message: TaskMessage, outcomes: list[TaskOutcome]
    ) -> str:
        completion = self.store.complete_tasks(message.job_id, outcomes)
        if not completion.job_found:
            return self._bad_message(delivery, f"unknown job {message.job_id}")
        own = outcomes[0]
        if own.key in completion.skipped:
            count("TasksSkipped")
            return "skipped"
        count("TasksSucceeded" if own.status is TaskStatus.SUCCEEDED else "TasksFailed")
        if completion.final_status:
            logger.info("job finished: %s", completion.final_status)
            count("JobsFinished")
        return own.status.value.lower()

    def _misrouted(self, delivery: Delivery, message: TaskMessage) -> str:
        reason = f"wrong queue: a {message.kind} task on the {self.kind.value} queue"
        outcome = self._bad_message(delivery, f"malformed task message: {reason}")
        job = self.jobs.get(message.job_id)
        if job is not None and job.running:
            outcomes = [TaskOutcome.failed(message.key, reason, delivery.receive_count)]
            if message.scan_policy:
                outcomes += dependents_of([message.key], reason)
            completion = self.store.complete_tasks(message.job_id, outcomes)
            if message.key in completion.applied:
                count("TasksFailed")
        return outcome

    def _bad_message(self, delivery: Delivery, error: str) -> str:
        logger.error("bad task message %s: %s", delivery.message_id, error)
        self.store.record_bad_message(delivery.message_id, delivery.body, error, self.kind)
        count("BadMessages")
        return "bad-message"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["Delivery", "RetryLater", "TaskWorker"]
