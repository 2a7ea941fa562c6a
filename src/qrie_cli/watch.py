"""Starting and following jobs: the request, the live progress bar, the result and its exit code.

The watcher (:func:`watch_job`) polls the job about every half second and draws a live bar
(tasks done / total, failed, rate, ETA), or with ``--no-progress`` prints one line per change;
when a job makes no progress for 30 s it says what the target knows of why (a stopped runner).
A job exits 0 when it COMPLETED and 1 when it finished with errors, failed or was cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from qrie.domain import JobStatus, TaskStatus
from qrie.store.table import Store
from qrie_cli import render
from qrie_cli.errors import FAILED, OK, Refused, not_found
from qrie_cli.output import Output
from qrie_cli.target import RequestRefused, Target

POLL_SECONDS = 0.5
STALL_SECONDS = 30.0  # no progress for this long: ask the target why (a stopped runner?)


# ---------------------------------------------------------------------------- rate and ETA
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


def counters(job: Mapping[str, Any]) -> tuple[int, int, int]:
    """(done, failed, total) of a job."""
    failed = int(job.get("failed", 0))
    return int(job.get("succeeded", 0)) + failed, failed, int(job.get("total", 0))


# ---------------------------------------------------------------------------- watching
def _read(store: Store, job_id: str) -> dict[str, Any]:
    job = store.get_job(job_id)
    if job is None:
        raise not_found(f"unknown job {job_id!r} (see `qrie jobs list`)", "job_id")
    return job.to_dict()


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
    """Follow a job until it is final; returns the final job. Live bar, one line per change
    (``out.progress`` False), or silence (``out.json``). After STALL_SECONDS without progress
    it prints what ``stalled`` answers, if anything (e.g. that no runner runs)."""
    job = _read(store, job_id)
    done, failed, total = counters(job)
    started = clock()
    rate, stall = Rate(started, done), Stall(stalled, started)
    label = label or job_id
    if out.live:
        columns = (
            SpinnerColumn(finished_text=Text("✓", style="green")),
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed", style="red", markup=False),
            TextColumn("{task.fields[rate]} tasks/s", markup=False),
            TextColumn("ETA {task.fields[eta]}", markup=False),
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


# ---------------------------------------------------------------------------- results
def job_result(store: Store, job: Mapping[str, Any]) -> dict[str, Any]:
    """A finished job with its failed tasks (what watching prints at the end)."""
    job_id = str(job["job_id"])
    failed = [t.to_dict() for t in store.iter_tasks(job_id, status=TaskStatus.FAILED)]
    return {"job": dict(job), "failed_tasks": failed}


def print_job_result(out: Output, result: Mapping[str, Any]) -> None:
    job = result["job"]
    state = str(job.get("status"))
    out.print(
        Text.assemble(
            (f"{job.get('job_id')} ", "bold"),
            (state, render.STATUS_STYLE.get(state, "")),
            f": {job.get('succeeded', 0)} succeeded, {job.get('failed', 0)} failed "
            f"of {job.get('total', 0)} tasks over {job.get('total_accounts', 0)} accounts",
        )
    )
    render.print_skipped(out, job)
    if result["failed_tasks"]:
        render.print_failures(out, result["failed_tasks"])


def exit_code_of(state: str | None) -> int:
    """0 for a job that completed; 1 for one that finished with errors, failed or was
    cancelled."""
    return OK if state == JobStatus.COMPLETED else FAILED


def follow(
    target: Target,
    out: Output,
    job_id: str,
    label: str | None = None,
    fail_on: str | None = None,
) -> int:
    """Watch a job to its end and print its result; returns the exit code it deserves (with
    ``fail_on``: 3 when it completed but left an open finding of that severity or worse)."""
    try:
        job = watch_job(target.store, job_id, out, label=label, stalled=target.stall_hint)
    except KeyboardInterrupt:
        out.err.print(Text(f"stopped watching; the job goes on: qrie jobs watch {job_id}"))
        raise typer.Exit(130) from None
    result = job_result(target.store, job)
    if out.json:
        out.emit(result)
    else:
        print_job_result(out, result)
    code = exit_code_of(result["job"].get("status"))
    if code == OK and fail_on is not None:
        from qrie_cli.gate import gate, job_scope, open_at_least  # noqa: PLC0415

        accounts, policy = job_scope(target, job_id)
        code = gate(out, open_at_least(target, fail_on, accounts, policy), fail_on)
    return code


# ---------------------------------------------------------------------------- starting
def print_started(out: Output, response: Mapping[str, Any]) -> None:
    skipped = response.get("skipped_accounts", 0)
    out.print(
        Text.assemble(
            "started ",
            (str(response["job_id"]), "bold"),
            f": {response.get('total_tasks', 0)} tasks over "
            f"{response.get('total_accounts', 0)} accounts"
            + (f" ({skipped} skipped)" if skipped else ""),
        )
    )
    if response.get("enqueue_failures"):
        out.print(Text(f"{response['enqueue_failures']} tasks could not be enqueued", style="red"))


UNREGISTERED_HINT = "check the ids (`qrie accounts list`); --allow-unregistered runs them anyway"


def start_job(
    out: Output,
    target: Target,
    event: dict[str, Any],
    watch: bool,
    fail_on: str | None = None,
) -> None:
    """Ask the job handler for a job, then report it or (``watch``) follow it to its end."""
    try:
        response = target.call(event)
    except RequestRefused as exc:
        # explicit ids refused by the handler: the CLI's own checks passed, so the registry
        # did not know them (or the request was too large)
        explicit = isinstance(event.get("accounts"), list) and not event.get("allow_unregistered")
        hint = UNREGISTERED_HINT if explicit and exc.field == "accounts" else None
        raise Refused(exc.response, hint) from exc
    if not watch:
        if out.json:
            out.emit(response)
        else:
            print_started(out, response)
            out.print(f"follow it: qrie jobs watch {response['job_id']}")
        return
    if not out.json:
        print_started(out, response)
    raise typer.Exit(follow(target, out, str(response["job_id"]), fail_on=fail_on))
