"""``qrie compliance``: compliance with the CIS AWS Foundations Benchmark, per control and
account (pass / fail / unknown / not assessed), with scores and the manifest of every
requested account. Formats: a table (default), json, csv, ocsf (passes included)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import CliError
from qrie_cli.findings import check_output, replacing
from qrie_cli.options import AccountsOpt, WideOpt, accounts_value, one_of
from qrie_cli.tables import Column, print_table, styled

app = CommandGroup(name="compliance", help="Compliance with the CIS AWS Foundations Benchmark.")

FRAMEWORK_CHOICES = ("cis-3.0", "cis-5.0")
FORMAT_CHOICES = ("table", "json", "csv", "ocsf")
STATUS_STYLES = {
    "pass": "green",
    "fail": "red",
    "unknown": "yellow",
    "not_assessed": "magenta",
}


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _pct(record: Mapping[str, Any]) -> str:
    return _score(record.get("score"))


SECTION_COLUMNS = [
    Column("Section", "section"),
    Column("Pass", "pass", justify="right"),
    Column("Fail", "fail", justify="right"),
    Column("Unknown", "unknown", justify="right", priority=2),
    Column("Not assessed", "not_assessed", justify="right", priority=1),
    Column("Score", _pct, justify="right"),
]
ACCOUNT_COLUMNS = [Column("Account", "account"), *SECTION_COLUMNS[1:]]
CONTROL_COLUMNS = [
    Column("Control", "control_id"),
    Column("Account", "account_id"),
    Column("Status", lambda r: styled(r["status"], STATUS_STYLES)),
    Column("Pass", "passed", justify="right", priority=2),
    Column("Fail", "failed", justify="right", priority=2),
    Column("Reason", "reason", priority=3, wrap=True),
]
MANIFEST_COLUMNS = [
    Column("Account", "account_id"),
    Column("State", "state"),
    Column("Reason", "reason", wrap=True, priority=1),
]


@app.command("report")
def compliance_report_command(
    cli: Cli,
    framework: Annotated[
        str, one_of("--framework", FRAMEWORK_CHOICES, "The benchmark version.")
    ] = "cis-3.0",
    accounts: AccountsOpt = "*",
    fmt: Annotated[str, one_of("--format", FORMAT_CHOICES, "Output format.")] = "table",
    controls: Annotated[
        bool, typer.Option("--controls", help="Also list every (control, account) result.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists.")
    ] = False,
    wide: WideOpt = False,
) -> None:
    """Per control and account: pass / fail / unknown / not assessed; scores per account and
    section; what happened to every requested account."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415
    from qrie.scan.compliance import (  # noqa: PLC0415
        compliance_report,
        framework_controls,
        write_report,
    )

    out = cli.output(wide=wide)
    with cli.guarded():
        if output is not None:
            check_output(output, force)
    wanted = accounts_value(accounts)
    with cli.session() as target:
        policies = all_policies()
        report = compliance_report(
            target.store,
            framework,
            framework_controls(framework, policies),
            policies,
            None if wanted == "*" else list(wanted),
        )
        if fmt != "table" or out.json:
            fmt = "json" if fmt == "table" else fmt
            if output is None:
                write_report(report, fmt, sys.stdout, target.store, policies)
                return
            try:
                with replacing(output) as stream:
                    written = write_report(report, fmt, stream, target.store, policies)
            except OSError as exc:
                raise CliError(f"cannot write {output}: {exc.strerror}", field="output") from exc
            out.note(f"wrote {written} results ({fmt}) to {output}")
            return
    print_report(out, report, controls)


def print_report(out: Any, report: Any, controls: bool = False) -> None:
    """The report as tables: sections, accounts, the manifest, and optionally every result."""
    totals = report.to_dict()["totals"]
    out.print(
        Text.assemble(
            (f"{report.framework}", "bold"),
            f": {totals['pass']} pass, {totals['fail']} fail, {totals['unknown']} unknown, "
            f"{totals['not_assessed']} not assessed (control x account); score ",
            (_score(totals["score"]), "bold"),
        )
    )
    covered = sum(1 for c in report.controls if c.covered)
    out.note(
        f"{covered} of {len(report.controls)} controls checked by qrie "
        f"({sum(1 for c in report.controls if c.automated)} automated in the benchmark)"
    )
    sections = [{"section": k, **v} for k, v in report.by_section().items()]
    print_table(out, "By section", SECTION_COLUMNS, sections)
    accounts = [{"account": k, **v} for k, v in report.by_account().items()]
    if accounts:
        print_table(out, "By account", ACCOUNT_COLUMNS, accounts)
    print_table(out, "Accounts requested", MANIFEST_COLUMNS, [m.to_dict() for m in report.manifest])
    if controls:
        print_table(out, "Results", CONTROL_COLUMNS, [r.to_dict() for r in report.results])
