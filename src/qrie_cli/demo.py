"""``qrie demo``: the whole pipeline locally, from nothing to a summary (``make demo``).

It starts a local stack in the checkout's ``.qrie`` (or, when one already runs there, a second
one in a temporary directory that it stops afterwards, so two are never left running), seeds N
member accounts, runs the event-source runner in this process, starts an inventory of every
service over every account and then a scan of every policy, both through the job handler with
live progress, prints accounts, resources by service, findings by policy and severity and the
failed tasks with their reasons, and writes the same figures with the time of each phase to
``demo-report.json``. The account whose role cannot be assumed is part of the demo: its failed
tasks are expected and shown, not an error.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from qrie.domain import SERVICES, JobStatus
from qrie.scan.compliance import ComplianceReport
from qrie.store.table import Store
from qrie_cli import render
from qrie_cli.compliance import print_report
from qrie_cli.context import Cli, with_global_options
from qrie_cli.local import (
    RUNNER_LOG,
    check_template,
    count,
    print_seed_report,
    seed_accounts,
    seeded_by_service,
    stack_down,
)
from qrie_cli.options import NoProgressOpt
from qrie_cli.output import Output
from qrie_cli.tables import Column, print_table
from qrie_cli.target import LocalTarget, TargetError, locate_state_dir, locate_template
from qrie_cli.watch import job_result, watch_job


# ---------------------------------------------------------------------------- the demo
class Phases:
    """Seconds per phase of the demo."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.monotonic()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - start, 2)

    def total(self) -> float:
        return round(time.monotonic() - self._start, 2)


def _demo_state_dir(out: Output, keep: bool, state_dir: Path | None) -> tuple[Path, bool]:
    """Where the demo's stack runs, and whether that directory is temporary. Never two stacks
    left running: with --keep the running one is stopped first; without it the demo runs its
    own in a temporary directory and stops it at the end."""
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    home = locate_state_dir(state_dir).path
    if LocalStack.current(home) is None:
        return home, False
    if keep:
        out.note(f"stopping the local stack running from {home}/ (--keep replaces it)")
        stack_down(home, force=True)
        return home, False
    temp = Path(tempfile.mkdtemp(prefix="qrie-demo-"))
    out.note(
        f"a local stack already runs from {home}/: the demo uses its own in {temp} "
        "and stops it at the end"
    )
    return temp, True


def resource_counts(store: Store, accounts: list[str]) -> dict[str, Any]:
    """Resources in the table: per service, and per account and service."""
    by_service = dict.fromkeys(SERVICES, 0)
    by_account: dict[str, dict[str, int]] = {}
    for account in accounts:
        row = {}
        for service in SERVICES:
            n = store.count_resources(account, service)
            row[service] = n
            by_service[service] += n
        by_account[account] = row
    return {"total": sum(by_service.values()), "by_service": by_service, "by_account": by_account}


def _job_figures(result: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    job = result["job"]
    return {
        "job_id": job.get("job_id"),
        "status": job.get("status"),
        "tasks": job.get("total", 0),
        "succeeded": job.get("succeeded", 0),
        "failed": job.get("failed", 0),
        "accounts": job.get("total_accounts", 0),
        "skipped_accounts": job.get("skipped_accounts") or [],
        "seconds": seconds,
        "tasks_per_second": round(int(job.get("total", 0)) / seconds, 1) if seconds else None,
    }


def _run_job(out: Output, target: LocalTarget, event: dict[str, Any], label: str) -> dict[str, Any]:
    response = target.invoke(event)
    if "error" in response:
        raise TargetError(f"the job handler refused the {label}: {response['error']['message']}")
    out.note(
        f"{label}: job {response['job_id']}, {response['total_tasks']} tasks over "
        f"{response['total_accounts']} accounts"
        + (f" ({response['skipped_accounts']} skipped)" if response.get("skipped_accounts") else "")
    )
    job = watch_job(target.store, str(response["job_id"]), out, label=label)
    return job_result(target.store, job)


def run_demo(
    out: Output,
    accounts: int = 12,
    concurrency: int | None = None,
    report_path: Path = Path("demo-report.json"),
    keep: bool = False,
    seed: int = 7,
    template: Path | None = None,
    state_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the whole demo; returns the report (also written to ``report_path``). Raises
    TargetError when the demo could not run or a job failed outright."""
    from qrie.scan.findings import summary  # noqa: PLC0415
    from qrie_local.runner import Runner  # noqa: PLC0415
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    template = check_template(template or locate_template())
    phases = Phases()
    with phases.phase("prepare"):
        state_dir, temporary = _demo_state_dir(out, keep, state_dir)
    with contextlib.ExitStack() as cleanup:
        if temporary:
            cleanup.callback(shutil.rmtree, state_dir, True)
        with phases.phase("stack_up"):
            try:
                # from nothing; its state is saved (over the last one) only with --keep
                stack = LocalStack.up(
                    state_dir=state_dir, template=template, persist=keep, restore=False
                )
            except LocalStackError as exc:
                raise TargetError(str(exc)) from exc
        if not keep:
            cleanup.callback(stack.down)
        out.note(f"local stack at {stack.endpoint} (state in {state_dir}/)")

        with phases.phase("seed"):
            seeded = seed_accounts(stack, accounts, seed)
        if not out.json:
            print_seed_report(out, seeded)

        runner = Runner(stack, max_concurrency=concurrency, log_path=state_dir / RUNNER_LOG).start()
        with contextlib.ExitStack() as running:
            running.callback(runner.stop)
            target = LocalTarget(stack)
            running.callback(target.close)
            with phases.phase("inventory"):
                inventory = _run_job(
                    out, target, {"operation": "inventory", "service": "*"}, "inventory"
                )
            with phases.phase("scan"):
                scan = _run_job(out, target, {"operation": "scan", "policy": "*"}, "scan")
            with phases.phase("summary"):
                registered = [a.account_id for a in target.store.list_accounts()]
                resources = resource_counts(target.store, sorted(registered))
                findings = summary(target.store)
                compliance = _compliance(target.store)
            runner_stats = runner.stats()
            with phases.phase("runner_stop"):  # in-flight invocations finish, slots stop
                running.close()
        if keep:
            with phases.phase("runner_daemon"):
                stack.start_runner(concurrency=concurrency)
        endpoint = stack.endpoint
        with phases.phase("stack_down" if not keep else "cleanup"):
            cleanup.close()
    report = build_report(
        accounts, seed, endpoint, seeded, inventory, scan, resources, findings, phases
    )
    report["compliance"] = compliance.to_dict()
    report["runner"] = runner_stats
    report["kept"] = keep
    report["timings"]["total"] = phases.total()
    report_path.write_text(json.dumps(render.jsonable(report), indent=2) + "\n", encoding="utf-8")
    if not out.json:
        print_demo_summary(out, report, report_path, keep, state_dir, compliance)
    for name, result in (("inventory", inventory), ("scan", scan)):
        status = result["job"].get("status")
        if status in {JobStatus.FAILED, JobStatus.CANCELLED}:
            raise TargetError(f"the demo's {name} job ended {status}: no task succeeded")
    unexpected = report["accounts"]["unexpected_failures"]
    if unexpected:
        raise TargetError(
            "tasks failed in accounts that should have worked: " + ", ".join(unexpected)
        )
    return report


def _compliance(store: Store) -> ComplianceReport:
    """The CIS v3.0 report over every demo account (the summary's compliance part)."""
    from qrie.policies.registry import all_policies  # noqa: PLC0415
    from qrie.scan.compliance import compliance_report, framework_controls  # noqa: PLC0415

    policies = all_policies()
    return compliance_report(store, "cis-3.0", framework_controls("cis-3.0", policies), policies)


def build_report(
    requested: int,
    seed: int,
    endpoint: str,
    seeded: Mapping[str, Any],
    inventory: Mapping[str, Any],
    scan: Mapping[str, Any],
    resources: Mapping[str, Any],
    findings: Mapping[str, Any],
    phases: Phases,
) -> dict[str, Any]:
    inv_job = inventory["job"]
    failed = [*inventory["failed_tasks"], *scan["failed_tasks"]]
    failed_accounts = sorted({str(t.get("account_id")) for t in failed})
    unassumable = [str(a) for a in seeded.get("unassumable") or []]
    skipped = inv_job.get("skipped_accounts") or []
    return {
        "accounts_requested": requested,
        "seed": seed,
        "endpoint": endpoint,
        "accounts": {
            "seeded": count(seeded.get("accounts")),
            "active": inv_job.get("total_accounts", 0),
            "skipped_suspended": [s.get("account_id") for s in skipped],
            "skipped_reasons": {str(s.get("account_id")): s.get("reason") for s in skipped},
            "failed": failed_accounts,
            "unassumable_expected": unassumable,
            "unexpected_failures": [a for a in failed_accounts if a not in unassumable],
        },
        "seeded_resources": seeded.get("resources"),
        "resources": dict(resources),
        "resources_check": resources_check(seeded, resources, unassumable),
        "findings": dict(findings),
        "jobs": {
            "inventory": _job_figures(inventory, phases.seconds.get("inventory", 0.0)),
            "scan": _job_figures(scan, phases.seconds.get("scan", 0.0)),
        },
        "failed_tasks": [
            {
                "account": t.get("account_id"),
                "kind": t.get("kind"),
                "service": t.get("service"),
                "reason": t.get("reason"),
                "attempts": t.get("attempts"),
            }
            for t in failed
        ],
        "timings": dict(phases.seconds),
    }


def resources_check(
    seeded: Mapping[str, Any], resources: Mapping[str, Any], unassumable: list[str]
) -> dict[str, Any]:
    """Inventory against the seed: every reachable account holds exactly what was seeded."""
    expected = seeded.get("resources")
    found = resources.get("by_account") or {}
    if not isinstance(expected, Mapping):
        return {"checked": False}
    reachable = {a: v for a, v in expected.items() if a not in unassumable}
    mismatches = [
        {"account": account, "service": service, "seeded": int(n), "found": found_n}
        for account, per_service in sorted(reachable.items())
        for service, n in sorted(per_service.items())
        if (found_n := int((found.get(account) or {}).get(service, 0))) != int(n)
    ]
    return {
        "checked": True,
        "expected_by_service": seeded_by_service(reachable),
        "match": not mismatches,
        "mismatches": mismatches,
    }


DEMO_ACCOUNT_COLUMNS = (
    Column("Seeded", "seeded", justify="right", head=True),
    Column("Active (run)", "active", justify="right", head=True),
    Column(
        "Skipped (suspended)",
        lambda a: f"{len(a['skipped_suspended'])} ({', '.join(a['skipped_suspended']) or '-'})",
        wrap=True,
        min_width=16,
    ),
    Column(
        "Failed (role not assumable)",
        lambda a: f"{len(a['failed'])} ({', '.join(a['failed']) or '-'})",
        wrap=True,
        min_width=16,
    ),
)
DEMO_RESOURCE_COLUMNS = (
    Column("Service", "service", head=True),
    Column("Inventoried", "inventoried", justify="right", head=True),
    Column("Seeded in reachable accounts", "seeded", justify="right", head=True),
)
DEMO_JOB_COLUMNS = (
    Column("Job", "job_id", head=True),
    Column("Status", lambda j: render.status(j["status"]), head=True),
    Column("Tasks", "tasks", justify="right", priority=2),
    Column("Failed", "failed", justify="right", priority=1),
    Column("Seconds", "seconds", justify="right", priority=3),
    Column("Tasks/s", "tasks_per_second", justify="right", priority=4),
)


def print_demo_summary(
    out: Output,
    report: Mapping[str, Any],
    report_path: Path,
    keep: bool,
    state_dir: Path,
    compliance: ComplianceReport | None = None,
) -> None:
    accounts = report["accounts"]
    out.print(Text("\nqrie demo: summary", style="bold underline"))
    print_table(out, "Accounts", DEMO_ACCOUNT_COLUMNS, [accounts])
    resources = report["resources"]
    check = report.get("resources_check") or {}
    expected = check.get("expected_by_service") or {}
    print_table(
        out,
        f"Resources in the inventory ({resources['total']})",
        DEMO_RESOURCE_COLUMNS,
        (
            {"service": s, "inventoried": n, "seeded": expected.get(s, "-")}
            for s, n in resources["by_service"].items()
        ),
    )
    if check.get("checked") and not check.get("match"):
        out.print(
            Text(
                f"{len(check['mismatches'])} (account, service) counts differ from the seed: "
                + ", ".join(
                    f"{m['account']}/{m['service']} {m['found']} != {m['seeded']}"
                    for m in check["mismatches"][:10]
                ),
                style="yellow",
            )
        )
    render.print_summary(out, report["findings"], by_account=False)
    if report["failed_tasks"]:
        failures = [
            {
                "account_id": t["account"],
                "kind": t["kind"],
                "service": t["service"],
                "reason": t["reason"],
            }
            for t in report["failed_tasks"]
        ]
        render.print_failures(out, failures, "Failed tasks (expected: the unassumable account)")
    if compliance is not None:
        out.print(Text("\nCIS AWS Foundations v3.0 compliance", style="bold underline"))
        print_report(out, compliance)
    print_table(out, "Jobs", DEMO_JOB_COLUMNS, report["jobs"].values())
    out.print(
        "timings (s): "
        + ", ".join(f"{k} {v}" for k, v in report["timings"].items())
        + f"; report: {report_path}"
    )
    if keep:
        out.print(f"the local stack keeps running (state in {state_dir}/): qrie local down")
        out.print("browse it in the web console: qrie console (prints the link to open)")
    else:
        out.print("browse a demo in the web console: make console (or qrie console on a stack)")


def register(root: typer.Typer) -> None:
    root.command("demo")(with_global_options(demo_command, "local"))


def demo_command(
    cli: Cli,
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, max=10_000, help="Member accounts to seed.")
    ] = 12,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Cap the runner's concurrent invocations."),
    ] = None,
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the JSON report.")
    ] = Path("demo-report.json"),
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the local stack and runner running.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the demo accounts.")] = 7,
    no_progress: NoProgressOpt = False,
) -> None:
    """Run the whole pipeline locally and print a summary (the `make demo` command).

    From nothing: a local stack, N seeded member accounts, an inventory of every service and
    then a scan of every policy with live progress, a summary and demo-report.json."""
    out = cli.output(progress=not no_progress)
    with cli.guarded():
        result = run_demo(
            out,
            accounts=accounts,
            concurrency=concurrency,
            report_path=report,
            keep=keep,
            seed=seed,
            state_dir=cli.options.state_dir,
        )
    if out.json:
        out.emit(result)
