"""The console's reads: what each page shows, from the target's table.

Everything goes through the target's :class:`~qrie.store.table.Store` (jobs, tasks, accounts,
findings, the dashboard counts) and the policy catalogue; nothing here builds a key or knows
an attribute name. A :class:`Reader` lives as long as the server and keeps what makes pages
cheap and live: the task feeds and the progress samples (:mod:`.live`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from qrie.domain import (
    SERVICES,
    Account,
    Job,
    JobStatus,
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


def cis_versions(policies: Iterable[Policy]) -> list[str]:
    return sorted({version for p in policies for version in p.cis})


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
class Assessment:
    """Accounts by their latest inventory or scan: the Overview's tiles."""

    kind: str
    succeeded: list[str] = field(default_factory=list)
    failed: list[tuple[str, LastRun]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    not_assessed: list[str] = field(default_factory=list)


@dataclass
class Overview:
    open_total: int
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
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.tracker = ProgressTracker()
        self.feeds = Feeds()

    @property
    def store(self) -> Store:
        return self.connection.store

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
    def activity(self, accounts: Iterable[str]) -> dict[str, dict[str, LastRun]]:
        """Each account's part in its most recent inventory and scan, among the last
        :data:`ACTIVITY_JOBS` jobs (a refresh scan counts as both)."""
        wanted = {(a, kind.value) for a in accounts for kind in TaskKind}
        found: dict[str, dict[str, LastRun]] = defaultdict(dict)
        for job in self.store.list_jobs(ACTIVITY_JOBS):
            if not wanted:
                break
            feed = self.feed(job)
            with feed.lock:
                tasks = list(feed.tasks.values())
            grouped: dict[tuple[str, str], list[Task]] = defaultdict(list)
            for task in tasks:
                grouped[(task.account_id, task.kind.value)].append(task)
            for pair, group in grouped.items():
                if pair in wanted:
                    found[pair[0]][pair[1]] = last_run(job, group)
                    wanted.discard(pair)
        return found

    def assessments(self, accounts: Sequence[Account]) -> list[Assessment]:
        active = [a.account_id for a in accounts if a.active]
        activity = self.activity(active)
        result = []
        for kind in TaskKind:
            tile = Assessment(kind.value)
            for account in active:
                run = activity.get(account, {}).get(kind.value)
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
        from qrie.scan.findings import summary  # noqa: PLC0415

        store = self.store
        counts = summary(store)
        accounts = store.list_accounts()
        policies = policy_catalogue()
        by_account = sorted(
            ((a, v) for a, v in counts["by_account"].items() if v["open"]),
            key=lambda item: (-item[1]["open"], item[0]),
        )
        by_policy = sorted(
            ((p, v) for p, v in counts["by_policy"].items() if v["open"]),
            key=lambda item: (
                policies[item[0]].severity.rank if item[0] in policies else 9,
                -item[1]["open"],
                item[0],
            ),
        )
        return Overview(
            open_total=counts["open"],
            by_severity=counts["by_severity"],
            by_policy=by_policy,
            by_account=by_account,
            running=self.running(),
            assessments=self.assessments(accounts),
            accounts=len(accounts),
            active_accounts=sum(1 for a in accounts if a.active),
            compliance=cis_scores(store),
            policies=policies,
            names={a.account_id: a.name for a in accounts},
        )

    # ------------------------------------------------------------------ accounts
    def accounts_page(self, page: int = 1) -> AccountsPage:
        from qrie.scan.findings import summary  # noqa: PLC0415

        store = self.store
        accounts = sorted(store.list_accounts(), key=lambda a: a.account_id)
        pages = max(1, -(-len(accounts) // ACCOUNTS_PER_PAGE))
        page = min(max(page, 1), pages)
        shown = accounts[(page - 1) * ACCOUNTS_PER_PAGE : page * ACCOUNTS_PER_PAGE]
        pairs = [(a.account_id, s) for a in shown for s in SERVICES]
        with ThreadPoolExecutor(max_workers=COUNT_THREADS) as pool:
            counted = list(pool.map(lambda p: store.count_resources(*p), pairs))
        resources: dict[str, dict[str, int]] = defaultdict(dict)
        for (account, service), n in zip(pairs, counted, strict=True):
            resources[account][service] = n
        activity = self.activity(a.account_id for a in shown)
        open_by_account = summary(store)["by_account"]
        rows = [
            AccountRow(
                a,
                resources[a.account_id],
                activity.get(a.account_id, {}).get(TaskKind.INVENTORY.value),
                activity.get(a.account_id, {}).get(TaskKind.SCAN.value),
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
