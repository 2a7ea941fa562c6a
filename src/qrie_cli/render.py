"""Output of the CLI: JSON for scripts, rich tables for people, and the job watcher.

Every command prints through an :class:`Output`. With ``--json`` it prints exactly one JSON
document on stdout and nothing else (messages go to stderr); otherwise rich tables. The watcher
(:func:`watch_job`) polls the job item about every half second and draws a live progress bar
(tasks done / total, failed, rate, ETA), or with ``--no-progress`` prints one line per change.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from qrie.domain import SEVERITIES as DOMAIN_SEVERITIES
from qrie.domain import JobStatus, TaskStatus
from qrie.store.table import Store

POLL_SECONDS = 0.5
STALL_SECONDS = 30.0  # no progress for this long: ask the target why (a stopped runner?)
NON_TTY_WIDTH = 160
STATUS_STYLE = {
    JobStatus.COMPLETED: "green",
    JobStatus.COMPLETED_WITH_ERRORS: "yellow",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
    JobStatus.IN_PROGRESS: "cyan",
    "PENDING": "cyan",
    "SUCCEEDED": "green",
    "ACTIVE": "green",
    "SUSPENDED": "yellow",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "blue"}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and not os.environ.get("COLUMNS"):
        width = NON_TTY_WIDTH  # CI logs: do not squeeze tables into 80 columns
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


@dataclass
class Output:
    """How a command prints: ``json`` (one JSON document on stdout) or rich; ``progress``
    False prints plain lines instead of live bars."""

    json: bool = False
    progress: bool = True
    _console: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console()
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = make_console(stderr=True)
        return self._err

    @property
    def live(self) -> bool:
        return self.progress and not self.json

    def emit(self, value: Any) -> None:
        """The command's JSON document (``--json``)."""
        typer.echo(dumps(value))

    def print(self, *objects: Any) -> None:
        """Human output; nothing in JSON mode."""
        if not self.json:
            self.console.print(*objects)

    def note(self, message: str) -> None:
        """A progress message: stdout for people, stderr in JSON mode."""
        (self.err if self.json else self.console).print(message)

    def error(self, message: str) -> None:
        self.err.print(Text(f"error: {message}", style="red"))


def styled(value: Any, styles: Mapping[str, str] = STATUS_STYLE) -> Text:
    text = "" if value is None else str(value)
    return Text(text, style=styles.get(text, styles.get(text.lower(), "")))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in rows:
        out.add_row(*(cell if isinstance(cell, Text) else Text(_cell(cell)) for cell in row))
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


# ---------------------------------------------------------------------------- jobs
def job_scope(job: Mapping[str, Any]) -> str:
    if job.get("operation") == "scan":
        scope = str(job.get("policy", "*"))
        return scope + (" (+refresh)" if job.get("refresh") else "")
    return str(job.get("service", "*"))


def progress_text(job: Mapping[str, Any]) -> str:
    total = int(job.get("total", 0))
    done = int(job.get("succeeded", 0)) + int(job.get("failed", 0))
    pct = 100 * done / total if total else 100.0
    return f"{done}/{total} ({pct:.0f}%)"


def jobs_table(jobs: Sequence[Mapping[str, Any]], title: str = "Jobs") -> Table:
    return table(
        title,
        ["Job", "Operation", "Scope", "Status", "Progress", "Failed", "Accounts", "Created"],
        (
            [
                j.get("job_id"),
                j.get("operation"),
                job_scope(j),
                styled(j.get("status")),
                progress_text(j),
                j.get("failed", 0),
                j.get("total_accounts", 0),
                short_time(j.get("created_at")),
            ]
            for j in jobs
        ),
    )


def job_details(job: Mapping[str, Any]) -> Table:
    out = Table(show_header=False, box=None, padding=(0, 2))
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("Job", job.get("job_id")),
        ("Operation", job.get("operation")),
        ("Scope", job_scope(job)),
        ("Status", styled(job.get("status"))),
        ("Progress", progress_text(job)),
        ("Succeeded", job.get("succeeded", 0)),
        ("Failed", job.get("failed", 0)),
        ("Accounts", job.get("total_accounts", 0)),
        ("Skipped accounts", job.get("skipped_count", 0)),
        ("Created", job.get("created_at")),
        ("Finished", job.get("finished_at")),
    ]
    if job.get("retry_of"):
        rows.append(("Retry of", job.get("retry_of")))
    for name, value in rows:
        out.add_row(name, value if isinstance(value, Text) else Text(_cell(value)))
    return out


def tasks_table(tasks: Sequence[Mapping[str, Any]], title: str = "Tasks") -> Table:
    return table(
        title,
        [
            "Account",
            "Kind",
            "Service",
            "Status",
            "Attempts",
            "Resources",
            "Open findings",
            "Reason",
        ],
        (
            [
                t.get("account_id"),
                t.get("kind"),
                t.get("service"),
                styled(t.get("status")),
                t.get("attempts"),
                t.get("resource_count"),
                t.get("open_findings"),
                t.get("reason"),
            ]
            for t in tasks
        ),
    )


def failures_by_account(tasks: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in tasks:
        grouped[str(task.get("account_id"))].append(dict(task))
    return dict(sorted(grouped.items()))


def failure_table(failed: Sequence[Mapping[str, Any]], title: str = "Failed tasks") -> Table:
    """One row per account: which of its tasks failed and why (one reason when they share it,
    else one line per task)."""
    rows = []
    for account, tasks in failures_by_account(failed).items():
        what = [f"{t.get('Kind')}/{t.get('Service')}" for t in tasks]
        reasons = [str(t.get("reason") or "-") for t in tasks]
        if len(set(reasons)) == 1:
            reason = reasons[0]
        else:
            reason = "\n".join(f"{w}: {r}" for w, r in zip(what, reasons, strict=True))
        rows.append([account, len(tasks), "\n".join(what), reason])
    return table(title, ["Account", "Failed", "Tasks", "Reason"], rows)


def skipped_table(job: Mapping[str, Any]) -> Table | None:
    skipped = job.get("skipped_accounts") or []
    if not skipped:
        return None
    title = f"Skipped accounts ({job.get('SkippedCount', len(skipped))})"
    return table(
        title, ["Account", "Reason"], ([s.get("account_id"), s.get("reason")] for s in skipped)
    )


# ---------------------------------------------------------------------------- watching
@dataclass
class Rate:
    """Tasks per second since watching began, and the time left at that rate."""

    started: float
    done_at_start: int

    def per_second(self, done: int, now: float) -> float:
        elapsed = now - self.started
        return (done - self.done_at_start) / elapsed if elapsed > 0 else 0.0

    def eta(self, done: int, total: int, now: float) -> float | None:
        rate = self.per_second(done, now)
        return (total - done) / rate if rate > 0 else None


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def counters(job: Mapping[str, Any]) -> tuple[int, int, int]:
    """(done, failed, total) of a job item."""
    failed = int(job.get("failed", 0))
    return int(job.get("succeeded", 0)) + failed, failed, int(job.get("total", 0))


class JobNotFound(Exception):
    pass


class Stall:
    """After ``seconds`` without progress, once per stall, what ``hint`` says may be wrong
    (``hint`` answers None when nothing is)."""

    def __init__(
        self, hint: Callable[[], str | None] | None, now: float, seconds: float = STALL_SECONDS
    ) -> None:
        self.hint, self.seconds = hint, seconds
        self._done, self._since, self._said = -1, now, False

    def check(self, done: int, now: float) -> str | None:
        if done != self._done:
            self._done, self._since, self._said = done, now, False
            return None
        if self.hint is None or self._said or now - self._since < self.seconds:
            return None
        reason = self.hint()
        if reason is None:
            return None
        self._said = True
        return f"no progress for {now - self._since:.0f} s — {reason}"


def watch_job(
    store: Store,
    job_id: str,
    out: Output,
    label: str | None = None,
    interval: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stalled: Callable[[], str | None] | None = None,
) -> dict[str, Any]:
    """Follow a job until it is final; returns the final job item. Live bar, one line per
    change (``out.progress`` False), or silence (``out.json``). After STALL_SECONDS without
    progress it prints what ``stalled`` answers, if anything (e.g. that no runner runs)."""
    found = store.get_job(job_id)
    if found is None:
        raise JobNotFound(job_id)
    job = found.to_dict()
    done, failed, total = counters(job)
    started = clock()
    rate, stall = Rate(started, done), Stall(stalled, started)
    label = label or job_id
    if out.live:
        columns = (
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]} tasks/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=out.console, transient=False) as bar:
            task_id = bar.add_task(
                label, total=total or 1, completed=done, failed=failed, rate="0.0", eta="--:--"
            )
            while True:
                done, failed, total = counters(job)
                now = clock()
                bar.update(
                    task_id,
                    total=total or 1,
                    completed=done if total else 1,
                    failed=failed,
                    rate=f"{rate.per_second(done, now):.1f}",
                    eta=format_eta(rate.eta(done, total, now)),
                )
                if job.get("status") != JobStatus.IN_PROGRESS:
                    break
                hint = stall.check(done, now)
                if hint:
                    bar.console.print(Text(hint, style="yellow"))
                sleep(interval)
                job = _reread(store, job_id, job)
        return job
    last: tuple[Any, ...] | None = None
    while True:
        done, failed, total = counters(job)
        state = (done, failed, total, job.get("status"))
        now = clock()
        if state != last and not out.json:
            typer.echo(
                f"{label}: {done}/{total} done, {failed} failed, "
                f"{rate.per_second(done, now):.1f} tasks/s, "
                f"ETA {format_eta(rate.eta(done, total, now))} [{job.get('status')}]"
            )
            last = state
        if job.get("status") != JobStatus.IN_PROGRESS:
            return job
        hint = stall.check(done, now)
        if hint:
            out.note(hint)
        sleep(interval)
        job = _reread(store, job_id, job)


def _reread(store: Store, job_id: str, previous: dict[str, Any]) -> dict[str, Any]:
    job = store.get_job(job_id)
    return job.to_dict() if job is not None else previous


def failed_tasks(store: Store, job_id: str) -> list[dict[str, Any]]:
    return [t.to_dict() for t in store.iter_tasks(job_id, status=TaskStatus.FAILED)]


def job_result(store: Store, job: Mapping[str, Any]) -> dict[str, Any]:
    """A finished job with its failed tasks (what ``watch`` prints at the end)."""
    job_id = str(job["job_id"])
    return {"job": dict(job), "failed_tasks": failed_tasks(store, job_id)}


def print_job_result(out: Output, result: Mapping[str, Any]) -> None:
    job = result["job"]
    status = str(job.get("status"))
    out.print(
        Text.assemble(
            (f"{job.get('job_id')} ", "bold"),
            (status, STATUS_STYLE.get(status, "")),
            f": {job.get('Succeeded', 0)} succeeded, {job.get('Failed', 0)} failed "
            f"of {job.get('Total', 0)} tasks over {job.get('TotalAccounts', 0)} accounts",
        )
    )
    skipped = skipped_table(job)
    if skipped is not None:
        out.print(skipped)
    if result["failed_tasks"]:
        out.print(failure_table(result["failed_tasks"]))


def exit_code_of(status: str | None) -> int:
    """0 for a job that completed; 1 for one that finished with errors, failed or was
    cancelled."""
    return 0 if status == JobStatus.COMPLETED else 1


# ---------------------------------------------------------------------------- generic
def jsonable(value: Any) -> Any:
    """Dataclasses, mappings, sets and paths as plain JSON values."""
    import dataclasses  # noqa: PLC0415
    from pathlib import PurePath  # noqa: PLC0415

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, PurePath):
        return str(value)
    return value


def mapping_table(title: str | None, values: Mapping[str, Any]) -> Table:
    """Two columns, key and value; nested mappings are flattened as ``a.b``."""
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column(overflow="fold")

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            out.add_row(prefix, _cell(value))

    add("", jsonable(values))
    return out


# ---------------------------------------------------------------------------- findings
SEVERITIES = tuple(s.value for s in DOMAIN_SEVERITIES)


def short_time(value: Any) -> str:
    """``2024-05-01T12:00:00.123456Z`` -> ``2024-05-01T12:00:00Z``."""
    text = "" if value is None else str(value)
    return text[:19] + "Z" if len(text) > 20 and text.endswith("Z") else text or "-"


def findings_table(findings: Sequence[Mapping[str, Any]], limit: int = 0) -> Table:
    more = "+" if limit and len(findings) >= limit else ""
    out = Table(title=f"Findings ({len(findings)}{more})", title_justify="left")
    out.add_column("Account", no_wrap=True, header_style="bold")
    out.add_column("Policy", no_wrap=True, header_style="bold")
    out.add_column("Severity", no_wrap=True, header_style="bold")
    out.add_column("State", no_wrap=True, header_style="bold")
    out.add_column("Resource", overflow="fold", ratio=3, header_style="bold")
    out.add_column("Region", no_wrap=True, header_style="bold")
    out.add_column("Evidence", overflow="fold", ratio=4, header_style="bold")
    out.add_column("Last seen", no_wrap=True, header_style="bold")
    for f in findings:
        out.add_row(
            _cell(f.get("account_id")),
            _cell(f.get("policy_id")),
            styled(f.get("severity"), SEVERITY_STYLE),
            _cell(f.get("state")),
            _cell(f.get("resource_arn")),
            _cell(f.get("region")),
            _cell(f.get("evidence")),
            short_time(f.get("last_seen")),
        )
    return out


def _severity_rank(severity: Any) -> int:
    text = str(severity).lower()
    return SEVERITIES.index(text) if text in SEVERITIES else len(SEVERITIES)


def summary_tables(summary: Mapping[str, Any], by_account: bool = True) -> list[Any]:
    """Open findings by policy x severity (and by account) from a findings summary."""
    by_severity = summary.get("by_severity") or {}
    parts: list[Any] = [
        Text.assemble(
            (f"{summary.get('open', 0)} open findings", "bold"),
            ": ",
            *(
                item
                for sev in SEVERITIES
                for item in ((f"{by_severity.get(sev, 0)} {sev}", SEVERITY_STYLE[sev]), "  ")
            ),
        )
    ]
    policies = sorted(
        (summary.get("by_policy") or {}).items(),
        key=lambda kv: (_severity_rank(kv[1].get("severity")), kv[0]),
    )
    parts.append(
        table(
            "Open findings by policy and severity",
            ["Policy", "Severity", "Open", "Accounts"],
            (
                [
                    policy,
                    styled(entry.get("severity"), SEVERITY_STYLE),
                    entry.get("open", 0),
                    entry.get("accounts", 0),
                ]
                for policy, entry in policies
            ),
        )
    )
    if by_account:
        accounts = (summary.get("by_account") or {}).items()
        parts.append(
            table(
                "Open findings by account",
                ["Account", "Open", *SEVERITIES],
                (
                    [
                        account,
                        entry.get("open", 0),
                        *((entry.get("by_severity") or {}).get(s, 0) for s in SEVERITIES),
                    ]
                    for account, entry in accounts
                ),
            )
        )
    return parts
