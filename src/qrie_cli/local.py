"""``qrie local``: the local stack (template.yaml deployed on a moto server, and the
event-source runner): up, down, status, seed, invoke.

The stack's state directory is found from any directory of the checkout (``--state-dir``,
``$QRIE_STATE_DIR``, else the nearest ``.qrie/`` upward; see
:func:`qrie_cli.target.locate_state_dir`), and the template likewise (the nearest template.yaml
upward), so ``qrie local up`` run from ``src/`` starts the checkout's stack, not a second one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qrie.domain import SERVICES
from qrie_cli import render
from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import CliError, fail
from qrie_cli.output import Output
from qrie_cli.tables import Column, print_table
from qrie_cli.target import TargetError, locate_state_dir, locate_template, no_local_stack

if TYPE_CHECKING:
    from qrie_local.stack import LocalStack

RUNNER_LOG = "runner.log"

app = CommandGroup(
    name="local", scope="local", help="The local stack (moto server + event-source runner)."
)


TemplateOpt = Annotated[
    Path | None,
    typer.Option(
        "--template", help="The SAM template (default: the nearest template.yaml upward)."
    ),
]


# ---------------------------------------------------------------------------- the logic
def _local_error(exc: Exception) -> TargetError:
    return TargetError(str(exc), exit_code=1)


def require_stack(state_dir: Path | None = None) -> LocalStack:
    """The stack running from ``state_dir`` (default: the one found), or a TargetError (exit 2)
    saying where it looked."""
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    where = locate_state_dir(state_dir)
    stack = LocalStack.current(where.path)
    if stack is None:
        raise TargetError(f"{no_local_stack(where)}: start one with `qrie local up`", 2)
    return stack


def check_template(template: Path) -> Path:
    if not template.is_file():
        raise TargetError(
            f"no template at {template}: run qrie from the checkout, or pass --template", 2
        )
    return template


def stack_up(
    state_dir: Path,
    port: int | None,
    latency_ms: int,
    template: Path,
    runner: bool,
    concurrency: int | None,
) -> dict[str, Any]:
    """Start (or reuse) the local stack in ``state_dir`` and, unless told not to, its runner
    daemon (``python -m qrie_local.runner --state-dir …``)."""
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    check_template(template)
    already = LocalStack.current(state_dir) is not None
    try:
        stack = LocalStack.up(
            state_dir=state_dir, port=port, latency_ms=latency_ms, template=template
        )
        pid = stack.start_runner(concurrency=concurrency) if runner else None
    except LocalStackError as exc:
        raise _local_error(exc) from exc
    return {
        "already_running": already,
        "endpoint": stack.endpoint,
        "state_dir": str(state_dir),
        "outputs": dict(stack.outputs),
        "runner": {"pid": pid, "log": str(state_dir / RUNNER_LOG)} if pid else None,
    }


def stack_down(state_dir: Path, force: bool = False) -> dict[str, Any]:
    """Stop the runner daemon and the stack of ``state_dir`` (nothing running: stopped=False).
    While jobs run, a TargetError unless ``force``."""
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    stack = LocalStack.load(state_dir)
    if stack is None:
        return {"stopped": False, "state_dir": str(state_dir)}
    was_running = stack.running()
    running_jobs = stack.running_jobs() if was_running and not force else []
    if running_jobs:
        raise TargetError(
            f"{len(running_jobs)} job(s) still running ({', '.join(running_jobs)}): stop anyway "
            "with `qrie local down --force` (the state is kept: they go on after `qrie local up`)"
        )
    try:
        stack.down()
    except LocalStackError as exc:
        raise _local_error(exc) from exc
    return {"stopped": was_running, "state_dir": str(state_dir)}


def stack_status(state_dir: Path) -> dict[str, Any]:
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    stack = LocalStack.current(state_dir)
    if stack is None:
        return {"running": False, "state_dir": str(state_dir)}
    status = stack.status()
    status.pop("functions", None)  # the template's view; `qrie local status --json` has outputs
    return status


def seed_accounts(stack: LocalStack, accounts: int, seed: int) -> dict[str, Any]:
    """Create and register ``accounts`` demo member accounts; the SeedReport as JSON data."""
    from qrie_local.seed import seed as seed_stack  # noqa: PLC0415

    report = seed_stack(stack, accounts, seed=seed)
    data = render.jsonable(report)
    return dict(data) if isinstance(data, Mapping) else {"report": data}


def seeded_by_service(resources: Any) -> dict[str, int]:
    """``{account: {service: n}}`` summed per service."""
    totals = dict.fromkeys(SERVICES, 0)
    if isinstance(resources, Mapping):
        for per_service in resources.values():
            if isinstance(per_service, Mapping):
                for service, n in per_service.items():
                    totals[str(service)] = totals.get(str(service), 0) + int(n)
    return totals


SEEDED_COLUMNS = (
    Column("Service", "service", head=True),
    Column("Resources", "resources", justify="right", head=True),
    Column("Non-compliant", "non_compliant", justify="right", head=True),
)


def print_seed_report(out: Output, report: Mapping[str, Any]) -> None:
    accounts = report.get("accounts") or []
    unassumable = report.get("unassumable") or []
    suspended = report.get("suspended") or []
    seconds = report.get("seconds")
    out.print(
        f"seeded {count(accounts)} member accounts"
        + (f" in {seconds:.1f}s" if isinstance(seconds, int | float) else "")
        + f": {count(unassumable)} whose role cannot be assumed ({ids(unassumable)}), "
        f"{count(suspended)} more registered SUSPENDED ({ids(suspended)})"
    )
    expected = seeded_by_service(report.get("resources"))
    bad = seeded_by_service(report.get("non_compliant"))
    print_table(
        out,
        f"Seeded resources ({sum(expected.values())})",
        SEEDED_COLUMNS,
        (
            {"service": s, "resources": n, "non_compliant": bad.get(s, 0)}
            for s, n in expected.items()
        ),
    )


def count(value: Any) -> int:
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, list | tuple | set | dict) else 0


def ids(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


@contextlib.contextmanager
def handler_output_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr while a handler runs in a child process (which
    inherits it): its log lines go to stderr, as with ``sam local invoke``, and stdout carries
    only the result JSON."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (e.g. captured): nothing to redirect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def invoke_function(state_dir: Path, function: str, event: Any, out: Output) -> Any:
    """Run one event through ``function``'s handler in a fresh execution environment, as
    ``sam local invoke`` does. Without a running local stack a temporary one is started (and
    stopped afterwards), so the handler finds its table and queues."""
    from qrie_local.runner import InvocationError, Runner  # noqa: PLC0415
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    with contextlib.ExitStack() as cleanup:
        stack = LocalStack.current(state_dir)
        if stack is None:
            temp = Path(tempfile.mkdtemp(prefix="qrie-invoke-"))
            cleanup.callback(shutil.rmtree, temp, True)
            out.err.print(f"no local stack running: starting a temporary one in {temp}")
            try:
                stack = LocalStack.up(state_dir=temp, template=check_template(locate_template()))
            except LocalStackError as exc:
                raise _local_error(exc) from exc
            cleanup.callback(stack.down)
        if function not in stack.functions:
            raise TargetError(
                f"no function {function!r} in the template; valid: "
                + ", ".join(sorted(stack.functions)),
                exit_code=2,
            )
        try:
            with handler_output_to_stderr():
                return Runner(stack).invoke(function, event)
        except InvocationError as exc:
            error = CliError(f"{function} failed: {exc.error_type}: {exc.message}", "FunctionError")
            out.emit(
                {
                    "error": {
                        **error.body()["error"],
                        "error_type": exc.error_type,
                        "error_message": exc.message,
                        "stack_trace": exc.trace.splitlines(),
                    }
                }
            )
            out.error(error.message)
            raise typer.Exit(error.exit_code) from exc


# ---------------------------------------------------------------------------- the commands
@app.command("up")
def local_up(
    cli: Cli,
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
    template: TemplateOpt = None,
) -> None:
    """Start the local stack (template.yaml deployed on a moto server) and its runner."""
    out = cli.out
    with cli.guarded():
        state = cli.state().path
        info = stack_up(
            state, port, latency_ms, template or locate_template(), not no_runner, concurrency
        )
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


@app.command("down")
def local_down(
    cli: Cli,
    force: Annotated[bool, typer.Option("--force", help="Stop even while jobs run.")] = False,
) -> None:
    """Stop the runner and the local stack (its state is kept for the next `qrie local up`)."""
    out = cli.out
    with cli.guarded():
        info = stack_down(cli.state().path, force)
    if out.json:
        out.emit(info)
    elif info.get("stopped"):
        out.print(f"local stack stopped ({info['state_dir']})")
    else:
        out.print(f"no local stack running ({info['state_dir']})")


@app.command("status")
def local_status(cli: Cli) -> None:
    """Is the local stack up: endpoint, runner, table and queues (exit 1 when it is down)."""
    out = cli.out
    with cli.guarded():
        where = cli.state()
        info = stack_status(where.path)
    if out.json:
        out.emit(info)
    elif info.get("running"):
        out.print(render.mapping_table("Local stack", info))
    else:
        out.print(f"down: {no_local_stack(where)}; start it with `qrie local up`")
    if not info.get("running"):  # exit 1: scripts can test whether the stack is up
        raise typer.Exit(1)


@app.command("seed")
def local_seed(
    cli: Cli,
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, max=10_000, help="Member accounts to create.")
    ] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (reproducible).")] = 7,
) -> None:
    """Create N member accounts with compliant and non-compliant resources, and register them."""
    out = cli.out
    with cli.guarded():
        stack = require_stack(cli.options.state_dir)
        report = seed_accounts(stack, accounts, seed)
    if out.json:
        out.emit(report)
    else:
        print_seed_report(out, report)


@app.command("invoke")
def local_invoke(
    cli: Cli,
    function: Annotated[str, typer.Argument(help="Logical id of a function in template.yaml.")],
    event_file: Annotated[
        Path,
        typer.Argument(help="JSON event file (see events/).", exists=True, dir_okay=False),
    ],
) -> None:
    """Run one event through a function's handler, like `sam local invoke` (prints its result
    as JSON). Starts a temporary local stack when none is running."""
    out = cli.out
    out.json = True  # stdout carries the function's result, always JSON
    try:
        event = json.loads(event_file.read_text())
    except ValueError as exc:
        fail(out, CliError(f"{event_file} is not JSON: {exc}", "UsageError", 2, "event_file"))
    with cli.guarded():
        result = invoke_function(cli.state().path, function, event, out)
    out.emit(result)
