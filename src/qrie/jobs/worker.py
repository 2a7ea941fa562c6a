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

A record is worked on in two phases, so that a batch's records can run concurrently and be
accounted together (``qrie.jobs.batch``): :meth:`TaskWorker.prepare` does the work and returns
the outcomes to record (never raises: a failure is kept in the result), measuring what the work
consumed on its own meter; :meth:`TaskWorker.settle` shares the invocation's duration, its Lambda
request and the event source's SQS requests among the records it accounts, then records the
outcomes of each job in one ``complete_tasks`` call (one transaction per job for a batch of 10).
A job whose accounting fails fails only its own records.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    Usage,
    now_iso,
    timestamp,
)
from qrie.domain.jobs import dependents_of
from qrie.errors import PermanentTaskError, TransientTaskError, ValidationError
from qrie.inventory.base import Collector
from qrie.inventory.engine import inventory_account
from qrie.inventory.registry import get_collector
from qrie.metering import Meter, memory_mb, metered
from qrie.models import TaskMessage, parse_task
from qrie.observability import count, logger
from qrie.policies.registry import select
from qrie.queue import TaskQueue, backoff_seconds
from qrie.scan.engine import resolve_deleted, scan_account
from qrie.store.table import Completion, Store

LOG_KEYS = ("job_id", "account_id", "service")


class RetryLater(Exception):
    """Report this record as a batch item failure: SQS redelivers it after the backoff."""


@dataclass(frozen=True)
class Delivery:
    message_id: str
    body: str
    receive_count: int
    receipt_handle: str
    queue_url: str


@dataclass(frozen=True)
class Invocation:
    """The Lambda invocation a batch runs in: when it started (``time.perf_counter()``) and the
    function's memory. Its duration is shared among the records it accounts."""

    started: float
    memory_mb: int

    @classmethod
    def now(cls, context: object = None) -> Invocation:
        return cls(time.perf_counter(), memory_mb(context))


@dataclass
class Prepared:
    """One record after its work, before its accounting: the outcomes to record for its job,
    or a result that needs none, or the error that fails the record."""

    delivery: Delivery
    meter: Meter = field(default_factory=Meter)
    job_id: str | None = None
    outcomes: list[TaskOutcome] = field(default_factory=list)
    result: str | None = None  # the record's result when nothing is to be recorded
    error: BaseException | None = None  # RetryLater, or an unexpected error: a batch failure


class JobCache:
    """Jobs read at most once per ``ttl`` seconds per execution environment: the records of a
    batch, worked on at once, wait for one read instead of each making its own."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._jobs: dict[str, tuple[float, Job | None]] = {}
        self._lock = threading.Lock()

    def _fresh(self, job_id: str) -> tuple[float, Job | None] | None:
        hit = self._jobs.get(job_id)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit
        return None

    def get(self, job_id: str) -> Job | None:
        hit = self._fresh(job_id)
        if hit is not None:
            return hit[1]
        with self._lock:
            hit = self._fresh(job_id)  # read by another record while this one waited
            if hit is not None:
                return hit[1]
            job = self.store.get_job(job_id)
            now = time.monotonic()
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

    def process(self, delivery: Delivery, invocation: Invocation | None = None) -> str:
        """Work on one delivered message and record its outcome. Returns what happened; raises
        RetryLater (or the error) to have the message redelivered."""
        [result] = self.settle([self.prepare(delivery)], invocation or Invocation.now())
        if isinstance(result, BaseException):
            raise result
        return result

    # ------------------------------------------------------------------ phase 1: the work
    def prepare(self, delivery: Delivery) -> Prepared:
        """Do the record's work (thread-safe; never raises: an error fails the record)."""
        prepared = Prepared(delivery)
        with metered(prepared.meter):
            try:
                self._prepare(prepared)
            except Exception as exc:  # the record fails, the batch goes on
                if not isinstance(exc, RetryLater):
                    logger.exception("record %s failed", delivery.message_id)
                prepared.error = exc
        return prepared

    def _prepare(self, prepared: Prepared) -> None:
        delivery = prepared.delivery
        try:
            message = parse_task(delivery.body)
        except ValidationError as exc:
            prepared.result = self._bad_message(delivery, f"malformed task message: {exc.message}")
            return
        if message.kind != self.kind:
            self._misrouted(prepared, message)
            return
        prepared.job_id = message.job_id
        logger.thread_safe_append_keys(
            job_id=message.job_id, account_id=message.account_id, service=message.service
        )
        try:
            self._work_on(prepared, message)
        finally:
            logger.thread_safe_remove_keys(LOG_KEYS)

    def _work_on(self, prepared: Prepared, message: TaskMessage) -> None:
        delivery = prepared.delivery
        job = self.jobs.get(message.job_id)
        if job is None:
            prepared.result = self._bad_message(delivery, f"unknown job {message.job_id}")
            return
        if job.cancelled or not job.running:
            logger.info("skipping task: job is %s", job.status)
            count("TasksSkipped")
            prepared.result = "skipped"
            return
        key = message.key
        if delivery.receive_count > 1:
            task = self.store.get_task(message.job_id, key)
            if task is not None and task.status is not TaskStatus.PENDING:
                logger.info("skipping redelivered task already %s", task.status)
                count("TasksSkipped")
                prepared.result = "skipped"
                return
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
        prepared.outcomes = outcomes

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

    # ------------------------------------------------------------------ phase 2: accounting
    def settle(
        self, batch: Sequence[Prepared], invocation: Invocation
    ) -> list[str | BaseException]:
        """Record the outcomes of a batch's prepared records: their usage first (shares of the
        invocation), then one ``complete_tasks`` call per job. Returns each record's result,
        or the exception that fails it (its work's, or its job's accounting's)."""
        accounted = [p for p in batch if p.error is None and p.outcomes]
        _share_invocation(accounted, invocation)
        by_job: dict[str, list[TaskOutcome]] = defaultdict(list)
        for prepared in accounted:
            by_job[str(prepared.job_id)] += prepared.outcomes
        completions: dict[str, Completion | BaseException] = {}
        for job_id, outcomes in by_job.items():
            try:
                completion = self.store.complete_tasks(job_id, outcomes)
            except Exception as exc:  # only this job's records fail
                logger.exception("accounting of job %s failed; its records are retried", job_id)
                completions[job_id] = exc
                continue
            completions[job_id] = completion
            if completion.final_status:
                logger.info("job %s finished: %s", job_id, completion.final_status)
                count("JobsFinished")
        results: list[str | BaseException] = []
        for prepared in batch:
            if prepared.error is not None:
                results.append(prepared.error)
            elif not prepared.outcomes:
                results.append(prepared.result or "skipped")
            else:
                done = completions[str(prepared.job_id)]
                if isinstance(done, BaseException):
                    results.append(done)
                else:
                    results.append(self._result(prepared, done))
        return results

    def _result(self, prepared: Prepared, completion: Completion) -> str:
        own = prepared.outcomes[0]
        if prepared.result is not None:  # a misrouted message: its task failed here
            if own.key in completion.applied:
                count("TasksFailed")
            return prepared.result
        if not completion.job_found:
            return self._bad_message(prepared.delivery, f"unknown job {prepared.job_id}")
        if own.key in completion.skipped:
            count("TasksSkipped")
            return "skipped"
        count("TasksSucceeded" if own.status is TaskStatus.SUCCEEDED else "TasksFailed")
        return own.status.value.lower()

    def _misrouted(self, prepared: Prepared, message: TaskMessage) -> None:
        delivery = prepared.delivery
        reason = f"wrong queue: a {message.kind} task on the {self.kind.value} queue"
        prepared.result = self._bad_message(delivery, f"malformed task message: {reason}")
        job = self.jobs.get(message.job_id)
        if job is not None and job.running:
            outcomes = [TaskOutcome.failed(message.key, reason, delivery.receive_count)]
            if message.scan_policy:
                outcomes += dependents_of([message.key], reason)
            prepared.job_id = message.job_id
            prepared.outcomes = outcomes

    def _bad_message(self, delivery: Delivery, error: str) -> str:
        logger.error("bad task message %s: %s", delivery.message_id, error)
        self.store.record_bad_message(delivery.message_id, delivery.body, error, self.kind)
        count("BadMessages")
        return "bad-message"


def _share_invocation(accounted: Sequence[Prepared], invocation: Invocation) -> None:
    """Attach each record's usage to its own outcome: what its meter measured, its share of the
    invocation's duration so far (in proportion to its own wall time), and equal shares of the
    Lambda request and of the event source mapping's ReceiveMessage and DeleteMessageBatch."""
    if not accounted:
        return
    elapsed_ms = 1000 * (time.perf_counter() - invocation.started)
    walls = [p.meter.wall_ms for p in accounted]
    total_wall = sum(walls)
    n = len(accounted)
    esm = {"sqs.ReceiveMessage": 1 / n, "sqs.DeleteMessageBatch": 1 / n}
    for prepared, wall in zip(accounted, walls, strict=True):
        ms = elapsed_ms * (wall / total_wall if total_wall > 0 else 1 / n)
        usage = prepared.meter.usage() + Usage(
            ms=ms, mb_ms=ms * invocation.memory_mb, invocations=1 / n, requests=esm
        )
        own, *rest = prepared.outcomes
        prepared.outcomes = [dataclasses.replace(own, usage=dataclasses.replace(usage, tasks=1))]
        prepared.outcomes += rest


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


__all__ = ["Delivery", "Invocation", "Prepared", "RetryLater", "TaskWorker"]
