"""The local-stack commands' logic (``qrie local up|down|status|seed|invoke``) and ``qrie demo``.

``qrie demo`` goes from nothing to a summary: it starts a local stack in ``.qrie`` (or, when one
already runs there, a second one in a temporary directory that it stops afterwards, so two are
never left running), seeds N member accounts, runs the event-source runner in this process,
starts an inventory of every service over every account and then a scan of every policy, both
through the job handler with live progress, prints accounts, resources by service, findings by
policy and severity and the failed tasks with their reasons, and writes the same figures with the
time of each phase to ``demo-report.json``. The account whose role cannot be assumed is part of
the demo: its failed tasks are expected and shown, not an error.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from qrie.domain import SERVICES, JobStatus
from qrie.store.table import Store
from qrie_cli import render
from qrie_cli.render import Output
from qrie_cli.target import LocalTarget, TargetError
from qrie_cli.target import state_dir as default_state_dir

if TYPE_CHECKING:
    from qrie_local.stack import LocalStack

RUNNER_LOG = "runner.log"


# ---------------------------------------------------------------------------- local stack
def _local_error(exc: Exception) -> TargetError:
    return TargetError(str(exc), exit_code=1)


def require_stack(state_dir: Path) -> LocalStack:
    """The stack running from ``state_dir``, or a TargetError (exit 2) saying to start one."""
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    stack = LocalStack.current(state_dir)
    if stack is None:
        raise TargetError(
            f"no local stack is running (state in {state_dir}/): start one with `qrie local up`",
            exit_code=2,
        )
    return stack


def local_up(
    state_dir: Path,
    port: int | None,
    latency_ms: int,
    template: Path,
    runner: bool,
    concurrency: int | None,
) -> dict[str, Any]:
    """Start (or reuse) the local stack in ``state_dir`` and, unless told not to, its runner
    daemon (``python -m qrie_local.runner --state-dir …``)."""
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    if not template.is_file():
        raise TargetError(f"no template at {template} (run from the repository root)", 2)
    already = LocalStack.current(state_dir) is not None
    try:
        stack = LocalStack.up(
            state_dir=state_dir, port=port, latency_ms=latency_ms, template=template
        )
        pid = stack.start_runner(concurrency=concurrency) if runner else None
    except LocalStackError as exc:
        raise _local_error(exc) from exc
    return {
        "already_running": already,
        "endpoint": stack.endpoint,
        "state_dir": str(state_dir),
        "outputs": dict(stack.outputs),
        "runner": {"pid": pid, "log": str(state_dir / RUNNER_LOG)} if pid else None,
    }


def local_down(state_dir: Path, force: bool = False) -> dict[str, Any]:
    """Stop the runner daemon and the stack of ``state_dir`` (nothing running: stopped=False).
    While jobs run, a TargetError unless ``force``."""
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    stack = LocalStack.load(state_dir)
    if stack is None:
        return {"stopped": False, "state_dir": str(state_dir)}
    was_running = stack.running()
    running_jobs = stack.running_jobs() if was_running and not force else []
    if running_jobs:
        raise TargetError(
            f"{len(running_jobs)} job(s) still running ({', '.join(running_jobs)}): stop anyway "
            "with `qrie local down --force` (the state is kept: they go on after `qrie local up`)"
        )
    try:
        stack.down()
    except LocalStackError as exc:
        raise _local_error(exc) from exc
    return {"stopped": was_running, "state_dir": str(state_dir)}


def local_status(state_dir: Path) -> dict[str, Any]:
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    stack = LocalStack.current(state_dir)
    if stack is None:
        return {"running": False, "state_dir": str(state_dir)}
    status = stack.status()
    status.pop("functions", None)  # the template's view; `qrie local status --json` has outputs
    return status


def seed_accounts(stack: LocalStack, accounts: int, seed: int) -> dict[str, Any]:
    """Create and register ``accounts`` demo member accounts; the SeedReport as JSON data."""
    from qrie_local.seed import seed as seed_stack  # noqa: PLC0415

    report = seed_stack(stack, accounts, seed=seed)
    data = render.jsonable(report)
    return dict(data) if isinstance(data, Mapping) else {"report": data}


def seeded_by_service(resources: Any) -> dict[str, int]:
    """``{account: {service: n}}`` summed per service."""
    totals = dict.fromkeys(SERVICES, 0)
    if isinstance(resources, Mapping):
        for per_service in resources.values():
            if isinstance(per_service, Mapping):
                for service, n in per_service.items():
                    totals[str(service)] = totals.get(str(service), 0) + int(n)
    return totals


def print_seed_report(out: Output, report: Mapping[str, Any]) -> None:
    accounts = report.get("accounts") or []
    unassumable = report.get("unassumable") or []
    suspended = report.get("suspended") or []
    seconds = report.get("seconds")
    out.print(
        f"seeded {_count(accounts)} member accounts"
        + (f" in {seconds:.1f}s" if isinstance(seconds, int | float) else "")
        + f": {_count(unassumable)} whose role cannot be assumed ({_ids(unassumable)}), "
        f"{_count(suspended)} more registered SUSPENDED ({_ids(suspended)})"
    )
    expected = seeded_by_service(report.get("resources"))
    bad = seeded_by_service(report.get("non_compliant"))
    out.print(
        render.table(
            f"Seeded resources ({sum(expected.values())})",
            ["Service", "Resources", "Non-compliant"],
            [[s, n, bad.get(s, 0)] for s, n in expected.items()],
        )
    )


def _count(value: Any) -> int:
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, list | tuple | set | dict) else 0


def _ids(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


@contextlib.contextmanager
def handler_output_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr while a handler runs in a child process (which
    inherits it): its log lines go to stderr, as with ``sam local invoke``, and stdout carries
    only the result JSON."""
    import os  # noqa: PLC0415
    import sys  # noqa: PLC0415

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (e.g. captured): nothing to redirect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def invoke_function(
    state_dir: Path, function: str, event: Any, out: Output
) -> dict[str, Any] | Any:
    """Run one event through ``function``'s handler in a fresh execution environment, as
    ``sam local invoke`` does. Without a running local stack a temporary one is started (and
    stopped afterwards), so the handler finds its table and queues."""
    from qrie_local.runner import InvocationError, Runner  # noqa: PLC0415
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    with contextlib.ExitStack() as cleanup:
        stack = LocalStack.current(state_dir)
        if stack is None:
            temp = Path(tempfile.mkdtemp(prefix="qrie-invoke-"))
            cleanup.callback(shutil.rmtree, temp, True)
            out.err.print(f"no local stack running: starting a temporary one in {temp}")
            try:
                stack = LocalStack.up(state_dir=temp)
            except LocalStackError as exc:
                raise _local_error(exc) from exc
            cleanup.callback(stack.down)
        if function not in stack.functions:
            raise TargetError(
                f"no function {function!r} in the template; valid: "
                + ", ".join(sorted(stack.functions)),
                exit_code=2,
            )
        try:
            with handler_output_to_stderr():
                return Runner(stack).invoke(function, event)
        except InvocationError as exc:
            out.emit(
                {
                    "errorType": exc.error_type,
                    "errorMessage": exc.message,
                    "stackTrace": exc.trace.splitlines(),
                }
            )
            raise TargetError(f"{function} failed: {exc.error_type}: {exc.message}") from exc


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


def _demo_state_dir(out: Output, keep: bool) -> tuple[Path, bool]:
    """Where the demo's stack runs, and whether that directory is temporary. Never two stacks
    left running: with --keep the running one is stopped first; without it the demo runs its
    own in a temporary directory and stops it at the end."""
    from qrie_local.stack import LocalStack  # noqa: PLC0415

    home = default_state_dir()
    if LocalStack.current(home) is None:
        return home, False
    if keep:
        out.note(f"stopping the local stack running from {home}/ (--keep replaces it)")
        local_down(home, force=True)
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
    job = render.watch_job(target.store, str(response["job_id"]), out, label=label)
    return render.job_result(target.store, job)


def run_demo(
    out: Output,
    accounts: int = 12,
    concurrency: int | None = None,
    report_path: Path = Path("demo-report.json"),
    keep: bool = False,
    seed: int = 7,
    template: Path = Path("template.yaml"),
) -> dict[str, Any]:
    """Run the whole demo; returns the report (also written to ``report_path``). Raises
    TargetError when the demo could not run or a job failed outright."""
    from qrie.scan.findings import summary  # noqa: PLC0415
    from qrie_local.runner import Runner  # noqa: PLC0415
    from qrie_local.stack import LocalStack, LocalStackError  # noqa: PLC0415

    if not template.is_file():
        raise TargetError(f"no template at {template} (run from the repository root)", 2)
    phases = Phases()
    with phases.phase("prepare"):
        state_dir, temporary = _demo_state_dir(out, keep)
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
                raise _local_error(exc) from exc
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
    report["runner"] = runner_stats
    report["kept"] = keep
    report["timings"]["total"] = phases.total()
    report_path.write_text(json.dumps(render.jsonable(report), indent=2) + "\n", encoding="utf-8")
    if not out.json:
        print_demo_summary(out, report, report_path, keep, state_dir)
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
            "seeded": _count(seeded.get("accounts")),
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


def print_demo_summary(
    out: Output, report: Mapping[str, Any], report_path: Path, keep: bool, state_dir: Path
) -> None:
    accounts = report["accounts"]
    out.print(Text("\nqrie demo: summary", style="bold underline"))
    out.print(
        render.table(
            "Accounts",
            ["Seeded", "Active (run)", "Skipped (suspended)", "Failed (role not assumable)"],
            [
                [
                    accounts["seeded"],
                    accounts["active"],
                    f"{len(accounts['skipped_suspended'])} "
                    f"({', '.join(map(str, accounts['skipped_suspended'])) or '-'})",
                    f"{len(accounts['failed'])} ({', '.join(accounts['failed']) or '-'})",
                ]
            ],
        )
    )
    resources = report["resources"]
    check = report.get("resources_check") or {}
    expected = check.get("expected_by_service") or {}
    out.print(
        render.table(
            f"Resources in the inventory ({resources['total']})",
            ["Service", "Inventoried", "Seeded in reachable accounts"],
            [[s, n, expected.get(s, "-")] for s, n in resources["by_service"].items()],
        )
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
    for part in summary_tables(report["findings"], by_account=False):
        out.print(part)
    if report["failed_tasks"]:
        failed = [
            {
                "AccountId": t["account"],
                "Kind": t["kind"],
                "Service": t["service"],
                "Reason": t["reason"],
            }
            for t in report["failed_tasks"]
        ]
        out.print(render.failure_table(failed, "Failed tasks (expected: the unassumable account)"))
    jobs = report["jobs"]
    timings = report["timings"]
    out.print(
        render.table(
            "Jobs",
            ["Job", "Status", "Tasks", "Failed", "Seconds", "Tasks/s"],
            [
                [
                    j["job_id"],
                    render.styled(j["status"]),
                    j["tasks"],
                    j["failed"],
                    j["seconds"],
                    j["tasks_per_second"],
                ]
                for j in jobs.values()
            ],
        )
    )
    out.print(
        "timings (s): "
        + ", ".join(f"{k} {v}" for k, v in timings.items())
        + f"; report: {report_path}"
    )
    if keep:
        out.print(f"the local stack keeps running (state in {state_dir}/): qrie local down")
        out.print("browse it in the web console: qrie console (prints the link to open)")
    else:
        out.print("browse a demo in the web console: make console (or qrie console on a stack)")


def summary_tables(findings: Mapping[str, Any], by_account: bool = True) -> list[Any]:
    """Tables of a findings summary (:func:`qrie.scan.findings.summary`)."""
    return render.summary_tables(findings, by_account=by_account)
