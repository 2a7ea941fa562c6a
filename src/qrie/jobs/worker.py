"""Running one task: the record handler's domain logic, free of Lambda types.

Outcomes, in one place:
- malformed message, or a job that does not exist → recorded as a bad message, deleted (it must
  not poison the queue), nothing counted;
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
from typing import Any

from qrie.aws import AccountSessions
from qrie.config import Settings
from qrie.errors import PermanentTaskError, TransientTaskError, ValidationError
from qrie.inventory.base import Collector
from qrie.inventory.engine import inventory_account
from qrie.inventory.registry import get_collector
from qrie.jobs.service import INVENTORY, SCAN, dependents_of
from qrie.models import TaskMessage, parse_task
from qrie.observability import count, logger
from qrie.policies.registry import select
from qrie.queue import TaskQueue, backoff_seconds
from qrie.scan.engine import scan_account
from qrie.store import keys
from qrie.store.table import FAILED, IN_PROGRESS, PENDING, SUCCEEDED, Store, TaskOutcome


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
        self._jobs: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def get(self, job_id: str) -> dict[str, Any] | None:
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
        kind: str,
        collectors: Callable[[str], Collector] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.sessions = sessions
        self.kind = kind
        self.collectors = collectors or get_collector  # service -> the collector to run
        self.jobs = JobCache(store, settings.job_cache_seconds)

    def process(self, delivery: Delivery) -> str:
        """Work on one delivered message. Returns what happened; raises RetryLater to have
        the message redelivered."""
        try:
            message = parse_task(delivery.body)
            if message.kind != self.kind:
                raise ValidationError(f"kind: {message.kind!r} task on the {self.kind} queue")
        except ValidationError as exc:
            return self._bad_message(delivery, f"malformed task message: {exc.message}")
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
        if job.get("Cancelled") or job.get("Status") != IN_PROGRESS:
            logger.info("skipping task: job is %s", job.get("Status"))
            count("TasksSkipped")
            return "skipped"
        sk = keys.task_sk(message.account_id, message.kind, message.service)
        if delivery.receive_count > 1:
            task = self.store.get_task(message.job_id, sk)
            if task is not None and task.get("Status") != PENDING:
                logger.info("skipping redelivered task already %s", task.get("Status"))
                count("TasksSkipped")
                return "skipped"
        attempts = {"Attempts": delivery.receive_count}
        try:
            outcomes = self._work(message, sk, attempts)
        except PermanentTaskError as exc:
            outcomes = self._failed(message, sk, exc.reason, attempts)
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
            outcomes = self._failed(message, sk, f"retries-exhausted: {reason}", attempts)
        return self._complete(delivery, message, outcomes)

    def _work(self, message: TaskMessage, sk: str, attempts: dict[str, int]) -> list[TaskOutcome]:
        if message.kind == INVENTORY:
            session = self.sessions.for_account(message.account_id)
            counts = inventory_account(
                self.store,
                session,
                message.service,
                self.settings.regions,
                message.job_id,
                self.settings.region_threads,
                collectors=self.collectors,
            )
            if counts.transient:
                raise TransientTaskError(counts.reason())
            count("ResourcesCollected", counts.resources)
            count("ResourcesDeleted", counts.deleted)
            attrs = {**attempts, **counts.as_attrs()}
            if counts.failed_scopes:
                return self._failed(message, sk, counts.reason(), attrs)
            if message.scan_policy:
                scan = message.model_copy(
                    update={"kind": SCAN, "policy": message.scan_policy, "scan_policy": None}
                )
                self.queue.send_one(
                    self.settings.queue_url(SCAN), scan.model_dump_json(exclude_none=True)
                )
            return [TaskOutcome(sk, SUCCEEDED, attrs=attrs)]
        policies = [p for p in select(message.policy or "*") if p.service == message.service]
        result = scan_account(
            self.store,
            message.account_id,
            message.service,
            policies,
            message.job_id,
            datetime.now(UTC),
        )
        count("FindingsOpened", result.opened)
        count("FindingsResolved", result.resolved)
        return [TaskOutcome(sk, SUCCEEDED, attrs={**attempts, **result.as_attrs()})]

    def _failed(
        self, message: TaskMessage, sk: str, reason: str, attrs: dict[str, int]
    ) -> list[TaskOutcome]:
        logger.warning("task failed: %s", reason)
        outcomes = [TaskOutcome(sk, FAILED, reason, dict(attrs))]
        if message.scan_policy:  # the scan stage of a refresh job cannot run now
            outcomes += dependents_of([sk], reason)
        return outcomes

    def _complete(
        self, delivery: Delivery, message: TaskMessage, outcomes: list[TaskOutcome]
    ) -> str:
        completion = self.store.complete_tasks(message.job_id, outcomes)
        if not completion.job_found:
            return self._bad_message(delivery, f"unknown job {message.job_id}")
        own = outcomes[0]
        if own.sk in completion.skipped:
            count("TasksSkipped")
            return "skipped"
        count("TasksSucceeded" if own.status == SUCCEEDED else "TasksFailed")
        if completion.final_status:
            logger.info("job finished: %s", completion.final_status)
            count("JobsFinished")
        return own.status.lower()

    def _bad_message(self, delivery: Delivery, error: str) -> str:
        logger.error("bad task message %s: %s", delivery.message_id, error)
        self.store.record_bad_message(delivery.message_id, delivery.body, error, self.kind)
        count("BadMessages")
        return "bad-message"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["FAILED", "Delivery", "RetryLater", "TaskWorker"]
