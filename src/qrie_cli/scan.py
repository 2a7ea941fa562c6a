"""``qrie scan``: policy scan jobs over the stored inventory, and whether one is running."""

from __future__ import annotations

from typing import Annotated

import typer

from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import usage_error
from qrie_cli.gate import FailOnOpt
from qrie_cli.jobs import job_request, report_running
from qrie_cli.options import (
    AccountsOpt,
    AllowUnregisteredOpt,
    NoProgressOpt,
    WatchOpt,
    check_policy,
)
from qrie_cli.watch import start_job

app = CommandGroup(name="scan", help="Policy scan jobs.")


@app.command("start")
def scan_start(
    cli: Cli,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            callback=check_policy,
            help='A policy id, "<service>.*" or "*" (see `qrie policies list`).',
        ),
    ] = "*",
    accounts: AccountsOpt = "*",
    allow_unregistered: AllowUnregisteredOpt = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Inventory each account first, then scan it.")
    ] = False,
    watch: WatchOpt = False,
    no_progress: NoProgressOpt = False,
    fail_on: FailOnOpt = None,
) -> None:
    """Start a scan job: evaluate policies over the stored inventory (`--watch --fail-on high`
    in a pipeline: exit 3 when it leaves an open high or critical finding)."""
    cli.output(progress=not no_progress)
    with cli.guarded():
        if fail_on is not None and not watch:
            raise usage_error("--fail-on needs --watch (the job's findings exist when it ends)")
    event = job_request("scan", accounts, allow_unregistered, policy=policy, refresh=refresh)
    with cli.session() as target:
        start_job(cli.out, target, event, watch, fail_on)


@app.command("status")
def scan_status(cli: Cli) -> None:
    """`in_progress` with the running scan jobs, or `idle`."""
    with cli.session() as target:
        report_running(cli.out, target, "scan")
