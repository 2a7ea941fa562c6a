"""``--fail-on SEVERITY``: what a pipeline needs from a scanner. Exit code 3 when an OPEN
finding (muted ones excluded) of that severity or a worse one exists in scope -- after a
watched scan job, the job's accounts and policies; for ``findings list``, the listed scope."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from rich.text import Text

from qrie_cli.errors import FINDINGS
from qrie_cli.options import SEVERITY_CHOICES, one_of
from qrie_cli.output import Output
from qrie_cli.target import Target

FailOnOpt = Annotated[
    str | None,
    one_of(
        "--fail-on",
        SEVERITY_CHOICES,
        "Exit 3 when an open finding of this severity or worse exists (muted ones excluded).",
    ),
]


def open_at_least(
    target: Target, severity: str, accounts: Iterable[str] | None, policy: str | None
) -> int:
    from qrie.policies.registry import all_policies, select  # noqa: PLC0415
    from qrie.scan.findings import open_at_least as count  # noqa: PLC0415

    policies = all_policies() if policy in (None, "*") else {p.id: p for p in select(str(policy))}
    if accounts is None:
        return count(target.store, severity, None, policies)
    from qrie.domain import Severity  # noqa: PLC0415
    from qrie.scan.findings import iter_findings  # noqa: PLC0415

    ids = set(policies)
    threshold = Severity.parse(severity)
    return sum(
        1
        for account in accounts
        for finding in iter_findings(target.store, account=account, state="open")
        if finding.policy_id in ids and finding.severity.rank <= threshold.rank
    )


def gate(out: Output, count: int, severity: str) -> int:
    """The exit code ``--fail-on`` asks for, said on stderr."""
    if not count:
        return 0
    out.err.print(
        Text(f"--fail-on {severity}: {count} open finding(s) of {severity} or worse", style="red")
    )
    return FINDINGS


def job_scope(target: Target, job_id: str) -> tuple[list[str], str | None]:
    """The accounts and the policy spec of a job (from its tasks and its record)."""
    job = target.store.get_job(job_id)
    accounts = sorted({t.account_id for t in target.store.iter_tasks(job_id)})
    return accounts, job.policy if job is not None else None
