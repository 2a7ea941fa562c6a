"""The ``qrie`` command line: accounts, inventory and scan jobs, findings, policies, the local
stack and the demo.

Every command that talks to a stack resolves a :class:`~qrie_cli.target.Target` (the running
local stack by default, or ``--stack-name`` for a deployed one) and goes through the job handler
for anything that starts or changes jobs, exactly as a script calling the deployed function would.

Exit codes: 0 success; 1 a job that finished with errors, failed or was cancelled, a request
the job handler refused, or an AWS error; 2 a usage error (bad argument, no target).
``--json`` prints one JSON document on stdout and nothing else; ``--no-progress`` prints plain
lines instead of live progress bars (CI logs).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from qrie.domain import SERVICES
from qrie.errors import ConfigurationError, ValidationError
from qrie.models import JOB_ID_RE
from qrie_cli import cost_view, render
from qrie_cli.render import Output
from qrie_cli.target import Target, TargetError, resolve_target, state_dir

# ---------------------------------------------------------------------------- the app
app = typer.Typer(
    name="qrie",
    help="Multi-account AWS inventory and security-policy scanning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
accounts_app = typer.Typer(help="The registry of member accounts.", no_args_is_help=True)
inventory_app = typer.Typer(help="Inventory jobs (S3, EC2, IAM).", no_args_is_help=True)
scan_app = typer.Typer(help="Policy scan jobs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Follow, cancel and retry jobs.", no_args_is_help=True)
findings_app = typer.Typer(help="Findings of the policy scans.", no_args_is_help=True)
policies_app = typer.Typer(help="The security policies qrie evaluates.", no_args_is_help=True)
local_app = typer.Typer(help="The local stack (moto server + event-source runner).")
local_app.info.no_args_is_help = True
app.add_typer(accounts_app, name="accounts")
app.add_typer(inventory_app, name="inventory")
app.add_typer(scan_app, name="scan")
app.add_typer(jobs_app, name="jobs")
app.add_typer(findings_app, name="findings")
app.add_typer(policies_app, name="policies")
app.add_typer(local_app, name="local")

SERVICE_CHOICES = [*SERVICES, "all"]
STATE_CHOICES = ["open", "resolved", "all"]
EXPORT_STATE_CHOICES = ["open", "all"]
FORMAT_CHOICES = ["json", "csv", "ocsf"]


SEVERITIES = ("critical", "high", "medium", "low")


# ---------------------------------------------------------------------------- validation
def _accounts_option(value: str | None) -> str | None:
    """``--accounts``: "*" (default: every ACTIVE registered account) or 12-digit ids."""
    if value is None or value.strip() in {"*", "all"}:
        return value
    from qrie.accounts.registry import parse_account_list  # noqa: PLC0415

    try:
        parse_account_list(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.message.removeprefix("accounts: ")) from exc
    return value


def _accounts_value(value: str | None) -> list[str] | str:
    if value is None or value.strip() in {"*", "all"}:
        return "*"
    from qrie.accounts.registry import parse_account_list  # noqa: PLC0415

    return parse_account_list(value)


def _account_id(value: str | None) -> str | None:
    if value is None:
        return None
    from qrie.accounts.registry import validate_account_id  # noqa: PLC0415

    try:
        return validate_account_id(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.message) from exc


def _policy_option(value: str | None) -> str | None:
    if value is None:
        return None
    from qrie.policies.registry import all_policies, select  # noqa: PLC0415

    if select(value):
        return value
    policies = all_policies()
    services = sorted({p.service for p in policies.values()})
    raise typer.BadParameter(
        f"unknown policy {value!r}; valid: *, {', '.join(f'{s}.*' for s in services)}, "
        f"or a policy id: {', '.join(sorted(policies))}"
    )


def _job_id(value: str) -> str:
    if not JOB_ID_RE.fullmatch(value):
        raise typer.BadParameter(
            f"malformed job id {value!r} (e.g. inv-all-20250101T000000Z-0a1b2c; "
            "see `qrie jobs list`)"
        )
    return value


def _choices(*choices: str) -> Callable[[str | None], str | None]:
    """An option callback accepting only ``choices`` (the message lists them)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not valid; choose from {', '.join(choices)}")
        return value

    return check


def _metavar(*choices: str) -> str:
    return "[" + "|".join(choices) + "]"


# ---------------------------------------------------------------------------- shared options
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON only (on stdout).")
]
NoProgressOpt = Annotated[
    bool,
    typer.Option("--no-progress", help="Plain lines instead of live progress bars (CI logs)."),
]
LocalOpt = Annotated[
    bool, typer.Option("--local", help="Use the local stack (the default when one is running).")
]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack-name",
        envvar="QRIE_STACK_NAME",
        help="A deployed qrie stack (names read from its CloudFormation outputs).",
    ),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="Region of --stack-name (default: your profile's).")
]
AccountsOpt = Annotated[
    str,
    typer.Option(
        "--accounts",
        callback=_accounts_option,
        help='Comma-separated 12-digit account ids, or "*" for every ACTIVE registered account.',
    ),
]
WatchOpt = Annotated[bool, typer.Option("--watch", help="Follow the job until it finishes.")]


# ---------------------------------------------------------------------------- error handling
class Refused(Exception):
    """The job handler refused a request (its ValidationError): exit code 1."""

    def __init__(self, response: dict[str, Any]) -> None:
        error = response.get("error") or {}
        self.response = response
        self.message = str(error.get("message", "request refused"))
        super().__init__(self.message)


def fail(out: Output, message: str, code: int, kind: str = "Error") -> NoReturn:
    if out.json:
        out.emit({"error": {"code": kind, "message": message}})
    out.error(message)
    raise typer.Exit(code)


@contextlib.contextmanager
def guarded(out: Output) -> Iterator[None]:
    """Turn the errors a command can meet into a message and its exit code."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        yield
    except typer.Exit:
        raise
    except Refused as exc:
        if out.json:
            out.emit(exc.response)
        out.error(f"refused: {exc.message}")
        raise typer.Exit(1) from exc
    except TargetError as exc:
        fail(out, exc.message, exc.exit_code, "TargetError")
    except ValidationError as exc:
        fail(out, exc.message, 2, "ValidationError")
    except render.JobNotFound as exc:
        fail(out, f"unknown job {exc.args[0]!r} (see `qrie jobs list`)", 1, "NotFound")
    except ConfigurationError as exc:
        fail(out, f"configuration: {exc}", 1, "ConfigurationError")
    except (ClientError, BotoCoreError) as exc:
        fail(out, f"AWS error: {exc}", 1, type(exc).__name__)


@contextlib.contextmanager
def session(
    out: Output, local: bool, stack_name: str | None, region: str | None
) -> Iterator[Target]:
    """The target of a command, with its errors handled."""
    with guarded(out):
        target = resolve_target(local, stack_name, region)
        with target:
            yield target


def call(target: Target, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the job handler; a refusal raises :class:`Refused`."""
    response = target.invoke(event)
    if "error" in response:
        raise Refused(response)
    return response


def follow(target: Target, out: Output, job_id: str, label: str | None = None) -> int:
    """Watch a job to its end, print its result; returns the exit code it deserves."""
    try:
        job = render.watch_job(target.store, job_id, out, label=label)
    except KeyboardInterrupt:
        out.err.print(f"stopped watching; the job goes on: qrie jobs watch {job_id}")
        raise typer.Exit(130) from None
    result = render.job_result(target.store, job)
    if out.json:
        out.emit(result)
    else:
        render.print_job_result(out, result)
    return render.exit_code_of(result["job"].get("status"))


def started(out: Output, response: dict[str, Any]) -> None:
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


def start_job(out: Output, target: Target, event: dict[str, Any], watch: bool) -> None:
    response = call(target, event)
    if not watch:
        if out.json:
            out.emit(response)
        else:
            started(out, response)
            out.print(f"follow it: qrie jobs watch {response['job_id']}")
        return
    if not out.json:
        started(out, response)
    code = follow(target, out, str(response["job_id"]))
    raise typer.Exit(code)


# ---------------------------------------------------------------------------- accounts
@accounts_app.command("add")
def accounts_add(
    account_id: Annotated[str, typer.Argument(help="12-digit account id.", callback=_account_id)],
    name: Annotated[str | None, typer.Option("--name", help="A display name.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable).")] = None,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Register a member account (ACTIVE)."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = Output(json=json_)
    with guarded(out):
        tags = registry.parse_tags(tag or [])
    with session(out, local, stack_name, region) as target:
        item = registry.add_account(target.store, account_id, name, tags).to_dict()
    if out.json:
        out.emit(item)
    else:
        out.print(f"registered {item['account_id']} ({item.get('name') or 'no name'}), ACTIVE")


@accounts_app.command("list")
def accounts_list(
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """List registered accounts."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        accounts = [a.to_dict() for a in registry.list_accounts(target.store)]
    if out.json:
        out.emit(accounts)
        return
    counts = Counter(str(a.get("status")) for a in accounts)
    title = f"Accounts ({len(accounts)}: " + ", ".join(
        f"{n} {s.lower()}" for s, n in sorted(counts.items())
    )
    out.print(
        render.table(
            title + ")" if accounts else "Accounts (none registered)",
            ["Account", "Name", "Status", "Source", "Tags"],
            (
                [
                    a.get("account_id"),
                    a.get("name"),
                    render.styled(a.get("status")),
                    a.get("source"),
                    a.get("tags"),
                ]
                for a in accounts
            ),
        )
    )


@accounts_app.command("remove")
def accounts_remove(
    account_id: Annotated[str, typer.Argument(help="12-digit account id.", callback=_account_id)],
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Deregister an account (its inventory and findings stay until swept)."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        removed = registry.remove_account(target.store, account_id)
    if not removed:
        fail(out, f"account {account_id} is not registered", 1, "NotFound")
    if out.json:
        out.emit({"removed": account_id})
    else:
        out.print(f"removed {account_id}")


@accounts_app.command("sync")
def accounts_sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change, write nothing.")
    ] = False,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Register every account of the AWS Organization (ACTIVE; suspended or closed ones
    SUSPENDED). Registered accounts missing from the organization are reported, not removed."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        report = registry.sync_from_organizations(
            target.store, target.client("organizations"), dry_run=dry_run
        )
    if out.json:
        out.emit({**report.as_dict(), "dry_run": dry_run})
        return
    prefix = "would sync" if dry_run else "synced"
    out.print(
        f"{prefix} {report.seen} accounts from Organizations: {len(report.active)} active, "
        f"{len(report.suspended)} suspended; {len(report.added)} added, "
        f"{len(report.updated)} updated, {len(report.unchanged)} unchanged"
    )
    if report.org_statuses:
        out.print(
            render.table(
                "Not active in the organization (registered SUSPENDED, skipped by jobs)",
                ["Account", "Organizations state"],
                sorted(report.org_statuses.items()),
            )
        )
    if report.not_in_org:
        out.print(
            Text(
                f"{len(report.not_in_org)} registered accounts are not in the organization "
                f"(kept; `qrie accounts remove ID` to drop them): " + ", ".join(report.not_in_org),
                style="yellow",
            )
        )


# ---------------------------------------------------------------------------- inventory, scan
@inventory_app.command("start")
def inventory_start(
    service: Annotated[
        str,
        typer.Option(
            "--service",
            callback=_choices(*SERVICE_CHOICES),
            metavar=_metavar(*SERVICE_CHOICES),
            help="Service to inventory.",
        ),
    ] = "all",
    accounts: AccountsOpt = "*",
    watch: WatchOpt = False,
    json_: JsonOpt = False,
    no_progress: NoProgressOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Start an inventory job: one task per (account, service)."""
    out = Output(json=json_, progress=not no_progress)
    event = {
        "operation": "inventory",
        "service": "*" if service == "all" else service,
        "accounts": _accounts_value(accounts),
    }
    with session(out, local, stack_name, region) as target:
        start_job(out, target, event, watch)


def _running(target: Target, operations: set[str]) -> list[dict[str, Any]]:
    running = []
    for job_id in target.store.running_job_ids():
        job = target.store.get_job(job_id)
        if job is None or not job.running:
            continue
        kinds = {job.operation.value}
        if job.refresh:
            kinds.add("inventory")
        if kinds & operations:
            running.append(job.to_dict())
    return sorted(running, key=lambda j: str(j.get("created_at")))


def _status(out: Output, target: Target, operation: str) -> None:
    jobs = _running(target, {operation})
    state = "in_progress" if jobs else "idle"
    if out.json:
        out.emit({"status": state, "jobs": jobs})
        return
    out.print(Text(state, style="cyan bold" if jobs else "green bold"))
    if jobs:
        out.print(render.jobs_table(jobs, title=f"Running {operation} jobs"))


@inventory_app.command("status")
def inventory_status(
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """`in_progress` with the running inventory jobs, or `idle`."""
    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        _status(out, target, "inventory")


@scan_app.command("start")
def scan_start(
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            callback=_policy_option,
            help='A policy id, "<service>.*" or "*" (see `qrie policies list`).',
        ),
    ] = "*",
    accounts: AccountsOpt = "*",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Inventory each account first, then scan it.")
    ] = False,
    watch: WatchOpt = False,
    json_: JsonOpt = False,
    no_progress: NoProgressOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Start a scan job: evaluate policies over the stored inventory."""
    out = Output(json=json_, progress=not no_progress)
    event = {
        "operation": "scan",
        "policy": policy,
        "accounts": _accounts_value(accounts),
        "refresh": refresh,
    }
    with session(out, local, stack_name, region) as target:
        start_job(out, target, event, watch)


@scan_app.command("status")
def scan_status(
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """`in_progress` with the running scan jobs, or `idle`."""
    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        _status(out, target, "scan")


# ---------------------------------------------------------------------------- jobs
JobIdArg = Annotated[str, typer.Argument(help="A job id (see `qrie jobs list`).", callback=_job_id)]


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="How many jobs, newest first.")
    ] = 20,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """List jobs, newest first."""
    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        jobs = call(target, {"operation": "list", "limit": limit})["jobs"]
    if out.json:
        out.emit(jobs)
    elif not jobs:
        out.print("no jobs yet: qrie inventory start")
    else:
        out.print(render.jobs_table(jobs))


@jobs_app.command("show")
def jobs_show(
    job_id: JobIdArg,
    all_tasks: Annotated[
        bool, typer.Option("--all", help="List every task, not only the unfinished or failed.")
    ] = False,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """A job, its task counts and its tasks' states."""
    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        status = call(target, {"operation": "status", "job_id": job_id})
        tasks = [t.to_dict() for t in target.store.iter_tasks(job_id)]
    job = status["job"]
    cost = cost_view.cost_of(job, getattr(target, "region", None))
    if out.json:
        out.emit(
            {"job": job, "cost": cost, "task_counts": status.get("task_counts", {}), "tasks": tasks}
        )
        return
    out.print(render.job_details(job))
    out.print(cost_view.cost_table(job, cost))
    counts = status.get("task_counts", {})
    out.print(
        "tasks: " + (", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none")
    )
    skipped = render.skipped_table(job)
    if skipped is not None:
        out.print(skipped)
    shown = tasks if all_tasks else [t for t in tasks if t.get("status") != "SUCCEEDED"]
    if shown:
        out.print(render.tasks_table(shown))
    hidden = len(tasks) - len(shown)
    if hidden:
        out.print(f"{hidden} succeeded tasks not listed (--all to list them)")


@jobs_app.command("watch")
def jobs_watch(
    job_id: JobIdArg,
    json_: JsonOpt = False,
    no_progress: NoProgressOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Follow a job with a live progress bar; exit 1 unless it COMPLETED."""
    out = Output(json=json_, progress=not no_progress)
    with session(out, local, stack_name, region) as target:
        code = follow(target, out, job_id)
    raise typer.Exit(code)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: JobIdArg,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Cancel a running job: its pending tasks fail with reason `cancelled`."""
    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        response = call(target, {"operation": "cancel", "job_id": job_id})
    if out.json:
        out.emit(response)
    else:
        out.print(
            f"{job_id}: {response.get('status')}, "
            f"{response.get('cancelled_tasks', 0)} pending tasks cancelled"
        )


@jobs_app.command("retry")
def jobs_retry(
    job_id: JobIdArg,
    watch: WatchOpt = False,
    json_: JsonOpt = False,
    no_progress: NoProgressOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Start a new job over only the failed tasks of a finished one."""
    out = Output(json=json_, progress=not no_progress)
    with session(out, local, stack_name, region) as target:
        start_job(out, target, {"operation": "retry", "job_id": job_id}, watch)


# ---------------------------------------------------------------------------- findings
@findings_app.command("list")
def findings_list(
    account: Annotated[
        str | None, typer.Option("--account", callback=_account_id, help="12-digit account id.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option("--policy", callback=_policy_option, help='Policy id, "<svc>.*" or "*".'),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity",
            callback=_choices(*SEVERITIES),
            metavar=_metavar(*SEVERITIES),
            help="Severity.",
        ),
    ] = None,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            callback=_choices(*STATE_CHOICES),
            metavar=_metavar(*STATE_CHOICES),
            help="Finding state.",
        ),
    ] = "open",
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="At most this many (0: no limit).")
    ] = 100,
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """List findings (open by default)."""
    import itertools  # noqa: PLC0415

    from qrie.policies.registry import select  # noqa: PLC0415
    from qrie.scan.findings import iter_findings  # noqa: PLC0415

    out = Output(json=json_)
    # "<service>.*" is one query per policy of the service; "*" (or none) is every policy.
    policy_ids: list[str | None] = (
        [None] if policy in {None, "*"} else [p.id for p in select(str(policy))]
    )
    with session(out, local, stack_name, region) as target:
        found = itertools.chain.from_iterable(
            iter_findings(target.store, account=account, policy=pid, severity=severity, state=state)
            for pid in policy_ids
        )
        findings = [f.to_dict() for f in (itertools.islice(found, limit) if limit else found)]
    if out.json:
        out.emit(findings)
        return
    if not findings:
        out.print(f"no {state if state != 'all' else ''} findings".replace("  ", " "))
        return
    out.print(render.findings_table(findings, limit))


@findings_app.command("summary")
def findings_summary(
    json_: JsonOpt = False,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Open findings by policy and severity, and by account."""
    from qrie.scan.findings import summary  # noqa: PLC0415

    out = Output(json=json_)
    with session(out, local, stack_name, region) as target:
        result = summary(target.store)
    if out.json:
        out.emit(render.jsonable(result))
        return
    for part in render.summary_tables(result):
        out.print(part)


@findings_app.command("export")
def findings_export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            callback=_choices(*FORMAT_CHOICES),
            metavar=_metavar(*FORMAT_CHOICES),
            help="Output format.",
        ),
    ] = "json",
    state: Annotated[
        str,
        typer.Option(
            "--state",
            callback=_choices(*EXPORT_STATE_CHOICES),
            metavar=_metavar(*EXPORT_STATE_CHOICES),
            help="Finding state.",
        ),
    ] = "open",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    local: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
) -> None:
    """Export findings (streamed) as JSON, CSV or OCSF."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415
    from qrie.scan.export import export  # noqa: PLC0415
    from qrie.scan.findings import iter_findings  # noqa: PLC0415

    out = Output(json=output is None)  # stdout carries the export: messages go to stderr
    with session(out, local, stack_name, region) as target:
        findings = iter_findings(target.store, state=state)
        if output is None:
            written = export(findings, fmt, sys.stdout, all_policies())
        else:
            with output.open("w", encoding="utf-8", newline="") as stream:
                written = export(findings, fmt, stream, all_policies())
    if output is not None:
        count = f"{written} findings" if isinstance(written, int) else "findings"
        out.print(f"wrote {count} ({fmt}) to {output}")


# ---------------------------------------------------------------------------- policies
@policies_app.command("list")
def policies_list(
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            callback=_choices(*SERVICES),
            metavar=_metavar(*SERVICES),
            help="Only this service.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Every policy: id, severity, CIS ids, title."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415

    out = Output(json=json_)
    policies = [p for p in all_policies().values() if service in {None, p.service}]
    policies.sort(key=lambda p: (p.service, p.severity.rank, p.id))
    if out.json:
        out.emit(
            [
                {
                    "id": p.id,
                    "service": p.service,
                    "severity": p.severity.value,
                    "cis": p.cis_ids(),
                    "title": p.title,
                    "resource_types": sorted(p.resource_types),
                    "remediation": p.remediation,
                }
                for p in policies
            ]
        )
        return
    out.print(
        render.table(
            f"Policies ({len(policies)})",
            ["Policy", "Severity", "CIS", "Title"],
            (
                [
                    p.id,
                    render.styled(p.severity.value, render.SEVERITY_STYLE),
                    "\n".join(p.cis_ids()),
                    p.title,
                ]
                for p in policies
            ),
        )
    )


# ---------------------------------------------------------------------------- local stack
StateDirOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="Where the local stack keeps its state (default .qrie)."),
]


def _state(value: Path | None) -> Path:
    return value or state_dir()


@local_app.command("up")
def local_up(
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (default: a free one).")
    ] = None,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", min=0, help="Delay added to every AWS request.")
    ] = 0,
    no_runner: Annotated[
        bool, typer.Option("--no-runner", help="Do not start the event-source runner.")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Cap the runner's concurrent invocations."),
    ] = None,
    template: Annotated[
        Path, typer.Option("--template", help="The SAM template to provision from.")
    ] = Path("template.yaml"),
    state: StateDirOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Start the local stack (moto server provisioned from template.yaml) and its runner."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=json_)
    with guarded(out):
        info = demo.local_up(_state(state), port, latency_ms, template, not no_runner, concurrency)
    if out.json:
        out.emit(info)
        return
    verb = "already running" if info.get("already_running") else "started"
    out.print(f"local stack {verb} at {info['endpoint']} (state in {info['state_dir']})")
    runner = info.get("runner") or {}
    if runner.get("pid"):
        out.print(f"runner: pid {runner['pid']} (log {runner.get('log')})")
    elif no_runner:
        out.print("runner not started (--no-runner): queued tasks wait until one runs")
    out.print("next: qrie local seed --accounts 12 && qrie inventory start --watch")


@local_app.command("down")
def local_down(state: StateDirOpt = None, json_: JsonOpt = False) -> None:
    """Stop the runner and the local stack."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=json_)
    with guarded(out):
        info = demo.local_down(_state(state))
    if out.json:
        out.emit(info)
    elif info.get("stopped"):
        out.print(f"local stack stopped ({info['state_dir']})")
    else:
        out.print(f"no local stack running ({info['state_dir']})")


@local_app.command("status")
def local_status(state: StateDirOpt = None, json_: JsonOpt = False) -> None:
    """Is the local stack up: endpoint, runner, table and queues."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=json_)
    with guarded(out):
        info = demo.local_status(_state(state))
    if out.json:
        out.emit(info)
        return
    if not info.get("running"):
        out.print(f"down (no local stack in {info['state_dir']}): qrie local up")
        return
    out.print(render.mapping_table("Local stack", info))


@local_app.command("seed")
def local_seed(
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, max=10_000, help="Member accounts to create.")
    ] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (reproducible).")] = 7,
    state: StateDirOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create N member accounts with compliant and non-compliant resources, and register them."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=json_)
    with guarded(out):
        stack = demo.require_stack(_state(state))
        report = demo.seed_accounts(stack, accounts, seed)
    if out.json:
        out.emit(report)
    else:
        demo.print_seed_report(out, report)


@local_app.command("invoke")
def local_invoke(
    function: Annotated[str, typer.Argument(help="Logical id of a function in template.yaml.")],
    event_file: Annotated[
        Path,
        typer.Argument(help="JSON event file (see events/).", exists=True, dir_okay=False),
    ],
    state: StateDirOpt = None,
) -> None:
    """Run one event through a function's handler, like `sam local invoke` (prints the result).
    Starts a temporary local stack when none is running."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=True)
    try:
        event = json.loads(event_file.read_text())
    except ValueError as exc:
        raise typer.BadParameter(
            f"{event_file} is not JSON: {exc}", param_hint="EVENT_FILE"
        ) from exc
    with guarded(out):
        result = demo.invoke_function(_state(state), function, event, out)
    out.emit(result)


# ---------------------------------------------------------------------------- demo
@app.command("demo")
def demo_command(
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, max=10_000, help="Member accounts to seed.")
    ] = 12,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Cap the runner's concurrent invocations."),
    ] = None,
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the JSON report.")
    ] = Path("demo-report.json"),
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the local stack and runner running.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the demo accounts.")] = 7,
    json_: JsonOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Run the whole pipeline locally and print a summary (the `make demo` command).

    From nothing: a local stack, N seeded member accounts, an inventory of every service and
    then a scan of every policy with live progress, a summary and demo-report.json."""
    from qrie_cli import demo  # noqa: PLC0415

    out = Output(json=json_, progress=not no_progress)
    with guarded(out):
        result = demo.run_demo(
            out,
            accounts=accounts,
            concurrency=concurrency,
            report_path=report,
            keep=keep,
            seed=seed,
        )
    if out.json:
        out.emit(result)


def main() -> None:
    """Console-script entry point (``qrie``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
