"""The benchmark's tables on stdout (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

ORIGINAL_LATENCY: dict[str, Any] = {
    "poll_interval_seconds": 120,
    "expected_seconds": 60,
    "worst_seconds": 120,
    "plus": "SQS ApproximateNumberOf* lag (documented as up to about a minute)",
    "how": "queue emptiness is checked every 2 minutes; the job ends at a uniformly random "
    "point of that interval, so the next check comes 60 s later on average, 120 s at worst, "
    "and only if the approximate counters already read 0",
}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=128)
    facts = results["machine"]
    params = results["parameters"]
    console.print(
        f"\n[bold]qrie benchmarks[/bold] ({results['command']}): {facts['cpu_count']} CPUs "
        f"({facts['cpu_model']}), Python {facts['python']}, moto {facts['moto']}; "
        f"{params['latency_ms']:g} ms added per request; total {results['total_seconds']} s"
    )
    if "server_capacity" in results:
        cap = results["server_capacity"]
        console.print(
            f"Local AWS capacity ({cap['clients']}, {cap['operations']}): "
            f"[bold]{cap['requests_per_second']:,.0f} requests/s[/bold], server "
            f"{cap['server_cpu_cores']} cores busy, {cap['server_cpu_ms_per_request']} ms CPU "
            f"per request. Seeding {results['seeding']['accounts']} accounts: "
            f"{results['seeding']['seconds']} s (not counted)."
        )
    if "bench1" in results:
        _bench1(console, results)
    if "bench2" in results:
        _bench2(console, results["bench2"])
    if "bench3" in results:
        _bench3(console, results["bench3"])
    if results.get("bench4"):
        _bench4(console, results["bench4"])
    if "bench5" in results:
        _bench5(console, results["bench5"])
    if "bench6" in results:
        _bench6(console, results["bench6"])
    if results.get("cost"):
        _cost(console, results["cost"])


def _bench1(console: Console, results: dict[str, Any]) -> None:
    bench = results["bench1"]
    mvp = bench["mvp"]
    table = Table(
        title=f"Bench 1: inventory of {mvp['accounts']} accounts x 3 services "
        f"({mvp['tasks']} tasks), MVP loop vs fan-out (goal: >= 10x at 32)",
        title_justify="left",
    )
    columns = (
        "run",
        "wall s",
        "speedup",
        "CPU-bound",
        "of ceiling",
        "requests",
        "CPU ms/req",
        "cores srv/all",
        "GB-s/acct",
        "$/acct",
        "warm-up",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "run" else "left")

    def cores(run: dict[str, Any]) -> str:
        return f"{run['cores_busy']['server']:.2f} / {run['cores_busy']['total']:.2f}"

    table.add_row(
        "MVP loop",
        _fmt(mvp["wall_seconds"]),
        "1.00x",
        "-",
        "-",
        _fmt(mvp["server_requests"]),
        _fmt(mvp["cpu_ms_per_request"], 1),
        cores(mvp),
        "-",
        "-",
        "-",
    )
    for run in bench["fanout"]:
        warm = run.get("warmup") or {}
        priced = run.get("cost") or {}
        share = run.get("share_of_cpu_ceiling")
        table.add_row(
            f"fan-out x{run['concurrency']} r{run.get('record_threads', 1)}",
            _fmt(run["wall_seconds"]),
            f"{run['speedup_vs_mvp']:.2f}x",
            f"{run['cpu_bound_speedup']:.1f}x",
            f"{share:.0%}" if share is not None else "-",
            _fmt(run["server_requests"]),
            _fmt(run["cpu_ms_per_request"], 1),
            cores(run),
            _fmt(priced.get("gb_seconds_per_account"), 3),
            _fmt(priced.get("usd_per_account"), 6),
            f"{warm.get('execution_environments', '-')} env {warm.get('seconds', '-')} s",
        )
    console.print(table)
    console.print(
        "CPU ms/req: CPU of the server, the workers and this process per AWS request. CPU-bound: "
        "the MVP's wall time over the run's CPU seconds spread perfectly over the cores, the "
        "speedup no run of this work can beat on this machine; of ceiling: the run's speedup "
        "over it. xC rN: C execution environments at most, a batch's records N at a time "
        "(RECORD_THREADS; r1 = one after the other, as before this change). GB-s/acct and "
        "$/acct: the job's measured usage (the workers' billed-duration shares x 1,024 MB), "
        "priced for us-east-1 arm64. Warm-up: "
        "execution environments started (cold starts) before the clock, and how long that took."
    )


def _bench2(console: Console, bench: dict[str, Any]) -> None:
    ours, theirs = bench["qrie"], bench["original_design"]
    table = Table(
        title=f"Bench 2: AWS requests the orchestration makes, {bench['job']} "
        f"(botocore hooks; goal: <= 0.5 per task)",
        title_justify="left",
    )
    table.add_column("category")
    table.add_column(f"qrie ({ours['tasks']} tasks)", justify="right")
    table.add_column(f"original design ({theirs['messages']} messages)", justify="right")
    for category in ours["categories"]:
        table.add_row(
            category,
            _fmt(ours["categories"][category]),
            _fmt(theirs["categories"].get(category, 0)),
        )
    table.add_row(
        "[bold]orchestration total[/bold]",
        _fmt(ours["orchestration_requests"]),
        _fmt(theirs["orchestration_requests"]),
    )
    table.add_row(
        "[bold]per task (account x service)[/bold]",
        f"[bold]{ours['per_task']:.3f}[/bold]",
        f"{theirs['per_task']:.3f}",
    )
    table.add_row("per account", f"{ours['per_account']:.3f}", f"{theirs['per_account']:.3f}")
    table.add_row(
        "writes on the job item",
        _fmt(ours.get("job_item_writes")),
        _fmt(theirs.get("job_item_writes")),
    )
    table.add_row(
        "polling runs counted",
        str(ours["polling_runs"]),
        str(theirs["polling_runs"]),
    )
    table.add_row(
        "hooks count = server count",
        str(ours["counted_total"] == ours["server_total"]),
        str(theirs["counted_total"] == theirs["server_total"]),
    )
    console.print(table)


def _bench3(console: Console, bench: dict[str, Any]) -> None:
    original = bench["original_design"]
    table = Table(
        title="Bench 3: completion latency (goal: <= 1 s)",
        title_justify="left",
    )
    for column in (
        "job",
        "last task's write -> final status",
        "final status -> seen by a 0.1 s poller",
        "original design (poll every 120 s)",
    ):
        table.add_column(column, justify="right" if column != "job" else "left")
    for run in bench["runs"]:
        table.add_row(
            f"bench 1, concurrency {run['concurrency']}",
            f"{run['final_status_after_last_task_ms']:.0f} ms (same transaction)",
            f"{run['seen_by_poller_after_ms']:.0f} ms",
            f"~{original['expected_seconds']} s expected, {original['worst_seconds']} s+ worst",
        )
    console.print(table)


def _bench4(console: Console, bench: dict[str, Any]) -> None:
    counters = bench["counters"]
    original = bench["original_design_job_item"]
    table = Table(
        title=f"Bench 4: one {bench['tasks']:,}-task job, no-op work, concurrency "
        f"{bench['concurrency']} (goal: time / server-bound time <= 2)",
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row(
        "counters (Succeeded + Failed = Total)",
        f"{counters['Succeeded']:,} + {counters['Failed']:,} = {counters['Total']:,}, "
        f"Remaining {counters['Remaining']}",
    )
    table.add_row(
        "task items terminal / exact",
        f"{bench['task_statuses']} / {bench['counters_exact']}",
    )
    table.add_row("job item size", f"{bench['job_item_bytes']:,} bytes")
    table.add_row(
        "original design's job item (status map)",
        f"{original['bytes']:,} bytes for {original['accounts']:,} accounts "
        f"(400 KB limit: {original['max_accounts_in_400kb']:,} accounts)",
    )
    table.add_row("total time", f"{bench['wall_seconds']:.2f} s")
    table.add_row("AWS requests made", f"{bench['server_requests']:,}")
    table.add_row(
        "server-bound time (requests / capacity)",
        f"{bench['ideal_seconds']:.2f} s ({bench['server_requests_per_second_capacity']:,.0f}"
        " requests/s)",
    )
    table.add_row("[bold]time / server-bound time[/bold]", f"[bold]{bench['time_over_ideal']}[/]")
    table.add_row(
        "server CPU for the job (one process, GIL)",
        f"{bench['cpu_seconds']['server']:.2f} s: time / server CPU = "
        f"{bench['time_over_server_cpu']}",
    )
    table.add_row(
        "last task -> final status -> seen",
        f"{bench['completion']['final_status_after_last_task_ms']:.0f} ms -> "
        f"{bench['completion']['seen_by_poller_after_ms']:.0f} ms",
    )
    console.print(table)


def _bench5(console: Console, bench: dict[str, Any]) -> None:
    table = Table(
        title="Bench 5: peak RSS of one worker process (s3 + ec2 + iam tasks of one account)",
        title_justify="left",
    )
    for column in (
        "account",
        "resources",
        "inventory s",
        "baseline MB",
        "peak MB",
        "growth MB",
    ):
        table.add_column(column, justify="right" if column != "account" else "left")
    for size in bench["sizes"]:
        table.add_row(
            f"{size['buckets']:,} buckets + {size['users']:,} users",
            _fmt(sum(size["resources"].values())),
            _fmt(size["inventory_seconds"]),
            _fmt(size["baseline_mb"], 1),
            _fmt(size["peak_mb"], 1),
            _fmt(size["growth_mb"], 1),
        )
    console.print(table)


def _cost(console: Console, bench: dict[str, Any]) -> None:
    table = Table(
        title=f"Cost per account, inventory + scan ({bench['region']} {bench['architecture']}, "
        "measured usage x list prices; goal: <= $0.002)",
        title_justify="left",
    )
    for column in (
        "accounts",
        "resources",
        "checks",
        "inventory $",
        "scan $",
        "qrie $",
        "Lambda / SQS / DynamoDB $",
        "AWS Config $",
        "Security Hub $",
    ):
        table.add_column(column, justify="right" if column != "accounts" else "left")
    for size in bench["sizes"]:
        inventory, scan = size["inventory"], size["scan"]
        parts = {
            k: inventory["parts_per_account"][k] + scan["parts_per_account"][k]
            for k in inventory["parts_per_account"]
        }
        lam = parts["lambda_compute"] + parts["lambda_requests"]
        hub = size["security_hub_usd_per_account"]
        recording = size["security_hub_with_config_recording"] - hub
        table.add_row(
            size["accounts"],
            _fmt(size["resources_per_account"], 0),
            _fmt(size["evaluations_per_account"], 0),
            _fmt(inventory["usd_per_account"], 6),
            _fmt(scan["usd_per_account"], 6),
            f"[bold]{size['qrie_usd_per_account']:.6f}[/bold]",
            f"{lam:.6f} / {parts['sqs']:.6f} / {parts['dynamodb']:.6f}",
            _fmt(size["config_usd_per_account"], 3),
            f"{hub:.3f} (+{recording:.3f} Config)",
        )
    console.print(table)
    formulas = bench["formulas"]
    console.print(
        f"AWS Config = {formulas['config']}; Security Hub CSPM = {formulas['security_hub']}: per "
        "account, one recording and one evaluation of each (resource, policy) pair, the managed "
        "services' lowest charge for what qrie inventoried and checked."
    )


def _mb(value: int) -> str:
    return f"{value / 1e6:,.2f} MB"


def _bench6(console: Console, bench: dict[str, Any]) -> None:
    sized, timed = bench["sized_target"], bench["import_target"]
    table = Table(
        title=f"Bench 6: each function's artifact (src/Makefile for Python "
        f"{sized['python_version']}, {sized['platform']}; built in {bench['build_seconds']} s)",
        title_justify="left",
    )
    for column in ("artifact", "unzipped", "zipped", "files", "+ DependenciesLayer (loaded)"):
        table.add_column(column, justify="left" if column == "artifact" else "right")
    for function, figures in bench["functions"].items():
        own, total = figures["package"], figures["with_layer"]
        table.add_row(
            function,
            _mb(own["bytes"]),
            _mb(own["zipped_bytes"]),
            _fmt(own["files"]),
            f"{_mb(total['bytes'])}, {_mb(total['zipped_bytes'])} zipped, {total['files']:,} files",
        )
    for name, layer in bench["layers"].items():
        note = "shared by the four" if name == "DependenciesLayer" else "only with Tracing=Active"
        table.add_row(
            name, _mb(layer["bytes"]), _mb(layer["zipped_bytes"]), _fmt(layer["files"]), note
        )
    console.print(table)
    table = Table(
        title=f"Bench 6: cold import of each handler, {bench['runs']} fresh processes each "
        f"(Python {timed['python_version']}, {timed['platform']}; goal: <= "
        f"{bench['goal_x_baseline']:g}x the baseline)",
        title_justify="left",
    )
    for column in ("import", "min ms", "median ms", "x baseline", "modules"):
        table.add_column(column, justify="left" if column == "import" else "right")
    rows = [("baseline: Powertools Logger + BatchProcessor", bench["baseline"])]
    rows += [(f"{f} ({v['handler']})", v["import"]) for f, v in bench["functions"].items()]
    rows += [("for reference: boto3 alone (every function imports it)", bench["boto3"])]
    for label, imported in rows:
        table.add_row(
            label,
            _fmt(imported["min_ms"], 0),
            _fmt(imported["median_ms"], 0),
            f"{imported['x_baseline']:.2f}x",
            _fmt(imported["modules"]),
        )
    console.print(table)
    console.print(
        "Imports as Lambda lays them out: bytecode precompiled, the function's folder then the "
        "layer on the path, nothing from this machine's site-packages, tracing off (default)."
    )
