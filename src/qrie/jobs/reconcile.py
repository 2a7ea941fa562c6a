"""The polling service's logic: the safety net that brings every job to a final state.

Each run: (a) drains the dead-letter queue, failing each task whose message landed there
(``dead-lettered``) and deleting the message; (b) for every running job (the RUNNING markers):
fails the pending tasks of cancelled jobs (``cancelled``) and of jobs past their deadline
(``timed-out``), and finalizes any job whose counters reached its total.

A run never stops at its first error: each phase, each job and each dead letter's job is
isolated, the error is logged and counted (``errors``), and the rest of the run goes on. A dead
letter whose accounting failed stays in the queue for the next run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qrie.config import Settings
from qrie.domain import TaskOutcome, TaskStatus
from qrie.domain.jobs import dependents_of
from qrie.errors import ValidationError
from qrie.observability import count, logger
from qrie.queue import DeadLetter, TaskQueue
from qrie.store.table import Store


@dataclass
class ReconcileReport:
    dead_lettered: int = 0
    bad_messages: int = 0
    timed_out: int = 0
    cancelled: int = 0
    finalized: list[str] = field(default_factory=list)
    running: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dead_lettered": self.dead_lettered,
            "bad_messages": self.bad_messages,
            "timed_out": self.timed_out,
            "cancelled": self.cancelled,
            "finalized": self.finalized,
            "running": self.running,
            "errors": self.errors,
        }


class Reconciler:
    def __init__(self, settings: Settings, store: Store, queue: TaskQueue) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue

    def run(self, budget_seconds: float = 60.0) -> ReconcileReport:
        deadline = time.monotonic() + max(1.0, budget_seconds)
        report = ReconcileReport()
        if self.settings.dlq_url:
            self._guarded(report, "dead-letter phase", self.drain_dead_letters, report, deadline)
        self._guarded(report, "running-jobs phase", self._check_running, report, deadline)
        count("TasksDeadLettered", report.dead_lettered)
        count("TasksTimedOut", report.timed_out)
        count("PollingErrors", report.errors)
        return report

    def _guarded(
        self, report: ReconcileReport, what: str, fn: Callable[..., None], *args: Any
    ) -> None:
        try:
            fn(*args)
        except Exception:
            report.errors += 1
            logger.exception("polling service: %s failed; the run goes on", what)

    def _check_running(self, report: ReconcileReport, deadline: float) -> None:
        now = int(time.time())
        for job_id in self.store.running_job_ids():
            report.running += 1
            self._guarded(report, f"job {job_id}", self._check_job, job_id, now, report)
            if time.monotonic() > deadline:
                break

    def _check_job(self, job_id: str, now: int, report: ReconcileReport) -> None:
        job = self.store.get_job(job_id)
        if job is not None and job.running:
            if job.cancelled:
                report.cancelled += self._fail_pending(job_id, "cancelled", report)
            elif job.deadline and now > job.deadline:
                report.timed_out += self._fail_pending(job_id, "timed-out", report)
        if self.store.finalize_if_done(job_id):
            report.finalized.append(job_id)

    def _fail_pending(self, job_id: str, reason: str, report: ReconcileReport) -> int:
        pending = [t.key for t in self.store.iter_tasks(job_id, status=TaskStatus.PENDING)]
        if not pending:
            return 0
        logger.warning("failing %d pending tasks of %s: %s", len(pending), job_id, reason)
        result = self.store.complete_tasks(job_id, [TaskOutcome.failed(k, reason) for k in pending])
        if result.final_status:
            report.finalized.append(job_id)
        return len(result.applied)

    def drain_dead_letters(self, report: ReconcileReport, deadline: float) -> None:
        while time.monotonic() < deadline:
            letters = self.queue.receive_dead_letters(self.settings.dlq_url)
            if not letters:
                return
            # The models (pydantic, ~45 ms of a cold start) only when there are dead letters.
            from qrie.models import parse_task  # noqa: PLC0415

            by_job: dict[str, list[TaskOutcome]] = defaultdict(list)
            handles: dict[str, list[str]] = defaultdict(list)  # receipt handles per job
            letters_of: dict[str, list[DeadLetter]] = defaultdict(list)
            accounted: list[str] = []  # handles whose letter is recorded: safe to delete
            for letter in letters:
                try:
                    message = parse_task(letter.body)
                except ValidationError as exc:
                    self.store.record_bad_message(
                        letter.message_id,
                        letter.body,
                        f"dead-lettered, malformed: {exc.message}",
                        "dlq",
                    )
                    report.bad_messages += 1
                    accounted.append(letter.receipt_handle)
                    continue
                key = message.key
                by_job[message.job_id].append(TaskOutcome.failed(key, "dead-lettered"))
                handles[message.job_id].append(letter.receipt_handle)
                letters_of[message.job_id].append(letter)
                if message.scan_policy:
                    by_job[message.job_id] += dependents_of([key], "dead-lettered")
            for job_id, outcomes in by_job.items():
                try:
                    result = self.store.complete_tasks(job_id, outcomes)
                    if not result.job_found:  # kept for inspection, never silently dropped
                        for letter in letters_of[job_id]:
                            self.store.record_bad_message(
                                letter.message_id,
                                letter.body,
                                f"dead-lettered, unknown job {job_id}",
                                "dlq",
                            )
                            report.bad_messages += 1
                except Exception:
                    report.errors += 1
                    logger.exception("dead letters of job %s not recorded; kept for later", job_id)
                    continue
                accounted += handles[job_id]
                report.dead_lettered += len(result.applied)
                if result.final_status:
                    report.finalized.append(job_id)
            if accounted:
                self.queue.delete(self.settings.dlq_url, accounted)
            if len(accounted) < len(letters):
                return  # the rest become visible again after their timeout: the next run
