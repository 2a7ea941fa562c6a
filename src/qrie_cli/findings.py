"""``qrie findings``: list, summarize and export the findings of the policy scans.

``list`` and ``export`` take the same filters (account, policy, severity, state). ``list`` says
when it shows fewer findings than match ("showing 100 of 2,345", counting at most
:data:`COUNT_CAP` more: "of more than 10,100"); ``export`` writes a whole
file or nothing: to a temporary file beside ``--output``, renamed over it at the end, and it
never replaces an existing file without ``--force``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from qrie_cli import render
from qrie_cli.context import Cli, CommandGroup
from qrie_cli.errors import CliError, usage_error
from qrie_cli.gate import FailOnOpt, gate, open_at_least
from qrie_cli.options import (
    AccountFilterOpt,
    PolicyFilterOpt,
    SeverityFilterOpt,
    StateFilterOpt,
    WideOpt,
    one_of,
)
from qrie_cli.target import Target

if TYPE_CHECKING:
    from qrie.domain import Finding

app = CommandGroup(name="findings", help="Findings of the policy scans.")

FORMAT_CHOICES = ("json", "csv", "ocsf")
DEFAULT_LIMIT = 100
COUNT_CAP = 10_000  # findings counted beyond the shown ones, at most (each is read to count it)


def matching(
    target: Target,
    account: str | None = None,
    policy: str | None = None,
    severity: str | None = None,
    state: str = "open",
) -> Iterator[Finding]:
    """The findings matching every filter, streamed. ``policy`` is a policy id, "<svc>.*"
    (one query per policy of the service) or "*" / None (every policy)."""
    from qrie.policies.registry import select  # noqa: PLC0415
    from qrie.scan.findings import iter_findings  # noqa: PLC0415

    policy_ids: list[str | None] = (
        [None] if policy in {None, "*"} else [p.id for p in select(str(policy))]
    )
    return itertools.chain.from_iterable(
        iter_findings(target.store, account=account, policy=pid, severity=severity, state=state)
        for pid in policy_ids
    )


@app.command("list")
def findings_list(
    cli: Cli,
    account: AccountFilterOpt = None,
    policy: PolicyFilterOpt = None,
    severity: SeverityFilterOpt = None,
    state: StateFilterOpt = "open",
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="At most this many (0: every one).")
    ] = DEFAULT_LIMIT,
    wide: WideOpt = False,
    fail_on: FailOnOpt = None,
) -> None:
    """List findings (open by default); says how many match when it shows fewer."""
    out = cli.output(wide=wide)
    with cli.session() as target:
        found = matching(target, account, policy, severity, state)
        findings = [f.to_dict() for f in (itertools.islice(found, limit) if limit else found)]
        # the rest is counted (read, not kept), up to COUNT_CAP more
        rest = sum(1 for _ in itertools.islice(found, COUNT_CAP + 1))
    if out.json:
        out.emit(findings)
    elif not findings:
        out.print(f"no {state if state != 'all' else ''} findings".replace("  ", " "))
    else:
        title = f"Findings ({len(findings)} {state})" if state != "all" else "Findings"
        render.print_findings(out, title, findings, show_state=state == "all")
    if rest:
        total = (
            f"more than {len(findings) + COUNT_CAP:,}"
            if rest > COUNT_CAP
            else f"{len(findings) + rest:,}"
        )
        out.note(f"showing {len(findings)} of {total} — use --limit 0 for all")
    if fail_on is not None:
        with cli.session() as target:
            accounts = [account] if account else None
            code = gate(out, open_at_least(target, fail_on, accounts, policy), fail_on)
        if code:
            raise typer.Exit(code)


@app.command("summary")
def findings_summary(cli: Cli, wide: WideOpt = False) -> None:
    """Open findings by policy and severity, and by account."""
    from qrie.scan.findings import summary  # noqa: PLC0415

    out = cli.output(wide=wide)
    with cli.session() as target:
        result = summary(target.store)
    if out.json:
        out.emit(render.jsonable(result))
        return
    render.print_summary(out, result)


def check_output(path: Path, force: bool) -> None:
    """``--output`` must name a file in an existing directory; an existing file only with
    ``--force``. Checked before any work."""
    if path.is_dir():
        raise usage_error(f"--output {path} is a directory: name a file in it", "output")
    parent = path.parent
    if not parent.is_dir():
        raise usage_error(f"--output {path}: directory {parent} does not exist", "output")
    if path.exists() and not force:
        raise usage_error(f"--output {path} exists: pass --force to replace it", "output")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A stream to a temporary file beside ``path``, renamed over it when the block ends
    without error (removed otherwise): ``path`` holds the old file or the whole new one."""
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CliError(f"cannot write in {path.parent}: {exc.strerror}", field="output") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@app.command("export")
def findings_export(
    cli: Cli,
    fmt: Annotated[
        str,
        one_of("--format", FORMAT_CHOICES, "Output format."),
    ] = "json",
    account: AccountFilterOpt = None,
    policy: PolicyFilterOpt = None,
    severity: SeverityFilterOpt = None,
    state: StateFilterOpt = "open",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists.")
    ] = False,
) -> None:
    """Export findings (streamed) as JSON, CSV or OCSF, with the filters of `findings list`."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415
    from qrie.scan.export import export  # noqa: PLC0415

    out = cli.out
    with cli.guarded():
        if output is not None:
            check_output(output, force)
    written = 0
    with cli.session() as target:
        findings = matching(target, account, policy, severity, state)
        if output is None:
            written = export(findings, fmt, sys.stdout, all_policies())
        else:
            try:
                with replacing(output) as stream:
                    written = export(findings, fmt, stream, all_policies())
            except OSError as exc:
                raise CliError(f"cannot write {output}: {exc.strerror}", field="output") from exc
    if output is None:
        return
    if out.json:
        out.emit({"output": str(output), "format": fmt, "written": written})
        return
    out.print(f"wrote {written} findings ({fmt}) to {output}")
