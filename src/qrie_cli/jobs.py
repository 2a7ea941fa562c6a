"""``qrie jobs``: list, show, follow, cancel and retry jobs; what a job request looks like."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from qrie_cli import cost_view, render
from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import not_found
from qrie_cli.options import JobIdArg, NoProgressOpt, WatchOpt, WideOpt, accounts_value
from qrie_cli.output import Output
from qrie_cli.tables import print_table
from qrie_cli.target import Target
from qrie_cli.watch import follow, start_job

app = CommandGroup(name="jobs", help="Follow, cancel and retry jobs.")


def job_request(
    operation: str, accounts: str | None, allow_unregistered: bool, **fields: Any
) -> dict[str, Any]:
    """A job handler request starting an inventory or a scan over ``accounts``;
    ``allow_unregistered`` is sent only when asked for."""
    event: dict[str, Any] = {"operation": operation, **fields, "accounts": accounts_value(accounts)}
    if allow_unregistered:
        event["allow_unregistered"] = True
    return event


def require_job(target: Target, job_id: str) -> None:
    """A job that does not exist (or has expired) is not found: exit 1."""
    if target.store.get_job(job_id) is None:
        raise not_found(f"unknown job {job_id!r} (see `qrie jobs list`)", "job_id")


def running_jobs(target: Target, operation: str) -> list[dict[str, Any]]:
    """The running jobs doing ``operation`` (a refresh scan also inventories), oldest first."""
    running = []
    for job_id in target.store.running_job_ids():
        job = target.store.get_job(job_id)
        if job is None or not job.running:
            continue
        kinds = {job.operation.value} | ({"inventory"} if job.refresh else set())
        if operation in kinds:
            running.append(job.to_dict())
    return sorted(running, key=lambda j: str(j.get("created_at")))


def report_running(out: Output, target: Target, operation: str) -> None:
    jobs = running_jobs(target, operation)
    state = "in_progress" if jobs else "idle"
    if out.json:
        out.emit({"status": state, "jobs": jobs})
        return
    out.print(Text(state, style="cyan bold" if jobs else "green bold"))
    if jobs:
        print_table(out, f"Running {operation} jobs", render.JOB_COLUMNS, jobs)


@app.command("list")
def jobs_list(
    cli: Cli,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="How many jobs, newest first.")
    ] = 20,
    wide: WideOpt = False,
) -> None:
    """List jobs, newest first."""
    out = cli.output(wide=wide)
    with cli.session() as target:
        jobs = target.call({"operation": "list", "limit": limit})["jobs"]
    if out.json:
        out.emit(jobs)
    elif not jobs:
        out.print("no jobs yet: qrie inventory start")
    else:
        more = " (the newest; --limit for more)" if len(jobs) == limit else ""
        print_table(out, f"Jobs ({len(jobs)}{more})", render.JOB_COLUMNS, jobs)


@app.command("show")
def jobs_show(
    cli: Cli,
    job_id: JobIdArg,
    all_tasks: Annotated[
        bool, typer.Option("--all", help="List every task, not only the unfinished or failed.")
    ] = False,
    wide: WideOpt = False,
) -> None:
    """A job, its AWS cost, its task counts and its tasks' states."""
    out = cli.output(wide=wide)
    with cli.session() as target:
        require_job(target, job_id)
        status = target.call({"operation": "status", "job_id": job_id})
        tasks = [t.to_dict() for t in target.store.iter_tasks(job_id)]
    job = status["job"]
    counts = status.get("task_counts", {})
    cost = cost_view.cost_of(job, getattr(target, "region", None))
    if out.json:
        out.emit({"job": job, "cost": cost, "task_counts": counts, "tasks": tasks})
        return
    out.print(render.job_details(job))
    out.print(cost_view.cost_table(job, cost))
    out.print(
        "tasks: " + (", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none")
    )
    render.print_skipped(out, job)
    shown = tasks if all_tasks else [t for t in tasks if t.get("status") != "SUCCEEDED"]
    if shown:
        print_table(out, "Tasks", render.TASK_COLUMNS, shown)
    hidden = len(tasks) - len(shown)
    if hidden:
        out.print(f"{hidden} succeeded tasks not listed (--all to list them)")


@app.command("watch")
def jobs_watch(cli: Cli, job_id: JobIdArg, no_progress: NoProgressOpt = False) -> None:
    """Follow a job with a live progress bar; exit 1 unless it COMPLETED."""
    cli.output(progress=not no_progress)
    with cli.session() as target:
        code = follow(target, cli.out, job_id)
    raise typer.Exit(code)


@app.command("cancel")
def jobs_cancel(cli: Cli, job_id: JobIdArg) -> None:
    """Cancel a running job: its pending tasks fail with reason `cancelled`."""
    out = cli.out
    with cli.session() as target:
        require_job(target, job_id)
        response = target.call({"operation": "cancel", "job_id": job_id})
    if out.json:
        out.emit(response)
    else:
        out.print(
            f"{job_id}: {response.get('status')}, "
            f"{response.get('cancelled_tasks', 0)} pending tasks cancelled"
        )


@app.command("retry")
def jobs_retry(
    cli: Cli, job_id: JobIdArg, watch: WatchOpt = False, no_progress: NoProgressOpt = False
) -> None:
    """Start a new job over only the failed tasks of a finished one."""
    cli.output(progress=not no_progress)
    with cli.session() as target:
        require_job(target, job_id)
        start_job(cli.out, target, {"operation": "retry", "job_id": job_id}, watch)
