"""``qrie inventory``: inventory jobs (S3, EC2, IAM) and whether one is running."""

from __future__ import annotations

from typing import Annotated

from qrie_cli.context import Cli, CommandGroup
from qrie_cli.jobs import job_request, report_running
from qrie_cli.options import (
    SERVICE_CHOICES,
    AccountsOpt,
    AllowUnregisteredOpt,
    NoProgressOpt,
    WatchOpt,
    one_of,
)
from qrie_cli.watch import start_job

app = CommandGroup(name="inventory", help="Inventory jobs (S3, EC2, IAM).")


@app.command("start")
def inventory_start(
    cli: Cli,
    service: Annotated[
        str,
        one_of("--service", SERVICE_CHOICES, "Service to inventory."),
    ] = "all",
    accounts: AccountsOpt = "*",
    allow_unregistered: AllowUnregisteredOpt = False,
    watch: WatchOpt = False,
    no_progress: NoProgressOpt = False,
) -> None:
    """Start an inventory job: one task per (account, service)."""
    cli.output(progress=not no_progress)
    event = job_request(
        "inventory",
        accounts,
        allow_unregistered,
        service="*" if service == "all" else service,
    )
    with cli.session() as target:
        start_job(cli.out, target, event, watch)


@app.command("status")
def inventory_status(cli: Cli) -> None:
    """`in_progress` with the running inventory jobs, or `idle`."""
    with cli.session() as target:
        report_running(cli.out, target, "inventory")
