"""``qrie policies``: the security policies qrie evaluates."""

from __future__ import annotations

from typing import Annotated, Any

from qrie.domain import SERVICES
from qrie_cli import render
from qrie_cli.context import Cli, CommandGroup
from qrie_cli.options import WideOpt, one_of
from qrie_cli.tables import print_table

app = CommandGroup(name="policies", scope="none", help="The security policies qrie evaluates.")


@app.command("list")
def policies_list(
    cli: Cli,
    service: Annotated[
        str | None,
        one_of("--service", SERVICES, "Only this service."),
    ] = None,
    wide: WideOpt = False,
) -> None:
    """Every policy: id, severity, CIS ids, title."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415

    out = cli.output(wide=wide)
    policies = [p for p in all_policies().values() if service in {None, p.service}]
    policies.sort(key=lambda p: (p.service, p.severity.rank, p.id))
    records: list[dict[str, Any]] = [
        {
            "id": p.id,
            "service": p.service,
            "severity": p.severity.value,
            "cis": p.cis_ids(),
            "title": p.title,
            "resource_types": sorted(p.resource_types),
            "rationale": p.rationale,
            "remediation": p.remediation,
        }
        for p in policies
    ]
    if out.json:
        out.emit(records)
        return
    print_table(out, f"Policies ({len(records)})", render.POLICY_COLUMNS, records)
