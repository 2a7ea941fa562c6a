"""What makes the job pages live: a job's rate and ETA, and each job's task changes.

The browser polls every second (short polling: ``console.js``); each poll reads the job item
(one GetItem) and, only when its counters moved, the tasks of the accounts the page shows. Two
things are kept in this process between polls:

* :class:`ProgressTracker`: the done count of each running job at each poll, so the rate is
  measured over the last 30 seconds (not since the job began, which hides a stall) and the ETA
  follows it;
* :class:`TaskFeed`: the tasks of a job as last read, each with the version number of the read
  that changed it. A page asks for the changes since the version it holds and gets exactly
  those, however late a task's write landed relative to its ``EndedAt`` (a window on
  ``EndedAt`` would miss a task whose transaction committed after a later one's).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qrie.domain import Job, Task, TaskKey, TaskStatus, parse_timestamp

RATE_WINDOW_SECONDS = 30.0
MIN_RATE_SPAN_SECONDS = 3.0
MAX_TRACKED = 64


@dataclass(frozen=True)
class Progress:
    """A job's counters with its rate (tasks per second) and ETA (seconds), when known."""

    job: Job
    rate: float | None
    eta: float | None

    @property
    def percent(self) -> int:
        """Done over total, rounded down: 100 only when every task is done."""
        job = self.job
        return 100 if not job.total else (100 * job.done) // job.total

    def to_dict(self) -> dict[str, object]:
        return {
            **self.job.to_dict(),
            "percent": self.percent,
            "rate": None if self.rate is None else round(self.rate, 2),
            "eta": None if self.eta is None else round(self.eta),
        }


def _seconds_between(start: str, end: datetime) -> float | None:
    try:
        return (end - parse_timestamp(start)).total_seconds()
    except ValueError:
        return None


class ProgressTracker:
    """Recent samples of each running job's done count (see the module docstring)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_finish: Callable[[Job], None] = lambda _job: None,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._on_finish = on_finish  # a job seen running is now seen final
        self._samples: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, job: Job) -> Progress:
        if not job.running:
            with self._lock:
                was_running = self._samples.pop(job.job_id, None) is not None
            if was_running:
                self._on_finish(job)
            elapsed = (
                _seconds_between(job.created_at, parse_timestamp(job.finished_at))
                if job.finished_at
                else None
            )
            overall = job.done / elapsed if elapsed and elapsed > 0 else None
            return Progress(job, overall, None)
        now = self._clock()
        with self._lock:
            samples = self._samples.setdefault(job.job_id, deque())
            self._samples.move_to_end(job.job_id)
            while len(self._samples) > MAX_TRACKED:
                self._samples.popitem(last=False)
            samples.append((now, job.done))
            while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW_SECONDS:
                samples.popleft()
            first_at, first_done = samples[0]
        span = now - first_at
        if span >= MIN_RATE_SPAN_SECONDS:
            rate: float | None = (job.done - first_done) / span
        else:  # just started watching: the rate since the job began
            elapsed = _seconds_between(job.created_at, self._wall())
            rate = job.done / elapsed if elapsed and elapsed > 0 else None
        eta = job.remaining / rate if rate else None
        return Progress(job, rate, eta)


@dataclass
class TaskFeed:
    """One job's tasks as this console last read them (see the module docstring)."""

    job_id: str
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    version: int = 0
    complete: bool = False  # every task read after the job became final: nothing can change
    tasks: dict[TaskKey, Task] = field(default_factory=dict)
    changed_at: dict[TaskKey, int] = field(default_factory=dict)
    done_at_read: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def accounts(self) -> list[str]:
        return sorted({key.account_id for key in self.tasks})

    def apply(self, tasks: Iterable[Task]) -> None:
        """Record a read: a task that differs from the last read gets a new version."""
        version = self.version + 1
        changed = False
        for task in tasks:
            if self.tasks.get(task.key) != task:
                self.tasks[task.key] = task
                self.changed_at[task.key] = version
                changed = True
        if changed:
            self.version = version

    def since(self, version: int, first: str, last: str) -> list[Task]:
        """Tasks of accounts ``first``..``last`` changed after ``version``."""
        return sorted(
            (
                t
                for key, t in self.tasks.items()
                if first <= key.account_id <= last and self.changed_at.get(key, 0) > version
            ),
            key=lambda t: t.key,
        )

    def terminal(self) -> int:
        return sum(1 for t in self.tasks.values() if t.status is not TaskStatus.PENDING)


class Feeds:
    """The task feeds of the jobs recently shown (least recently used dropped)."""

    def __init__(self, size: int = 32) -> None:
        self._feeds: OrderedDict[str, TaskFeed] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, job_id: str) -> TaskFeed:
        with self._lock:
            feed = self._feeds.get(job_id)
            if feed is None:
                feed = self._feeds[job_id] = TaskFeed(job_id)
            self._feeds.move_to_end(job_id)
            while len(self._feeds) > self._size:
                self._feeds.popitem(last=False)
            return feed
