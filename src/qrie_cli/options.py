"""Every option and argument used by more than one command, defined once, with its validation.

The global options (``--json``, ``--local``, ``--stack-name``, ``--region``, ``--state-dir``)
are accepted on the root command and after any subcommand (see :mod:`qrie_cli.context`).
Validators raise ``typer.BadParameter`` naming the problem and what is valid (exit code 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from qrie.domain import FINDING_STATE_FILTERS, SERVICES, SEVERITIES
from qrie.errors import ValidationError
from qrie.models import JOB_ID_RE

GLOBAL_PANEL = "Global options (before or after the command)"
SEVERITY_CHOICES = tuple(s.value for s in SEVERITIES)
SERVICE_CHOICES = (*SERVICES, "all")
STATE_CHOICES = FINDING_STATE_FILTERS


# ---------------------------------------------------------------------------- validation
def choices(*allowed: str) -> Callable[[str | None], str | None]:
    """An option callback accepting only ``allowed`` (the message lists them)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"{value!r} is not valid; choose from {', '.join(allowed)}")
        return value

    return check


def metavar(*allowed: str) -> str:
    return "[" + "|".join(allowed) + "]"


def one_of(name: str, allowed: Sequence[str], help_text: str) -> Any:
    """An option (for ``Annotated``) whose value must be one of ``allowed``."""
    return typer.Option(name, callback=choices(*allowed), metavar=metavar(*allowed), help=help_text)


def check_accounts(value: str | None) -> str | None:
    """``--accounts``: "*" (every ACTIVE registered account) or 12-digit ids."""
    if value is None or value.strip() in {"*", "all"}:
        return value
    from qrie.accounts.registry import parse_account_list  # noqa: PLC0415

    try:
        parse_account_list(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.message.removeprefix("accounts: ")) from exc
    return value


def accounts_value(value: str | None) -> list[str] | str:
    """The ``accounts`` of a job request: "*" or the ids, de-duplicated in order."""
    if value is None or value.strip() in {"*", "all"}:
        return "*"
    from qrie.accounts.registry import parse_account_list  # noqa: PLC0415

    return parse_account_list(value)


def check_account_id(value: str | None) -> str | None:
    if value is None:
        return None
    from qrie.accounts.registry import validate_account_id  # noqa: PLC0415

    try:
        return validate_account_id(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.message) from exc


def check_policy(value: str | None) -> str | None:
    """A policy id, "<service>.*" or "*" that selects at least one policy."""
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


def check_job_id(value: str) -> str:
    if not JOB_ID_RE.fullmatch(value):
        raise typer.BadParameter(
            f"malformed job id {value!r} (e.g. inv-all-20250101T000000Z-0a1b2c; "
            "see `qrie jobs list`)"
        )
    return value


# ---------------------------------------------------------------------------- global options
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout (errors too), nothing else.",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
LocalOpt = Annotated[
    bool,
    typer.Option(
        "--local",
        help="Use the local stack (the default when one is running).",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
_STACK_HELP = "A deployed qrie stack (names read from its CloudFormation outputs)."
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack-name", envvar="QRIE_STACK_NAME", help=_STACK_HELP, rich_help_panel=GLOBAL_PANEL
    ),
]
# After a subcommand the environment is not read again: it would override the root's option.
StackAfterOpt = Annotated[
    str | None, typer.Option("--stack-name", help=_STACK_HELP, rich_help_panel=GLOBAL_PANEL)
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Region of --stack-name (default: your profile's).",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="The local stack's state directory (default: $QRIE_STATE_DIR, else the nearest "
        ".qrie/ from here upward, in the checkout).",
        rich_help_panel=GLOBAL_PANEL,
    ),
]

# ---------------------------------------------------------------------------- shared options
NoProgressOpt = Annotated[
    bool,
    typer.Option("--no-progress", help="Plain lines instead of live progress bars (CI logs)."),
]
WideOpt = Annotated[
    bool,
    typer.Option("--wide", help="Every column at full length, whatever the terminal's width."),
]
WatchOpt = Annotated[bool, typer.Option("--watch", help="Follow the job until it finishes.")]
AccountsOpt = Annotated[
    str,
    typer.Option(
        "--accounts",
        callback=check_accounts,
        help='Comma-separated 12-digit account ids, or "*" for every ACTIVE registered account.',
    ),
]
AllowUnregisteredOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unregistered",
        help="Run --accounts ids that are not registered (refused otherwise, before any work).",
    ),
]
AccountFilterOpt = Annotated[
    str | None,
    typer.Option("--account", callback=check_account_id, help="Only this 12-digit account."),
]
PolicyFilterOpt = Annotated[
    str | None,
    typer.Option("--policy", callback=check_policy, help='Only this policy id, "<svc>.*" or "*".'),
]
SeverityFilterOpt = Annotated[
    str | None,
    one_of("--severity", SEVERITY_CHOICES, "Only this severity."),
]
StateFilterOpt = Annotated[
    str,
    one_of("--state", STATE_CHOICES, "Finding state."),
]
JobIdArg = Annotated[
    str, typer.Argument(help="A job id (see `qrie jobs list`).", callback=check_job_id)
]
AccountIdArg = Annotated[
    str, typer.Argument(help="12-digit account id.", callback=check_account_id)
]
