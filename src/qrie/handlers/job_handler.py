"""JobHandlerFunction: direct invoke for inventory, scan, status, list, cancel and retry."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.handlers.needs import TABLE_ITEMS, Needs
from qrie.handlers.runtime import runtime
from qrie.jobs import service  # noqa: F401 - runs on every request: loaded at init
from qrie.observability import count, logger, metrics, traced

# What this function needs from template.yaml (see qrie.handlers.needs).
NEEDS = Needs(
    environment=frozenset(
        {"TABLE_NAME", "INVENTORY_QUEUE_URL", "SCAN_QUEUE_URL", "JOB_TIMEOUT_SECONDS"}
    ),
    access={
        "QrieTable": TABLE_ITEMS,
        "InventoryQueue": frozenset({"sqs:SendMessage"}),  # a job's tasks
        "ScanQueue": frozenset({"sqs:SendMessage"}),
    },
)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@traced
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    response = runtime().jobs.handle(event)
    if "error" in response:
        logger.warning("request refused: %s", response["error"]["message"])
        count("RequestsRefused")
    elif "job_id" in response:
        logger.append_keys(job_id=response["job_id"])
        logger.info("job accepted", extra={"total_tasks": response.get("total_tasks")})
        count("JobRequests")
        count("TasksEnqueued", int(response.get("total_tasks", 0)))
    else:
        count("Queries")
    return response
