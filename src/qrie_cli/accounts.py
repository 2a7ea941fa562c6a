"""``qrie accounts``: the registry of member accounts (add, list, remove, sync)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.text import Text

from qrie_cli import render
from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import fail, not_found
from qrie_cli.options import AccountIdArg, WideOpt
from qrie_cli.tables import print_table

app = CommandGroup(name="accounts", help="The registry of member accounts.")


@app.command("add")
def accounts_add(
    cli: Cli,
    account_id: AccountIdArg,
    name: Annotated[str | None, typer.Option("--name", help="A display name.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value (repeatable).")] = None,
) -> None:
    """Register a member account (ACTIVE)."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = cli.out
    with cli.guarded():
        tags = registry.parse_tags(tag or [])
    with cli.session() as target:
        item = registry.add_account(target.store, account_id, name, tags).to_dict()
    if out.json:
        out.emit(item)
    else:
        out.print(f"registered {item['account_id']} ({item.get('name') or 'no name'}), ACTIVE")


@app.command("list")
def accounts_list(cli: Cli, wide: WideOpt = False) -> None:
    """List registered accounts."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = cli.output(wide=wide)
    with cli.session() as target:
        accounts = [a.to_dict() for a in registry.list_accounts(target.store)]
    if out.json:
        out.emit(accounts)
        return
    if not accounts:
        out.print("no accounts registered: qrie accounts add ID, or qrie accounts sync")
        return
    counts = Counter(str(a.get("status")) for a in accounts)
    title = f"Accounts ({len(accounts)}: " + ", ".join(
        f"{n} {s.lower()}" for s, n in sorted(counts.items())
    )
    print_table(out, title + ")", render.ACCOUNT_COLUMNS, accounts)


@app.command("remove")
def accounts_remove(cli: Cli, account_id: AccountIdArg) -> None:
    """Deregister an account (its inventory and findings stay until swept)."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = cli.out
    with cli.session() as target:
        removed = registry.remove_account(target.store, account_id)
    if not removed:
        fail(out, not_found(f"account {account_id} is not registered", "account_id"))
    if out.json:
        out.emit({"removed": account_id})
    else:
        out.print(f"removed {account_id}")


@app.command("sync")
def accounts_sync(
    cli: Cli,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change, write nothing.")
    ] = False,
) -> None:
    """Register every account of the AWS Organization (ACTIVE; suspended or closed ones
    SUSPENDED). Registered accounts missing from the organization are reported, not removed."""
    from qrie.accounts import registry  # noqa: PLC0415

    out = cli.out
    with cli.session() as target:
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
        print_table(
            out,
            "Not active in the organization (registered SUSPENDED, skipped by jobs)",
            render.ORG_STATUS_COLUMNS,
            ({"account_id": a, "state": s} for a, s in sorted(report.org_statuses.items())),
        )
    if report.not_in_org:
        out.print(
            Text(
                f"{len(report.not_in_org)} registered accounts are not in the organization "
                f"(kept; `qrie accounts remove ID` to drop them): " + ", ".join(report.not_in_org),
                style="yellow",
            )
        )
