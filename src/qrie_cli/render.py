"""How qrie's records read in a terminal: accounts, jobs, tasks, findings, policies, summaries.

Each table is declared with :class:`~qrie_cli.tables.Column` specs, so it fits the terminal
(identifiers whole; other columns shortened, then dropped by priority) and ``--wide`` shows it
whole. Records arrive in the JSON vocabulary (``to_dict()``: snake_case keys).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from qrie.domain import SEVERITIES as DOMAIN_SEVERITIES
from qrie.domain import JobStatus
from qrie_cli.output import Output
from qrie_cli.tables import Column, Record, cell, print_table, styled

SEVERITIES = tuple(s.value for s in DOMAIN_SEVERITIES)
STATUS_STYLE = {
    JobStatus.COMPLETED: "green",
    JobStatus.COMPLETED_WITH_ERRORS: "yellow",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "magenta",
    JobStatus.IN_PROGRESS: "cyan",
    "PENDING": "cyan",
    "SUCCEEDED": "green",
    "ACTIVE": "green",
    "SUSPENDED": "yellow",
    "OPEN": "red",
    "RESOLVED": "green",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "blue"}


def status(value: Any) -> Text:
    return styled(value, STATUS_STYLE)


def severity(value: Any) -> Text:
    return styled(value, SEVERITY_STYLE)


# ---------------------------------------------------------------------------- shortening
def short_time(value: Any) -> str:
    """``2024-05-01T12:00:00.123456Z`` -> ``2024-05-01T12:00:00Z``."""
    text = "" if value is None else str(value)
    return text[:19] + "Z" if len(text) > 20 and text.endswith("Z") else text or "-"


def arn_resource(arn: str) -> str:
    """An ARN's resource part (``arn:aws:iam::1:user/alice`` -> ``user/alice``; an S3 bucket's
    ARN -> its name); anything else unchanged. The account and service are other columns."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 and parts[0] == "arn" and parts[5] else arn


def _status(key: str) -> Callable[[Record], Text]:
    return lambda record: status(record.get(key))


def _severity(key: str) -> Callable[[Record], Text]:
    return lambda record: severity(record.get(key))


# ---------------------------------------------------------------------------- accounts
ACCOUNT_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Name", "name", wrap=True, min_width=12, priority=1, head=True),
    Column("Status", _status("status"), head=True),
    Column("Tags", "tags", wrap=True, min_width=12, priority=2),
    Column("Source", "source", priority=3),
)
ORG_STATUS_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Organizations state", "state", head=True),
)


# ---------------------------------------------------------------------------- jobs
def job_scope(job: Record) -> str:
    if job.get("operation") == "scan":
        scope = str(job.get("policy") or "*")
        return scope + (" (+refresh)" if job.get("refresh") else "")
    return str(job.get("service") or "*")


def progress_text(job: Record) -> str:
    total = int(job.get("total", 0))
    done = int(job.get("succeeded", 0)) + int(job.get("failed", 0))
    pct = 100 * done / total if total else 100.0
    return f"{done}/{total} ({pct:.0f}%)"


JOB_COLUMNS = (
    Column("Job", "job_id", head=True),
    Column("Status", _status("status"), head=True),
    Column("Progress", progress_text, priority=1, head=True),
    Column("Failed", "failed", priority=2, justify="right"),
    Column(
        "Created",
        lambda j: short_time(j.get("created_at")),
        priority=3,
        short=lambda t: t[:16].replace("T", " "),
    ),
    Column("Scope", job_scope, priority=4),
    Column("Accounts", "total_accounts", priority=5, justify="right"),
    Column("Operation", "operation", priority=6),
)


def job_details(job: Record) -> Table:
    """A job as name/value lines (values fold; the job id is one word, never cut)."""
    out = Table.grid(padding=(0, 2))
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("Job", job.get("job_id")),
        ("Operation", job.get("operation")),
        ("Scope", job_scope(job)),
        ("Status", status(job.get("status"))),
        ("Progress", progress_text(job)),
        ("Succeeded", job.get("succeeded", 0)),
        ("Failed", job.get("failed", 0)),
        ("Accounts", job.get("total_accounts", 0)),
        ("Skipped accounts", job.get("skipped_count", 0)),
        ("Created", job.get("created_at")),
        ("Finished", job.get("finished_at")),
    ]
    if job.get("retry_of"):
        rows.append(("Retry of", job.get("retry_of")))
    for name, value in rows:
        out.add_row(name, cell(value))
    return out


TASK_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Service", "service", priority=2, head=True),
    Column("Kind", "kind", priority=3, head=True),
    Column("Status", _status("status"), head=True),
    Column("Reason", "reason", wrap=True, min_width=20),
    Column("Attempts", "attempts", priority=4, justify="right"),
    Column("Resources", "resource_count", priority=5, justify="right"),
    Column("Open findings", "open_findings", priority=6, justify="right"),
)
FAILURE_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Failed", "failed", priority=2, justify="right", head=True),
    Column("Tasks", "tasks", priority=1),
    Column("Reason", "reason", wrap=True, min_width=24),
)
SKIPPED_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Reason", "reason", wrap=True, min_width=20),
)


def failures_by_account(tasks: Iterable[Record]) -> list[dict[str, Any]]:
    """One record per account: how many of its tasks failed, which, and why (one reason when
    they share it, else one line per task)."""
    grouped: dict[str, list[Record]] = defaultdict(list)
    for task in tasks:
        grouped[str(task.get("account_id"))].append(task)
    rows = []
    for account, failed in sorted(grouped.items()):
        what = [f"{t.get('kind')}/{t.get('service')}" for t in failed]
        reasons = [str(t.get("reason") or "-") for t in failed]
        if len(set(reasons)) == 1:
            reason = reasons[0]
        else:
            reason = "\n".join(f"{w}: {r}" for w, r in zip(what, reasons, strict=True))
        rows.append(
            {
                "account_id": account,
                "failed": len(failed),
                "tasks": "\n".join(what),
                "reason": reason,
            }
        )
    return rows


def print_failures(out: Output, failed: Sequence[Record], title: str = "Failed tasks") -> None:
    print_table(out, title, FAILURE_COLUMNS, failures_by_account(failed))


def print_skipped(out: Output, job: Record) -> None:
    skipped = job.get("skipped_accounts") or []
    if skipped:
        title = f"Skipped accounts ({job.get('skipped_count') or len(skipped)})"
        print_table(out, title, SKIPPED_COLUMNS, skipped)


# ---------------------------------------------------------------------------- findings
FINDING_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Severity", _severity("severity"), priority=2, head=True),
    Column("Policy", "policy_id", head=True),
    Column("Resource", "resource_arn", wrap=True, min_width=24, short=arn_resource),
    Column("Evidence", "evidence", wrap=True, min_width=24),
    Column("State", _status("state"), priority=5),
    Column("Region", "region", priority=4),
    Column("Last seen", "last_seen", priority=3, short=short_time),
)


def print_findings(out: Output, title: str, findings: Sequence[Record], show_state: bool) -> None:
    """Findings, most useful columns first. Below about 100 columns each finding is a short
    block (account, severity and policy on one line; resource and evidence whole below)."""
    columns = [c for c in FINDING_COLUMNS if show_state or c.header != "State"]
    print_table(out, title, columns, findings)


def _severity_rank(value: Any) -> int:
    text = str(value).lower()
    return SEVERITIES.index(text) if text in SEVERITIES else len(SEVERITIES)


def _count_of(severity_name: str) -> Callable[[Record], int]:
    return lambda account: int((account.get("by_severity") or {}).get(severity_name, 0))


SUMMARY_POLICY_COLUMNS = (
    Column("Policy", "policy_id", head=True),
    Column("Severity", _severity("severity"), head=True),
    Column("Open", "open", justify="right", head=True),
    Column("Accounts", "accounts", justify="right", priority=1),
)
SUMMARY_ACCOUNT_COLUMNS = (
    Column("Account", "account_id", head=True),
    Column("Open", "open", justify="right", head=True),
    *(Column(s, _count_of(s), justify="right", priority=1) for s in SEVERITIES),
)


def print_summary(out: Output, summary: Record, by_account: bool = True) -> None:
    """Open findings by policy x severity (and by account) from a findings summary."""
    by_severity = summary.get("by_severity") or {}
    out.print(
        Text.assemble(
            (f"{summary.get('open', 0)} open findings", "bold"),
            ": ",
            *(
                part
                for sev in SEVERITIES
                for part in ((f"{by_severity.get(sev, 0)} {sev}", SEVERITY_STYLE[sev]), "  ")
            ),
        )
    )
    policies = sorted(
        ({"policy_id": p, **entry} for p, entry in (summary.get("by_policy") or {}).items()),
        key=lambda e: (_severity_rank(e.get("severity")), e["policy_id"]),
    )
    print_table(out, "Open findings by policy and severity", SUMMARY_POLICY_COLUMNS, policies)
    if by_account:
        accounts = [{"account_id": a, **e} for a, e in (summary.get("by_account") or {}).items()]
        print_table(out, "Open findings by account", SUMMARY_ACCOUNT_COLUMNS, accounts)


# ---------------------------------------------------------------------------- policies
POLICY_COLUMNS = (
    Column("Policy", "id", head=True),
    Column("Severity", _severity("severity"), head=True),
    Column("Title", "title", wrap=True, min_width=24),
    Column("CIS", lambda p: "\n".join(p["cis"]) or "-", priority=1),
)


# ---------------------------------------------------------------------------- generic
def jsonable(value: Any) -> Any:
    """Dataclasses, mappings, sets and paths as plain JSON values."""
    import dataclasses  # noqa: PLC0415
    from pathlib import PurePath  # noqa: PLC0415

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, PurePath):
        return str(value)
    return value


def mapping_table(title: str | None, values: Mapping[str, Any]) -> Table:
    """Two columns, key and value; nested mappings are flattened as ``a.b``."""
    out = Table(title=Text(title, style="bold") if title else None, title_justify="left")
    out.show_header = False
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            out.add_row(Text(prefix), cell(value))

    add("", jsonable(values))
    return out
