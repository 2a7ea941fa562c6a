"""The console's reads: what each page shows, from the target's table.

Everything goes through the target's :class:`~qrie.store.table.Store` (jobs, tasks, accounts,
findings, the dashboard counts) and the policy catalogue; nothing here builds a key or knows
an attribute name. A :class:`Reader` lives as long as the server and keeps what makes pages
cheap and live: the task feeds and the progress samples (:mod:`.live`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from qrie.domain import (
    SERVICES,
    SEVERITIES,
    Account,
    Job,
    JobStatus,
    PolicyTally,
    Task,
    TaskKey,
    TaskKind,
    TaskStatus,
    parse_timestamp,
)
from qrie.policies.base import Policy
from qrie.store.table import Store
from qrie_cli.console.compliance import SectionScore, cis_scores
from qrie_cli.console.connection import Connection
from qrie_cli.console.live import Feeds, Progress, ProgressTracker, TaskFeed

JOBS_SHOWN = 50
COUNTS_SECONDS = 10.0
GRID_ACCOUNTS = 100  # accounts per page of a job's task grid
ACCOUNTS_PER_PAGE = 100
ACTIVITY_JOBS = 10  # recent jobs searched for each account's last inventory and scan
COUNT_THREADS = 8
ALL_ACCOUNTS = ("", "~")  # the range key of a read of every task


class NotFound(Exception):
    """The page names something that does not exist (a job, a finding)."""


def policy_catalogue() -> dict[str, Policy]:
    from qrie.policies.registry import all_policies  # noqa: PLC0415

    return all_policies()


# ---------------------------------------------------------------------------- task grid
@dataclass(frozen=True)
class Cell:
    task: Task | None
    ended_after: float | None  # seconds from the job's creation to the task's end

    @property
    def status(self) -> str:
        return self.task.status.value if self.task else "NONE"

    @property
    def meta(self) -> str:
        """``2 attempts · +12.3s`` (console.js writes the same)."""
        parts = []
        attempts = self.task.attempts if self.task else 0
        if attempts:
            parts.append(f"{attempts} attempt{'s' if attempts > 1 else ''}")
        if self.ended_after is not None:
            parts.append(f"+{self.ended_after}s")
        return " · ".join(parts)


@dataclass(frozen=True)
class GridRow:
    account: str
    cells: list[Cell]

    @property
    def failed(self) -> bool:
        return any(c.task is not None and c.task.status is TaskStatus.FAILED for c in self.cells)


@dataclass
class Grid:
    columns: list[tuple[str, str]]  # (kind, service)
    rows: list[GridRow]
    page: int
    pages: int
    accounts: int
    first: str
    last: str
    epoch: str
    version: int
    failures: list[Task] = field(default_factory=list)


def column_order(keys: Iterable[TaskKey]) -> list[tuple[str, str]]:
    kinds = [k.value for k in TaskKind]
    services = list(SERVICES)
    present = {(k.kind.value, k.service) for k in keys}
    return sorted(
        present,
        key=lambda c: (
            kinds.index(c[0]) if c[0] in kinds else 9,
            services.index(c[1]) if c[1] in services else 9,
            c[1],
        ),
    )


def ended_after(job: Job, task: Task | None) -> float | None:
    if task is None or not task.ended_at or not job.created_at:
        return None
    try:
        return round(
            (parse_timestamp(task.ended_at) - parse_timestamp(job.created_at)).total_seconds(), 1
        )
    except ValueError:
        return None


def task_view(job: Job, task: Task) -> dict[str, Any]:
    """A task as the page's script receives it."""
    return {**task.to_dict(), "ended_after": ended_after(job, task)}


# ---------------------------------------------------------------------------- activity
@dataclass(frozen=True)
class LastRun:
    """An account's part in one job: succeeded, failed (with reasons) or still running."""

    job: Job
    outcome: str  # "succeeded" | "failed" | "running"
    reasons: tuple[str, ...] = ()


def last_run(job: Job, tasks: Sequence[Task]) -> LastRun:
    failed = [t for t in tasks if t.status is TaskStatus.FAILED]
    if failed:
        by_reason: dict[str, list[str]] = defaultdict(list)
        for task in sorted(failed, key=lambda t: t.key):
            by_reason[task.reason].append(task.service)
        reasons = tuple(
            f"{', '.join(services)}: {reason}" for reason, services in by_reason.items()
        )
        return LastRun(job, "failed", reasons)
    if any(t.status is TaskStatus.PENDING for t in tasks):
        return LastRun(job, "running")
    return LastRun(job, "succeeded")


@dataclass
class Activity:
    """What recent jobs say of some accounts (see :meth:`Reader.activity`)."""

    runs: dict[tuple[str, str], LastRun] = field(default_factory=dict)  # (account, kind)
    resources: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, service)


@dataclass
class Assessment:
    """Accounts by their latest inventory or scan: the Overview's tiles."""

    kind: str
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, LastRun]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    not_assessed: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """Open findings by severity, policy and account, from the dashboard counts."""

    total: int = 0
    muted: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in SEVERITIES})
    by_policy: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_account: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, counts: Iterable[PolicyTally]) -> Tally:
        tally = cls()
        for count in counts:
            severity = count.severity.value
            tally.total += count.open
            tally.muted += count.muted
            tally.by_severity[severity] += count.open
            policy = tally.by_policy.setdefault(
                count.policy_id, {"severity": severity, "open": 0, "accounts": 0}
            )
            policy["open"] += count.open
            policy["accounts"] += 1 if count.open else 0
            account = tally.by_account.setdefault(
                count.account_id, {"open": 0, "by_severity": Counter[str]()}
            )
            account["open"] += count.open
            account["by_severity"][severity] += count.open
        return tally


@dataclass
class Overview:
    open_total: int
    muted_total: int
    by_severity: dict[str, int]
    by_policy: list[tuple[str, dict[str, Any]]]
    by_account: list[tuple[str, dict[str, Any]]]
    running: list[Progress]
    assessments: list[Assessment]
    accounts: int
    active_accounts: int
    compliance: list[SectionScore]
    policies: Mapping[str, Policy]
    names: dict[str, str]


@dataclass
class AccountRow:
    account: Account
    resources: dict[str, int]
    inventory: LastRun | None
    scan: LastRun | None
    open_findings: int


@dataclass
class AccountsPage:
    rows: list[AccountRow]
    page: int
    pages: int
    total: int
    by_status: dict[str, int]


# ---------------------------------------------------------------------------- the reader
class Reader:
    def __init__(self, connection: Connection, clock: Callable[[], float] = time.monotonic) -> None:
        self.connection = connection
        self.tracker = ProgressTracker(on_finish=lambda _job: self.forget_counts())
        self.feeds = Feeds()
        self._clock = clock
        self._counts: dict[str, tuple[float, Any]] = {}
        self._counts_lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self.connection.store

    # ------------------------------------------------------------------ dashboard counts
    def _kept(self, key: str, read: Callable[[], Any]) -> Any:
        """``read()``, kept :data:`COUNTS_SECONDS` under ``key``: pages that follow each other
        read the dashboard's counts once. A job this console sees finish drops them at once."""
        now = self._clock()
        with self._counts_lock:
            cached = self._counts.get(key)
        if cached is not None and now - cached[0] < COUNTS_SECONDS:
            return cached[1]
        value = read()
        with self._counts_lock:
            self._counts[key] = (now, value)
        return value

    def open_counts(self, account: str | None = None) -> list[PolicyTally]:
        """The per (account, policy) tallies of the latest scans (one account's when given)."""
        store = self.store
        if account is None:
            return list(self._kept("counts", store.summary))
        return list(self._kept(f"counts:{account}", lambda: store.account_summary(account)))

    def compliance(self) -> list[SectionScore]:
        store = self.store
        return list(self._kept("cis", lambda: cis_scores(store, policy_catalogue())))

    def forget_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    # ------------------------------------------------------------------ jobs
    def job(self, job_id: str) -> Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r} (jobs expire some days after they finish)")
        return job

    def progress(self, job: Job) -> Progress:
        return self.tracker.observe(job)

    def jobs(self, limit: int = JOBS_SHOWN) -> list[Progress]:
        return [self.progress(job) for job in self.store.list_jobs(limit)]

    def running(self) -> list[Progress]:
        jobs = [self.store.get_job(job_id) for job_id in self.store.running_job_ids()]
        running = [j for j in jobs if j is not None and j.running]
        return [self.progress(j) for j in sorted(running, key=lambda j: j.created_at)]

    def feed(self, job: Job, accounts: tuple[str, str] | None = ALL_ACCOUNTS) -> TaskFeed:
        """The job's tasks, read again only where the job's counters moved since the last
        read of ``accounts`` (first, last: the range a page shows; None: any read will do,
        e.g. for the list of accounts, which never changes). A final job is read once, whole."""
        feed = self.feeds.get(job.job_id)
        with feed.lock:
            if feed.complete:
                return feed
            store = self.store
            if not feed.tasks or not job.running:
                feed.apply(store.iter_tasks(job.job_id))
                feed.done_at_read[ALL_ACCOUNTS] = job.done
                feed.complete = not job.running
                return feed
            if accounts is None:
                return feed
            last_read = feed.done_at_read.get(accounts, feed.done_at_read.get(ALL_ACCOUNTS))
            if last_read != job.done:
                if accounts == ALL_ACCOUNTS:
                    feed.apply(store.iter_tasks(job.job_id))
                else:
                    feed.apply(store.iter_tasks_of_accounts(job.job_id, *accounts))
                feed.done_at_read[accounts] = job.done
        return feed

    def grid(self, job: Job, page: int = 1, failed_only: bool = False) -> Grid:
        """A page of the job's (account x task) grid, :data:`GRID_ACCOUNTS` accounts at a
        time; ``failed_only``: only the accounts with a failed task (all pages of them)."""
        feed = self.feed(job, ALL_ACCOUNTS if failed_only else None)
        with feed.lock:
            if failed_only:
                accounts = sorted(
                    {k.account_id for k, t in feed.tasks.items() if t.status is TaskStatus.FAILED}
                )
            else:
                accounts = feed.accounts
        pages = max(1, -(-len(accounts) // GRID_ACCOUNTS))
        page = min(max(page, 1), pages)
        shown = accounts[(page - 1) * GRID_ACCOUNTS : page * GRID_ACCOUNTS]
        first, last = (shown[0], shown[-1]) if shown else ("", "")
        if shown and not failed_only:
            feed = self.feed(job, (first, last))
        with feed.lock:
            tasks = dict(feed.tasks)
            epoch, version = feed.epoch, feed.version
        columns = column_order(tasks)
        rows = [
            GridRow(
                account,
                [
                    Cell(
                        task := tasks.get(TaskKey(account, TaskKind(kind), service)),
                        ended_after(job, task),
                    )
                    for kind, service in columns
                ],
            )
            for account in shown
        ]
        failures = sorted(
            (
                t
                for t in tasks.values()
                if t.status is TaskStatus.FAILED and first <= t.account_id <= last
            ),
            key=lambda t: t.key,
        )
        return Grid(
            columns, rows, page, pages, len(accounts), first, last, epoch, version, failures
        )

    def changes(self, job: Job, first: str, last: str, epoch: str, version: int) -> dict[str, Any]:
        """What a job page's poll receives: the job's progress and the tasks of its accounts
        changed since ``version`` (all of them when ``epoch`` is not the feed's)."""
        progress = self.progress(job)
        feed = self.feed(job, (first, last) if first and last else ALL_ACCOUNTS)
        with feed.lock:
            since = version if epoch == feed.epoch else 0
            tasks = feed.since(since, first or "", last or "~")
            answer = {"epoch": feed.epoch, "version": feed.version}
        return {
            "job": progress.to_dict(),
            **answer,
            "tasks": [task_view(job, t) for t in tasks],
        }

    # ------------------------------------------------------------------ activity
    def activity(self, accounts: Iterable[str]) -> Activity:
        """Each account's part in its most recent inventory and scan, and the resource count
        of its latest successful inventory of each service, among the last
        :data:`ACTIVITY_JOBS` jobs (a refresh scan counts as both)."""
        members = set(accounts)
        found = Activity()
        want_runs = {(a, kind.value) for a in members for kind in TaskKind}
        want_counts = {(a, s) for a in members for s in SERVICES}
        for job in self.store.list_jobs(ACTIVITY_JOBS):
            if not want_runs and not want_counts:
                break
            feed = self.feed(job)
            with feed.lock:
                tasks = [t for t in feed.tasks.values() if t.account_id in members]
            grouped: dict[tuple[str, str], list[Task]] = defaultdict(list)
            for task in tasks:
                grouped[(task.account_id, task.kind.value)].append(task)
                pair = (task.account_id, task.service)
                if (
                    task.kind is TaskKind.INVENTORY
                    and task.status is TaskStatus.SUCCEEDED
                    and pair in want_counts
                    and "resource_count" in task.counts
                ):
                    found.resources[pair] = int(task.counts["resource_count"])
                    want_counts.discard(pair)
            for pair, group in grouped.items():
                if pair in want_runs:
                    found.runs[pair] = last_run(job, group)
                    want_runs.discard(pair)
        return found

    def assessments(self, accounts: Sequence[Account]) -> list[Assessment]:
        active = [a.account_id for a in accounts if a.active]
        activity = self.activity(active)
        result = []
        for kind in TaskKind:
            tile = Assessment(kind.value)
            for account in active:
                run = activity.runs.get((account, kind.value))
                if run is None:
                    tile.not_assessed.append(account)
                elif run.outcome == "failed":
                    tile.failed.append((account, run))
                elif run.outcome == "running":
                    tile.running.append(account)
                else:
                    tile.succeeded.append(account)
            result.append(tile)
        return result

    # ------------------------------------------------------------------ overview
    def overview(self) -> Overview:
        store = self.store
        tally = Tally.of(self.open_counts())
        accounts = store.list_accounts()
        policies = policy_catalogue()
        by_account = sorted(
            ((a, v) for a, v in tally.by_account.items() if v["open"]),
            key=lambda item: (-item[1]["open"], item[0]),
        )
        by_policy = sorted(
            ((p, v) for p, v in tally.by_policy.items() if v["open"]),
            key=lambda item: (
                policies[item[0]].severity.rank if item[0] in policies else 9,
                -item[1]["open"],
                item[0],
            ),
        )
        return Overview(
            open_total=tally.total,
            muted_total=tally.muted,
            by_severity=tally.by_severity,
            by_policy=by_policy,
            by_account=by_account,
            running=self.running(),
            assessments=self.assessments(accounts),
            accounts=len(accounts),
            active_accounts=sum(1 for a in accounts if a.active),
            compliance=self.compliance(),
            policies=policies,
            names={a.account_id: a.name for a in accounts},
        )

    # ------------------------------------------------------------------ accounts
    def accounts_page(self, page: int = 1) -> AccountsPage:
        store = self.store
        accounts = sorted(store.list_accounts(), key=lambda a: a.account_id)
        pages = max(1, -(-len(accounts) // ACCOUNTS_PER_PAGE))
        page = min(max(page, 1), pages)
        shown = accounts[(page - 1) * ACCOUNTS_PER_PAGE : page * ACCOUNTS_PER_PAGE]
        activity = self.activity(a.account_id for a in shown)
        resources = dict(activity.resources)
        # no recent successful inventory of the pair: count what the table holds
        missing = [
            (a.account_id, s) for a in shown for s in SERVICES if (a.account_id, s) not in resources
        ]
        with ThreadPoolExecutor(max_workers=COUNT_THREADS) as pool:
            counted = list(pool.map(lambda p: store.count_resources(*p), missing))
        resources.update(zip(missing, counted, strict=True))
        open_by_account = Tally.of(self.open_counts()).by_account
        rows = [
            AccountRow(
                a,
                {s: resources[(a.account_id, s)] for s in SERVICES},
                activity.runs.get((a.account_id, TaskKind.INVENTORY.value)),
                activity.runs.get((a.account_id, TaskKind.SCAN.value)),
                int(open_by_account.get(a.account_id, {}).get("open", 0)),
            )
            for a in shown
        ]
        by_status = Counter(a.status.value for a in accounts)
        return AccountsPage(rows, page, pages, len(accounts), dict(sorted(by_status.items())))


def job_label(job: Job) -> str:
    if job.operation is TaskKind.SCAN:
        return f"scan {job.policy or '*'}" + (" + inventory" if job.refresh else "")
    return f"inventory {job.service or '*'}"


STATUS_CLASS = {
    JobStatus.IN_PROGRESS.value: "running",
    JobStatus.COMPLETED.value: "ok",
    JobStatus.COMPLETED_WITH_ERRORS.value: "warn",
    JobStatus.FAILED.value: "bad",
    JobStatus.CANCELLED.value: "muted",
    TaskStatus.PENDING.value: "pending",
    TaskStatus.SUCCEEDED.value: "ok",
}
