"""Jobs and tasks.

A **job** is one request (an inventory of services, or a scan with a policy) over accounts; a
**task** is one unit of its work, identified by :class:`TaskKey` (account, kind, service), and
one queued message. A task moves from PENDING to SUCCEEDED or FAILED exactly once (the store's
conditional transaction); the job counts them and is final when none remains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qrie.domain.usage import Usage
from qrie.domain.vocabulary import JobStatus, TaskKind, TaskStatus


def final_status(succeeded: int, failed: int, cancelled: bool) -> JobStatus:
    """A finished job's status from its counters: CANCELLED wins, then all-good COMPLETED,
    all-bad FAILED, a mix COMPLETED_WITH_ERRORS."""
    if cancelled:
        return JobStatus.CANCELLED
    if failed == 0:
        return JobStatus.COMPLETED
    if succeeded == 0:
        return JobStatus.FAILED
    return JobStatus.COMPLETED_WITH_ERRORS


@dataclass(frozen=True, order=True)
class TaskKey:
    """Which task of a job: (account, kind, service). Unique within a job."""

    account_id: str
    kind: TaskKind
    service: str

    def dependent_scan(self) -> TaskKey:
        """The scan task of a refresh job that waits for this inventory task."""
        return TaskKey(self.account_id, TaskKind.SCAN, self.service)


@dataclass(frozen=True)
class TaskOutcome:
    """The terminal state one task should move to, and what it measured (``counts``: e.g.
    resource_count, evaluated; ``attempts``: the message's receive count; ``usage``: what its
    work consumed in AWS, recorded on the task and added to the job's)."""

    key: TaskKey
    status: TaskStatus  # SUCCEEDED | FAILED
    reason: str = ""
    attempts: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    usage: Usage | None = None

    @classmethod
    def failed(cls, key: TaskKey, reason: str, attempts: int | None = None) -> TaskOutcome:
        return cls(key, TaskStatus.FAILED, reason, attempts)


def dependents_of(keys: list[TaskKey], reason: str) -> list[TaskOutcome]:
    """The scan tasks of a refresh job that cannot run because their inventory task failed."""
    return [
        TaskOutcome.failed(k.dependent_scan(), f"inventory-failed: {reason}")
        for k in keys
        if k.kind is TaskKind.INVENTORY
    ]


@dataclass(frozen=True)
class SkippedAccount:
    """An account a job did not run, and why (suspended, not registered, …)."""

    account_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"account_id": self.account_id, "reason": self.reason}


@dataclass(frozen=True)
class Job:
    """A job and its exact progress: ``succeeded + failed + remaining == total``."""

    job_id: str
    operation: TaskKind
    status: JobStatus
    total: int
    succeeded: int = 0
    failed: int = 0
    remaining: int = 0
    cancelled: bool = False
    created_at: str = ""
    finished_at: str | None = None
    updated_at: str | None = None
    deadline: int = 0  # epoch seconds: pending tasks then fail as timed-out
    expires_at: int = 0  # epoch seconds: the table's TTL
    service: str | None = None  # inventory: the service spec ("s3", "*")
    policy: str | None = None  # scan: the policy spec ("s3.*", "*", a policy id)
    refresh: bool = False  # scan: inventory first, then scan
    total_accounts: int = 0
    skipped_accounts: tuple[SkippedAccount, ...] = ()
    skipped_count: int = 0
    retry_of: str | None = None
    usage: Usage = field(default_factory=Usage)  # summed over its tasks and its creation
    task_shards: int = 1  # partition keys its task items are spread over (the store's)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def progress(self) -> float:
        """Done over total, 0..1 (1.0 for a job with no tasks)."""
        return round(self.done / self.total, 4) if self.total else 1.0

    @property
    def running(self) -> bool:
        return self.status is JobStatus.IN_PROGRESS

    def to_dict(self) -> dict[str, Any]:
        """The job in the JSON vocabulary of the API and scripts."""
        return {
            "job_id": self.job_id,
            "operation": self.operation.value,
            "status": self.status.value,
            "service": self.service,
            "policy": self.policy,
            "refresh": self.refresh,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "remaining": self.remaining,
            "done": self.done,
            "progress": self.progress,
            "cancelled": self.cancelled,
            "total_accounts": self.total_accounts,
            "skipped_accounts": [s.to_dict() for s in self.skipped_accounts],
            "skipped_count": self.skipped_count,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "deadline": self.deadline,
            "retry_of": self.retry_of,
            "usage": self.usage.to_dict(),
        }


@dataclass(frozen=True)
class Task:
    """One task of a job, as stored."""

    job_id: str
    key: TaskKey
    status: TaskStatus
    reason: str = ""
    attempts: int = 0
    ended_at: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    usage: Usage | None = None

    @property
    def account_id(self) -> str:
        return self.key.account_id

    @property
    def kind(self) -> TaskKind:
        return self.key.kind

    @property
    def service(self) -> str:
        return self.key.service

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "account_id": self.account_id,
            "kind": self.kind.value,
            "service": self.service,
            "status": self.status.value,
            "reason": self.reason,
            "attempts": self.attempts,
            "ended_at": self.ended_at,
            **dict(sorted(self.counts.items())),
            **({"usage": self.usage.to_dict()} if self.usage is not None else {}),
        }


@dataclass(frozen=True)
class Coverage:
    """What qrie knows it has looked at, per (account, kind, service): the last task that
    succeeded (``job_id``/``at``: the evidence a scan needs, an inventory that listed
    everything) and the last one that failed (``failed_at``/``failure``: why an account is not
    assessed). Either may be absent."""

    account_id: str
    kind: TaskKind
    service: str
    job_id: str | None = None
    at: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    failed_job_id: str | None = None
    failed_at: str | None = None
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.at is not None

    @property
    def failing(self) -> bool:
        """The latest attempt failed (after any success)."""
        return self.failed_at is not None and (self.at is None or self.failed_at > self.at)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "account_id": self.account_id,
            "kind": self.kind.value,
            "service": self.service,
            "job_id": self.job_id,
            "at": self.at,
            "failed_job_id": self.failed_job_id,
            "failed_at": self.failed_at,
            "failure": self.failure,
            **dict(sorted(self.counts.items())),
        }
        return {k: v for k, v in data.items() if v is not None}
