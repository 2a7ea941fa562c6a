"""What the benchmarks' jobs cost per account: qrie's measured usage priced by ``qrie.cost``,
beside what AWS Config and Security Hub CSPM would charge for the same resources and checks.

The comparison's formulas (first-tier list prices, ``qrie/cost_prices.json`` "comparison"):

- **AWS Config** = $0.003 x configuration items recorded (each resource the inventory listed,
  recorded once) + $0.001 x rule evaluations (each (resource, policy) pair the scan evaluated);
- **Security Hub CSPM** = $0.001 x security checks (the same pairs: one check per control and
  resource, per account and Region). Its controls run on AWS Config rules, so Config's
  recording ($0.003 x items) comes on top; shown apart.

Recording changes continuously, evaluating on every change, or more Regions all multiply the
managed services' figures; these are their lowest per-scan charges.
"""

from __future__ import annotations

from typing import Any

from qrie import cost
from qrie.domain import Usage

REGION = "us-east-1"
ARCHITECTURE = "arm64"  # template.yaml's


def per_account(checked: dict[str, Any], accounts: int) -> dict[str, Any]:
    """A job's priced usage per account (``checked``: ``fanout.check_tasks`` of the job)."""
    usage = Usage.from_dict(checked.get("usage") or {})
    priced = cost.cost_of(usage, cost.prices(REGION, ARCHITECTURE))
    tasks = max(1, int(checked.get("tasks") or 0))
    n = max(1, accounts)
    counts = checked.get("counts") or {}
    return {
        "accounts": accounts,
        "tasks": checked.get("tasks"),
        "tasks_measured": usage.tasks,
        "usd_per_account": priced.total / n,
        "parts_per_account": {k: v / n for k, v in priced.parts().items()},
        "gb_seconds_per_account": usage.gb_seconds / n,
        "billed_ms_per_task": usage.ms / tasks,
        "requests_per_task": {k: round(v / tasks, 3) for k, v in usage.by_service().items()},
        "read_units_per_account": usage.read_units / n,
        "write_units_per_account": usage.write_units / n,
        "resources_per_account": counts.get("resource_count", 0) / n,
        "evaluated_per_account": counts.get("evaluated", 0) / n,
        "task_item_bytes": checked.get("task_item_bytes"),
        "job_item_bytes": checked.get("job_item_bytes"),
    }


def comparison(resources: float, evaluations: float) -> dict[str, float]:
    """USD per account of the managed services for the same resources and checks."""
    prices = cost.load_table().get("comparison") or {}
    item = float(prices.get("config_item", 0.003))
    evaluation = float(prices.get("config_rule_evaluation", 0.001))
    check = float(prices.get("security_hub_check", 0.001))
    return {
        "config": resources * item + evaluations * evaluation,
        "config_recording": resources * item,
        "security_hub_checks": evaluations * check,
    }


def summarize(inventory: dict[str, Any], scan: dict[str, Any], label: str) -> dict[str, Any]:
    """Inventory + scan of one account size: qrie's cost and the comparison."""
    resources = float(inventory["resources_per_account"])
    evaluations = float(scan["evaluated_per_account"])
    managed = comparison(resources, evaluations)
    total = inventory["usd_per_account"] + scan["usd_per_account"]
    return {
        "accounts": label,
        "resources_per_account": resources,
        "evaluations_per_account": evaluations,
        "inventory": inventory,
        "scan": scan,
        "qrie_usd_per_account": total,
        "config_usd_per_account": managed["config"],
        "security_hub_usd_per_account": managed["security_hub_checks"],
        "security_hub_with_config_recording": managed["security_hub_checks"]
        + managed["config_recording"],
        "goal_usd_per_account": 0.002,
        "meets_goal": total <= 0.002,
    }
