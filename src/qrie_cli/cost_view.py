"""A job's AWS cost in ``qrie jobs show``: priced from its measured usage (``qrie.cost``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from qrie.cost import PriceError, job_cost

PARTS = (
    ("lambda_compute", "Lambda compute"),
    ("lambda_requests", "Lambda requests"),
    ("sqs", "SQS"),
    ("dynamodb", "DynamoDB"),
)


def cost_of(job: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    """The job's cost (``{"error": ...}`` when the price table cannot price it)."""
    try:
        return job_cost(job, region)
    except PriceError as exc:
        return {"error": str(exc)}


def _usd(value: float) -> str:
    return f"${value:,.6f}"


def cost_table(job: Mapping[str, Any], cost: Mapping[str, Any]) -> Table:
    usage = job.get("usage") or {}
    out = Table(title="AWS cost (measured usage x list prices)", title_justify="left")
    out.add_column("part")
    out.add_column("usage", justify="right")
    out.add_column("USD", justify="right")
    if "error" in cost:
        out.add_row("cannot price", str(cost["error"]), "-")
        return out
    parts = cost["parts"]
    by_service = usage.get("requests_by_service") or {}
    measured = {
        "lambda_compute": f"{usage.get('gb_seconds', 0):,.3f} GB-s",
        "lambda_requests": f"{usage.get('invocations', 0):,.2f} invocations",
        "sqs": f"{by_service.get('sqs', 0):,.1f} requests",
        "dynamodb": f"{usage.get('read_units', 0):,.1f} RRU + "
        f"{usage.get('write_units', 0):,.1f} WRU",
    }
    for key, label in PARTS:
        out.add_row(label, measured[key], _usd(parts[key]))
    tasks = int(cost.get("tasks_measured") or 0)
    per_task = f", {_usd(cost['per_task'])} per task" if cost.get("per_task") else ""
    out.add_row("[bold]total[/bold]", f"{tasks:,} tasks measured{per_task}", _usd(cost["total"]))
    prices = cost["prices"]
    note = f"{prices['region']} {prices['architecture']}, {prices['source']}"
    if prices.get("estimated_region"):
        note += f"; no prices for {prices['region']}: us-east-1's"
    out.caption = note
    return out
