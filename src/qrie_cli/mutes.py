"""``qrie mutes``: accept a failing check for a while, with the reason. Muted findings stay
visible (state MUTED), are never deleted, drop out of ``--fail-on``, and open again when the
mute expires or is removed."""

from __future__ import annotations

from typing import Annotated

import typer

from qrie_cli.context import Cli, CommandGroup
from qrie_cli.options import WideOpt
from qrie_cli.tables import Column, print_table

app = CommandGroup(name="mutes", help="Accepted risks: mute failing checks, with a reason.")

MUTE_COLUMNS = [
    Column("Mute", "mute_id"),
    Column("Policy", "policy"),
    Column("Account", "account"),
    Column("Resource", "resource", priority=1),
    Column("Expires", "expires_at", priority=2),
    Column("Reason", "reason", wrap=True, priority=3),
]


@app.command("add")
def mutes_add(
    cli: Cli,
    reason: Annotated[str, typer.Option("--reason", help="Why this risk is accepted.")],
    policy: Annotated[
        str, typer.Option("--policy", help='A policy id, "<service>.*" or "*".')
    ] = "*",
    account: Annotated[str, typer.Option("--account", help="A 12-digit account or *.")] = "*",
    resource: Annotated[
        str, typer.Option("--resource", help="A shell-style pattern on the resource ARN.")
    ] = "*",
    days: Annotated[
        int, typer.Option("--days", min=1, max=366, help="How long it lasts (it always ends).")
    ] = 90,
) -> None:
    """Mute the failing checks that match (now, and at every scan until it expires)."""
    from qrie.scan import mutes  # noqa: PLC0415

    out = cli.output()
    with cli.session() as target:
        mute = mutes.new_mute(policy, account, resource, reason, days)
        muted = mutes.add_mute(target.store, mute)
    if out.json:
        out.emit({**mute.to_dict(), "findings_muted": muted})
        return
    out.print(f"added {mute.mute_id} (until {mute.expires_at[:10]}): {muted} findings muted")


@app.command("list")
def mutes_list(cli: Cli, wide: WideOpt = False) -> None:
    """Every mute, with its expiry."""
    out = cli.output(wide=wide)
    with cli.session() as target:
        records = [m.to_dict() for m in target.store.list_mutes()]
    if out.json:
        out.emit(records)
        return
    if not records:
        out.print("no mutes")
        return
    print_table(out, f"Mutes ({len(records)})", MUTE_COLUMNS, records)


@app.command("remove")
def mutes_remove(
    cli: Cli, mute_id: Annotated[str, typer.Argument(help="The mute's id (see `mutes list`).")]
) -> None:
    """Remove a mute: the findings it muted open again."""
    from qrie.scan import mutes  # noqa: PLC0415

    out = cli.output()
    with cli.session() as target:
        opened = mutes.remove_mute(target.store, mute_id)
    if out.json:
        out.emit({"mute_id": mute_id, "findings_opened": opened})
        return
    out.print(f"removed {mute_id}: {opened} findings open again")
