"""The ``qrie`` command line: the root command, its global options, and the command groups.

One module per noun holds its commands: accounts, inventory, scan, jobs, findings, policies and
local are :class:`~qrie_cli.context.CommandGroup` s, demo a single command. Each is added to the
root by a ``register(root)`` callable in :data:`COMMANDS`: adding a group is one line there.

Every command that talks to a stack resolves a :class:`~qrie_cli.target.Target` (the running
local stack by default, found from any directory of the checkout, or ``--stack-name`` for a
deployed one) and goes through the job handler for anything that starts or changes jobs,
exactly as a script calling the deployed function would.

Exit codes (:mod:`qrie_cli.errors`): 0 success; 1 a job that finished with errors, failed or was
cancelled, something not found, an AWS error; 2 a usage error or a refused request.
``--json`` prints one JSON document on stdout and nothing else (usage errors included);
``--no-progress`` prints plain lines instead of live progress bars (CI logs); ``--wide`` shows
tables whole, whatever the terminal's width.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from qrie_cli import (
    accounts,
    compliance,
    demo,
    findings,
    inventory,
    jobs,
    local,
    mutes,
    policies,
    scan,
)
from qrie_cli.console import command as console_command
from qrie_cli.context import GlobalOptions, set_root_options
from qrie_cli.errors import JsonErrorsGroup
from qrie_cli.options import JsonOpt, LocalOpt, RegionOpt, StackOpt, StateDirOpt

COMMANDS: tuple[Callable[[typer.Typer], None], ...] = (
    accounts.app.register,
    inventory.app.register,
    scan.app.register,
    jobs.app.register,
    findings.app.register,
    compliance.app.register,
    mutes.app.register,
    policies.app.register,
    local.app.register,
    demo.register,
    console_command.register,
)

app = typer.Typer(
    name="qrie",
    cls=JsonErrorsGroup,
    help="Multi-account AWS inventory and security-policy scanning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    json_: JsonOpt = False,
    local_: LocalOpt = False,
    stack_name: StackOpt = None,
    region: RegionOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Multi-account AWS inventory and security-policy scanning.

    The global options may be given here or after the command
    (`qrie --stack-name qrie-dev accounts sync` = `qrie accounts sync --stack-name qrie-dev`)."""
    set_root_options(
        ctx,
        GlobalOptions(
            json=json_, local=local_, stack_name=stack_name, region=region, state_dir=state_dir
        ),
    )


for register in COMMANDS:
    register(app)


def main() -> None:
    """Console-script entry point (``qrie``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
