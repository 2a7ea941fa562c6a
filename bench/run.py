"""``python -m bench.run [--quick]``: the fan-out's speed, overhead and scale against the
sequential MVP, on the local stack, in one run. Prints tables and writes a JSON report
(``bench/results.json``; ``--quick``: ``bench/results-quick.json``).

1. server capacity: requests/s of the local AWS under a concurrent GetItem/PutItem load;
2. bench 1: N seeded accounts x 3 services, the MVP loop against the fan-out at concurrency
   1, 8, 32 (warm execution environments; cold starts reported apart), each with a batch's
   records worked on one at a time and 10 at a time (RECORD_THREADS), with the share of this
   machine's CPU-bound ceiling each run reaches and its measured GB-seconds per account;
3. bench 2: requests per task by category, qrie against the original design (botocore hooks);
4. bench 3: completion latency of the bench-1 jobs;
5. bench 4: a 10,000-task job with no-op work: exact counters, job item size, time against the
   server's capacity;
6. bench 5: peak RSS of one worker process against the account's size (a second local AWS,
   without added latency);
7. bench 6: the Lambda package, each function's artifact size and the cold import time of
   each handler against Powertools' Logger + BatchProcessor (run first, on a quiet machine);
8. cost: what an inventory and a scan cost per account (the jobs' measured usage priced by
   qrie.cost), for bench 1's small accounts and for typical ones, beside AWS Config and
   Security Hub CSPM for the same resources and checks (bench/costs.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # handlers run in this process too

from bench import counting

counting.install()  # before any boto3 session exists

from bench import capacity, costs, fanout, overhead, package, report  # noqa: E402
from bench.common import ROOT, machine, start_stack  # noqa: E402
from bench.memory import measure as measure_memory  # noqa: E402
from bench.seeding import account_id, small_accounts  # noqa: E402
from qrie_local.stack import LocalStack  # noqa: E402

FULL: dict[str, Any] = {
    "latency_ms": 20.0,
    "regions": "us-east-1",
    "accounts": 80,  # the 200 take ~6 min more: --accounts 200
    "resources_per_account": {"buckets": 1, "users": 1},
    "concurrency": [1, 8, 32],
    "record_threads": [1, 10],  # a batch's records one at a time (before), 10 at a time
    "capacity": {"processes": 4, "threads": 16, "seconds": 4.0},
    "scale_tasks": 10_000,
    "scale_concurrency": 32,
    "memory_sizes": [[200, 200], [1000, 1000]],  # --memory-sizes 1000x1000,5000x5000
    "package_runs": 15,  # fresh imports of each handler
    "package_deployed": True,  # size the python3.13 arm64 build (a second build)
    # the cost section's typical accounts (inventory + scan through the pipeline), in one
    # execution environment: 2 cores shared by more would inflate the billed durations
    "cost": {"accounts": 10, "buckets": 25, "users": 25, "concurrency": 1},
}
QUICK: dict[str, Any] = {
    **FULL,
    "accounts": 3,
    "capacity": {"processes": 2, "threads": 16, "seconds": 1.0},
    "scale_tasks": 200,
    "scale_concurrency": 8,
    "memory_sizes": [[10, 10], [40, 40]],
    "package_runs": 3,
    "package_deployed": False,  # sizes of this machine's build
    "cost": {"accounts": 2, "buckets": 5, "users": 5, "concurrency": 1},
}


def _log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def _quiet() -> None:
    logging.getLogger("botocore").setLevel(logging.ERROR)
    from qrie.observability import logger

    logger.setLevel(logging.ERROR)


def bench_fanout(
    stack: LocalStack, params: dict[str, Any], state: Path, skip: set[str]
) -> dict[str, Any]:
    """Seeding, bench 1, bench 3 (from bench 1's jobs), bench 2, bench 4 on one stack."""
    out: dict[str, Any] = {}
    _log(f"server capacity ({params['capacity']})")
    out["server_capacity"] = capacity.measure(stack, **params["capacity"])
    _log(f"  {out['server_capacity']['requests_per_second']} requests/s")

    _log(f"seeding {params['accounts']} accounts")
    with stack.apply_env():
        seeded = small_accounts(stack, params["accounts"], **params["resources_per_account"])
    out["seeding"] = seeded.as_dict()
    accounts = seeded.accounts
    _log(f"  {seeded.seconds:.1f}s")

    _log("bench 1: MVP (sequential loop over the accounts)")
    mvp = fanout.run_mvp(stack, accounts, "inv-all-20250101T000000Z-000001")
    _log(f"  {mvp['wall_seconds']}s")
    runs: list[dict[str, Any]] = []
    latencies: list[dict[str, Any]] = []
    tasks = len(accounts) * 3
    scale: dict[str, Any] = {}
    concurrencies = list(params["concurrency"])
    threads_list = list(params["record_threads"])
    request = {"operation": "inventory", "service": "*", "accounts": accounts}
    small_inventory: dict[str, Any] = {}
    for concurrency in concurrencies:
        for threads in threads_list:
            with fanout.FanOut(stack, concurrency, state, record_threads=threads) as fan:
                warm = fan.warm(fanout.slots_for(tasks, concurrency))
                _log(
                    f"bench 1: fan-out at concurrency {concurrency}, {threads} record "
                    f"thread(s) (warm-up {warm})"
                )
                run = fan.run_job(request)
                result = fanout.fanout_result(run, len(accounts), mvp["wall_seconds"])
                result.update(concurrency=concurrency, record_threads=threads, warmup=warm)
                checked = fanout.check_tasks(stack, run.job_id)
                result["task_statuses"] = checked["statuses"]
                result["cost"] = costs.per_account(checked, len(accounts))
                runs.append(result)
                latency = fanout.completion(run, checked)
                latency.update(concurrency=concurrency, record_threads=threads)
                latencies.append(latency)
                _log(
                    f"  {result['wall_seconds']}s, speedup {result['speedup_vs_mvp']}x "
                    f"({result['share_of_cpu_ceiling']:.0%} of the CPU-bound ceiling), "
                    f"{result['cost']['gb_seconds_per_account']:.3f} GB-s per account"
                )
                if threads == threads_list[-1]:
                    if concurrency == concurrencies[0]:  # the least contended run's usage
                        small_inventory = result["cost"]
                    last = concurrency == params["scale_concurrency"] and "scale" not in skip
                    if last:
                        scale = bench_scale(stack, fan, params, out["server_capacity"])
    if not scale and "scale" not in skip:
        with fanout.FanOut(stack, params["scale_concurrency"], state) as fan:
            scale = bench_scale(stack, fan, params, out["server_capacity"])
    out["bench1"] = {"mvp": mvp, "fanout": runs}
    out["bench3"] = {"runs": latencies, "original_design": report.ORIGINAL_LATENCY}
    out["bench4"] = scale
    if "cost" not in skip:
        out["cost"] = bench_cost(stack, params, state, accounts, small_inventory)
    if "overhead" in skip:
        return out

    duration = runs[-1]["wall_seconds"] if runs else mvp["wall_seconds"]
    polls = overhead.polls_for(duration)
    _log(f"bench 2: requests per task, qrie ({polls} polling run(s))")
    ours = overhead.run_qrie(stack, accounts, polls)
    _log("bench 2: requests per task, the original design")
    theirs = overhead.run_original(stack, accounts, polls)
    out["bench2"] = {
        "job": f"{len(accounts)} accounts x 3 services, no-op collectors",
        "job_duration_for_polling_seconds": duration,
        "qrie": ours,
        "original_design": theirs,
    }
    return out


def bench_cost(
    stack: LocalStack,
    params: dict[str, Any],
    state: Path,
    small: list[str],
    small_inventory: dict[str, Any],
) -> dict[str, Any]:
    """Inventory + scan per account, priced: bench 1's small accounts (their inventory is the
    bench-1 run at the lowest concurrency with records 10 at a time) and typical ones, seeded
    here."""
    spec = params["cost"]
    concurrency = int(spec["concurrency"])
    _log(f"cost: scan of bench 1's {len(small)} accounts")
    sizes: list[dict[str, Any]] = []
    if small_inventory:
        scan = fanout.run_scan(stack, small, concurrency, state)
        scanned = costs.per_account(fanout.check_tasks(stack, scan.job_id), len(small))
        sizes.append(costs.summarize(small_inventory, scanned, f"{len(small)} small"))
    n = int(spec["accounts"])
    _log(f"cost: {n} typical accounts ({spec['buckets']} buckets + {spec['users']} users)")
    with stack.apply_env():
        seeded = small_accounts(
            stack, n, buckets=int(spec["buckets"]), users=int(spec["users"]), base=700_000_000_000
        )
    typical = seeded.accounts
    with fanout.FanOut(stack, concurrency, state) as fan:
        fan.warm(fanout.slots_for(3 * n, concurrency))
        run = fan.run_job({"operation": "inventory", "service": "*", "accounts": typical})
    inventory = costs.per_account(fanout.check_tasks(stack, run.job_id), n)
    scan = fanout.run_scan(stack, typical, concurrency, state)
    scanned = costs.per_account(fanout.check_tasks(stack, scan.job_id), n)
    sizes.append(costs.summarize(inventory, scanned, f"{n} typical"))
    for size in sizes:
        _log(
            f"  {size['accounts']}: {size['resources_per_account']:.0f} resources, "
            f"{size['evaluations_per_account']:.0f} checks per account: "
            f"qrie ${size['qrie_usd_per_account']:.6f}, AWS Config "
            f"${size['config_usd_per_account']:.3f}, Security Hub "
            f"${size['security_hub_usd_per_account']:.3f}"
        )
    return {
        "region": costs.REGION,
        "architecture": costs.ARCHITECTURE,
        "typical_account": spec,
        "sizes": sizes,
        "formulas": {
            "config": "0.003 x resources recorded + 0.001 x rule evaluations",
            "security_hub": "0.001 x checks (+ Config recording, 0.003 x resources)",
        },
    }


def bench_scale(
    stack: LocalStack, fan: fanout.FanOut, params: dict[str, Any], server: dict[str, Any]
) -> dict[str, Any]:
    tasks = int(params["scale_tasks"])
    _log(f"bench 4: a {tasks}-task job, no-op work, concurrency {fan.concurrency}")
    fan.warm(fanout.slots_for(tasks, fan.concurrency))
    fan.set_mode("noop-stub")
    try:
        accounts = [account_id(400_000_000_000, i) for i in range(tasks)]
        run = fan.run_job(
            {
                "operation": "inventory",
                "service": "s3",
                "accounts": accounts,
                "allow_unregistered": True,  # no-op work: the accounts are never assumed
            }
        )
    finally:
        fan.set_mode("real")
    result = fanout.fanout_result(run, tasks, None)
    checked = fanout.check_tasks(stack, run.job_id)
    rps = float(server["requests_per_second"])
    ideal = result["server_requests"] / rps
    job = run.job
    result.update(
        concurrency=fan.concurrency,
        counters={
            "Total": int(job.get("total", 0)),
            "Succeeded": int(job.get("succeeded", 0)),
            "Failed": int(job.get("failed", 0)),
            "Remaining": int(job.get("remaining", -1)),
        },
        counters_exact=(
            int(job.get("succeeded", 0)) + int(job.get("failed", 0))
            == int(job.get("total", 0))
            == tasks
            == checked["tasks"]
            and checked["pending"] == 0
        ),
        task_statuses=checked["statuses"],
        job_item_bytes=checked["job_item_bytes"],
        original_design_job_item=overhead.original_job_item_bytes(tasks),
        server_requests_per_second_capacity=rps,
        ideal_seconds=round(ideal, 2),
        time_over_ideal=round(result["wall_seconds"] / ideal, 2),
        time_over_server_cpu=round(
            result["wall_seconds"] / max(1e-9, result["cpu_seconds"]["server"]), 2
        ),
        completion=fanout.completion(run, checked),
    )
    _log(f"  {result['wall_seconds']}s, {result['time_over_ideal']}x the server-bound time")
    return result


def bench_memory(params: dict[str, Any], state: Path) -> dict[str, Any]:
    from qrie.handlers import runtime as runtime_module

    runtime_module.reset()
    stack = start_stack(state / "memory", 0, {"Regions": params["regions"]})
    try:
        sizes = []
        for index, (buckets, users) in enumerate(params["memory_sizes"]):
            _log(f"bench 5: worker memory, {buckets} buckets + {users} users")
            result = measure_memory(
                stack,
                account_id(500_000_000_000, index),
                buckets,
                users,
                state / "memory" / "worker.log",
            )
            _log(f"  peak {result['peak_mb']} MB (baseline {result['baseline_mb']} MB)")
            sizes.append(result)
    finally:
        stack.down()
        runtime_module.reset()
    return {"latency_ms": 0, "sizes": sizes}


def bench_package(params: dict[str, Any], state: Path) -> dict[str, Any]:
    runs = int(params["package_runs"])
    _log(f"bench 6: the Lambda package (build, sizes, {runs} cold imports of each handler)")
    result = package.measure(state, runs, deployed=bool(params["package_deployed"]))
    worst = max(f["import"]["x_baseline"] for f in result["functions"].values())
    _log(f"  {result['seconds']}s, slowest handler {worst}x the baseline")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument("--latency-ms", type=float, help="delay per request (default 20)")
    parser.add_argument("--accounts", type=int, help="accounts of bench 1 and 2")
    parser.add_argument("--output", type=Path, help="JSON report path")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: package, fanout, scale, cost, overhead, memory",
    )
    parser.add_argument("--concurrency", help="comma-separated concurrencies of bench 1")
    parser.add_argument(
        "--record-threads", help="comma-separated RECORD_THREADS of bench 1 (default 1,10)"
    )
    parser.add_argument("--scale-tasks", type=int, help="tasks of bench 4's job")
    parser.add_argument(
        "--memory-sizes", help="bench 5's accounts, comma-separated BUCKETSxUSERS (e.g. 5000x5000)"
    )
    args = parser.parse_args(argv)
    params = dict(QUICK if args.quick else FULL)
    if args.latency_ms is not None:
        params["latency_ms"] = args.latency_ms
    if args.accounts is not None:
        params["accounts"] = args.accounts
    if args.concurrency:
        params["concurrency"] = [int(c) for c in args.concurrency.split(",")]
    if args.record_threads:
        params["record_threads"] = [int(t) for t in args.record_threads.split(",")]
    if args.scale_tasks is not None:
        params["scale_tasks"] = args.scale_tasks
    if args.memory_sizes:
        params["memory_sizes"] = [
            [int(n) for n in size.lower().split("x", 1)] for size in args.memory_sizes.split(",")
        ]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    output = args.output or ROOT / "bench" / (
        "results-quick.json" if args.quick else "results.json"
    )
    _quiet()
    command = " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)])
    results: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "parameters": params,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qrie-bench-") as tmp:
        state = Path(tmp)
        if "package" not in skip:
            results["bench6"] = bench_package(params, state)
        if "fanout" not in skip:
            _log(f"local AWS with {params['latency_ms']:g} ms per request")
            stack = start_stack(
                state / "main", params["latency_ms"], {"Regions": params["regions"]}
            )
            try:
                results.update(bench_fanout(stack, params, state / "main", skip))
            finally:
                stack.down()
        if "memory" not in skip:
            results["bench5"] = bench_memory(params, state)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    report.render(results)
    _log(f"done in {results['total_seconds']}s; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
