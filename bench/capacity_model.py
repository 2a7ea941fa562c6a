"""``python -m bench.capacity_model`` (``make capacity``): what an inventory and a scan of 1,000,
10,000 and 50,000 accounts take on AWS -- wall time, cost, peak writes on the job item -- and
which limit binds first, from figures measured by ``make bench`` (``bench/results.json``) and
AWS's published quotas (each with its source below; docs/scale.md explains the model).

Inputs measured here (the cost section's typical accounts): a task's billed duration (its share
of its invocation, records 10 at a time), its DynamoDB write and read units, its AssumeRole
calls, the cost per account; bench 2's orchestration requests per task; bench 4's job item.

The model, per job (one stage: inventory or scan; tasks = 3 per account):

- an execution environment completes ``1000 / billed_ms`` tasks per second;
- throughput = the smallest of: Lambda (environments x that), the job item (transactions it can
  take per second x tasks per transaction), the job's task partitions (1,000 write units a
  second each, over the units a task's accounting writes there), the table's write and read
  quotas over the units a task uses, the first peak of a new on-demand table, STS AssumeRole
  over the calls per task;
- the SQS event source starts at 5 concurrent batches and adds up to 300 a minute until the
  environments that throughput needs run: wall time is when the tasks are done along that ramp
  and then at that throughput; cost = accounts x the measured cost per account.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from qrie.store import keys

RESULTS = Path(__file__).resolve().parent / "results.json"
SIZES = (1_000, 10_000, 50_000)
TASKS_PER_ACCOUNT = 3  # s3, ec2, iam

# ------------------------------------------------------------------ quotas (and their sources)
QUOTAS: dict[str, dict[str, Any]] = {
    "lambda_concurrency": {
        "value": 1000,
        "what": "Lambda concurrent executions per account and Region (default, adjustable)",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    },
    "lambda_scaling": {
        "value": 1000,
        "what": "new execution environments per function every 10 s",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
    },
    "esm_ramp": {
        "value": 300,
        "what": "SQS event source: starts with 5 concurrent batches, adds up to 300 a minute, "
        "at most 1,000 (ScalingConfig.MaximumConcurrency 2-1,000)",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    },
    "sqs_in_flight": {
        "value": 120_000,
        "what": "SQS standard queue: ~120,000 in-flight messages; API calls nearly unlimited",
        "source": "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
        "quotas-queues.html",
    },
    "partition_wcu": {
        "value": 1000,
        "what": "DynamoDB: 1,000 write units/s (3,000 read units/s) per partition; a single item "
        "never gets more",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "bp-partition-key-design.html",
    },
    "table_throughput": {
        "value": 40_000,
        "what": "DynamoDB on-demand: 40,000 read and 40,000 write units/s per table (default "
        "account quota, adjustable)",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "ServiceQuotas.html",
    },
    "new_table": {
        "value": 4000,
        "what": "a new on-demand table serves 4,000 write (12,000 read) units/s at once, then "
        "double its previous peak within 30 minutes",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "on-demand-capacity-mode.html",
    },
    "transaction_conflicts": {
        "value": 10.0,
        "what": "transactions on one item: a write or transaction on an item that is part of an "
        "ongoing transaction is rejected (a conflict). AWS publishes no rate; ASSUMED: one "
        "item takes one transaction per 10 ms (100/s)",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
        "transaction-apis.html",
    },
    "sts": {
        "value": 600,
        "what": "STS AssumeRole: throttled per account and Region (the hub's); the stored docs "
        "give no figure, ASSUMED 600 requests/s -- check Service Quotas",
        "source": "https://repost.aws/knowledge-center/iam-sts-throttling-error",
    },
    "ec2_describe": {
        "value": 20,
        "what": "EC2 Describe* (per member account and Region): bucket of 100, refilled 20/s",
        "source": "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html",
    },
    "s3_requests": {
        "value": 5500,
        "what": "S3: 5,500 GET/HEAD requests/s per prefix (bucket settings reads)",
        "source": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
        "optimizing-performance.html",
    },
}

SETTING_OF = {
    "Lambda (MaxConcurrency)": "MaxConcurrency (template; <= 1,000, then the Lambda quota)",
    "job item transactions": "WorkerBatchSize (records per accounting transaction)",
    "job task partitions": "task shards (keys.TASKS_PER_SHARD)",
    "table write quota": "the table throughput quota (Service Quotas)",
    "table read quota": "the table throughput quota (Service Quotas)",
    "new table first peak": "the table's WarmThroughput (pre-warm), or ramp the first jobs",
    "STS AssumeRole": "the STS request quota (Service Quotas)",
}


# ------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class Stage:
    """One stage (inventory or scan) of a typical account, as measured."""

    name: str
    billed_ms_per_task: float
    usd_per_account: float
    write_units_per_task: float
    read_units_per_task: float
    assume_role_per_task: float


@dataclass(frozen=True)
class Inputs:
    inventory: Stage
    scan: Stage
    orchestration_per_task: float
    job_item_bytes: int
    task_item_bytes: int
    resources_per_account: float
    checks_per_account: float
    source: str


@dataclass(frozen=True)
class Design:
    """The settings a run of the model assumes."""

    max_concurrency: int = 20  # template.yaml's MaxConcurrency default
    batch_size: int = 10  # template.yaml's BatchSize
    per_task_accounting: bool = False  # before this change: one transaction per task
    task_sharding: bool = True  # a large job's task items over several partition keys
    new_table: bool = False  # the table's first peak
    txn_ms: float = QUOTAS["transaction_conflicts"]["value"]
    sts_rate: float = QUOTAS["sts"]["value"]

    @property
    def per_transaction(self) -> int:
        return 1 if self.per_task_accounting else min(self.batch_size, 98)


def _stage(name: str, measured: dict[str, Any]) -> Stage:
    tasks = max(1.0, float(measured.get("tasks") or 0)) / max(1.0, float(measured["accounts"]))
    requests = measured.get("requests_per_task") or {}
    return Stage(
        name=name,
        billed_ms_per_task=float(measured["billed_ms_per_task"]),
        usd_per_account=float(measured["usd_per_account"]),
        write_units_per_task=float(measured["write_units_per_account"]) / tasks,
        read_units_per_task=float(measured["read_units_per_account"]) / tasks,
        assume_role_per_task=float(requests.get("sts", 0.0)),
    )


def load(path: Path = RESULTS) -> Inputs:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        typical = next(s for s in results["cost"]["sizes"] if "typical" in s["accounts"])
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise SystemExit(
            f"{path}: no cost figures of typical accounts ({exc}); run make bench"
        ) from exc
    return Inputs(
        inventory=_stage("inventory", typical["inventory"]),
        scan=_stage("scan", typical["scan"]),
        orchestration_per_task=float(results["bench2"]["qrie"]["per_task"]),
        job_item_bytes=int(results["bench4"]["job_item_bytes"]),
        task_item_bytes=int(typical["inventory"]["task_item_bytes"]),
        resources_per_account=float(typical["resources_per_account"]),
        checks_per_account=float(typical["evaluations_per_account"]),
        source=f"{path.name} ({results.get('command')}, {results.get('started_at')}; "
        f"{results['parameters']['latency_ms']:g} ms added per request)",
    )


# ------------------------------------------------------------------ the model
@dataclass(frozen=True)
class Job:
    stage: str
    accounts: int
    tasks: int
    throughput: float  # tasks/s
    binding: str
    limits: dict[str, float]
    environments: float  # execution environments busy at that throughput
    wall_seconds: float
    usd: float
    job_item_writes_per_second: float
    job_item_wcu_per_second: float


def job(stage: Stage, accounts: int, design: Design, inputs: Inputs) -> Job:
    tasks = accounts * TASKS_PER_ACCOUNT
    per_env = 1000.0 / stage.billed_ms_per_task
    concurrency = min(design.max_concurrency, QUOTAS["lambda_concurrency"]["value"])
    job_units = max(1, math.ceil(inputs.job_item_bytes / 1024))
    partition = QUOTAS["partition_wcu"]["value"]
    item_txn = min(1000.0 / design.txn_ms, partition / (2 * job_units))
    task_units = max(1, math.ceil(inputs.task_item_bytes / 1024))
    shards = keys.task_shards(tasks) if design.task_sharding else 1
    # a task's accounting writes its item (2 units in a transaction) in a task partition; an
    # unsharded job's task partition is the job item's own
    on_job_key = 0.0 if shards > 1 else 2 * job_units / design.per_transaction
    table = QUOTAS["table_throughput"]["value"]
    limits = {
        "Lambda (MaxConcurrency)": concurrency * per_env,
        "job item transactions": item_txn * design.per_transaction,
        "job task partitions": shards * partition / (2 * task_units + on_job_key),
        "table write quota": table / max(stage.write_units_per_task, 1e-9),
        "table read quota": table / max(stage.read_units_per_task, 1e-9),
    }
    if design.new_table:
        limits["new table first peak"] = 1 / (
            stage.write_units_per_task / QUOTAS["new_table"]["value"]
            + stage.read_units_per_task / (3 * QUOTAS["new_table"]["value"])
        )
    if stage.assume_role_per_task > 0:
        limits["STS AssumeRole"] = design.sts_rate / stage.assume_role_per_task
    binding = min(limits, key=lambda k: limits[k])
    throughput = limits[binding]
    environments = min(concurrency, throughput / per_env)
    wall = _wall(tasks, throughput, per_env, environments)
    writes = throughput / design.per_transaction
    return Job(
        stage=stage.name,
        accounts=accounts,
        tasks=tasks,
        throughput=throughput,
        binding=binding,
        limits=limits,
        environments=environments,
        wall_seconds=wall,
        usd=accounts * stage.usd_per_account,
        job_item_writes_per_second=writes,
        job_item_wcu_per_second=writes * 2 * job_units,
    )


def _wall(tasks: int, throughput: float, per_env: float, environments: float) -> float:
    """Seconds to finish ``tasks`` when the event source starts 5 concurrent batches and adds
    up to 300 a minute (5 a second) until ``environments`` run at ``throughput``."""
    start, rate = 5.0, QUOTAS["esm_ramp"]["value"] / 60
    ramp = max(0.0, environments - start) / rate
    during = per_env * (start * ramp + rate * ramp * ramp / 2)  # tasks done while ramping
    if tasks <= during:  # done before the ramp ends: solve per_env (5t + 2.5t^2) = tasks
        a, b = per_env * rate / 2, per_env * start
        return (-b + math.sqrt(b * b + 4 * a * tasks)) / (2 * a)
    return ramp + (tasks - during) / throughput


def scenarios() -> list[tuple[str, Design]]:
    """The template as deployed (on a table that has served such jobs, and on a new one);
    MaxConcurrency raised to the event source's maximum; the same before this change (one
    transaction per task, every task item under the job's key); and the fix for what binds
    there."""
    return [
        ("template (MaxConcurrency 20)", Design()),
        ("template, a new table's first jobs", Design(new_table=True)),
        ("MaxConcurrency 1,000", Design(max_concurrency=1000)),
        (
            "  the same before: a transaction per task, one task partition",
            Design(max_concurrency=1000, per_task_accounting=True, task_sharding=False),
        ),
        ("  + WorkerBatchSize 100", Design(max_concurrency=1000, batch_size=100)),
    ]


def rows(inputs: Inputs, design: Design) -> list[dict[str, Any]]:
    out = []
    for accounts in SIZES:
        inventory = job(inputs.inventory, accounts, design, inputs)
        scan = job(inputs.scan, accounts, design, inputs)
        first = min((inventory, scan), key=lambda j: j.throughput)
        out.append(
            {
                "accounts": accounts,
                "inventory": inventory,
                "scan": scan,
                "wall_seconds": inventory.wall_seconds + scan.wall_seconds,
                "usd": inventory.usd + scan.usd,
                "peak_job_item_writes": max(
                    inventory.job_item_writes_per_second, scan.job_item_writes_per_second
                ),
                "peak_job_item_wcu": max(
                    inventory.job_item_wcu_per_second, scan.job_item_wcu_per_second
                ),
                "binding": f"{inventory.binding} / {scan.binding}",
                "setting": SETTING_OF[first.binding],
            }
        )
    return out


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def table_rows(inputs: Inputs) -> list[list[str]]:
    lines = []
    for label, design in scenarios():
        for row in rows(inputs, design):
            inv, scan = row["inventory"], row["scan"]
            lines.append(
                [
                    label,
                    f"{row['accounts']:,}",
                    f"{_duration(inv.wall_seconds)} + {_duration(scan.wall_seconds)}",
                    f"{inv.throughput:,.0f} / {scan.throughput:,.0f}",
                    f"{inv.environments:,.0f} / {scan.environments:,.0f}",
                    f"${row['usd']:,.2f}",
                    f"{row['peak_job_item_writes']:,.1f} ({row['peak_job_item_wcu']:,.0f} WCU)",
                    row["binding"],
                    row["setting"],
                ]
            )
    return lines


LEFT = {"settings", "first limit: inventory / scan", "setting that moves the slower"}
HEADER = [
    "settings",
    "accounts",
    "wall: inventory + scan",
    "tasks/s inv / scan",
    "environments",
    "cost",
    "job item writes/s",
    "first limit: inventory / scan",
    "setting that moves the slower",
]


def render(inputs: Inputs, console: Console | None = None) -> None:
    console = console or Console(width=180)
    inv, scan = inputs.inventory, inputs.scan
    console.print(
        f"[bold]Capacity model[/bold] from {inputs.source}: a typical account "
        f"({inputs.resources_per_account:.0f} resources, {inputs.checks_per_account:.0f} checks): "
        f"inventory {inv.billed_ms_per_task:.0f} ms, {inv.write_units_per_task:.1f} WRU, "
        f"{inv.read_units_per_task:.1f} RRU, {inv.assume_role_per_task:.2f} AssumeRole per task, "
        f"${inv.usd_per_account:.6f}/account; scan {scan.billed_ms_per_task:.0f} ms, "
        f"{scan.write_units_per_task:.1f} WRU, {scan.read_units_per_task:.1f} RRU per task, "
        f"${scan.usd_per_account:.6f}/account; {inputs.orchestration_per_task:.3f} orchestration "
        f"requests per task; job item {inputs.job_item_bytes} bytes, task item "
        f"{inputs.task_item_bytes} bytes."
    )
    table = Table(title="Inventory + scan, one job each", title_justify="left")
    for column in HEADER:
        table.add_column(column, justify="left" if column in LEFT else "right")
    for line in table_rows(inputs):
        table.add_row(*line)
    console.print(table)
    console.print(
        "Durations are this machine's at the bench's added latency (--latency-factor scales "
        "them). Transactions per item and the STS rate are assumptions (see QUOTAS); the rest "
        "are AWS's published quotas."
    )


def markdown(inputs: Inputs) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(cell.strip() for cell in line) + " |" for line in table_rows(inputs)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity_model", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS, help="make bench's JSON")
    parser.add_argument("--markdown", action="store_true", help="the table as Markdown")
    parser.add_argument("--latency-factor", type=float, default=1.0, help="task durations x")
    parser.add_argument("--json", action="store_true", help="every figure as JSON")
    args = parser.parse_args(argv)
    inputs = load(args.results)
    if args.latency_factor != 1.0:
        inputs = replace(
            inputs,
            inventory=replace(
                inputs.inventory,
                billed_ms_per_task=inputs.inventory.billed_ms_per_task * args.latency_factor,
            ),
            scan=replace(
                inputs.scan, billed_ms_per_task=inputs.scan.billed_ms_per_task * args.latency_factor
            ),
        )
    if args.json:
        data = {
            label: [
                {k: (v.__dict__ if isinstance(v, Job) else v) for k, v in row.items()}
                for row in rows(inputs, design)
            ]
            for label, design in scenarios()
        }
        print(
            json.dumps(
                {
                    "inputs": inputs.__dict__
                    | {"inventory": inputs.inventory.__dict__, "scan": inputs.scan.__dict__},
                    "quotas": QUOTAS,
                    "scenarios": data,
                },
                indent=2,
                default=str,
            )
        )
    elif args.markdown:
        print(markdown(inputs))
    else:
        render(inputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
