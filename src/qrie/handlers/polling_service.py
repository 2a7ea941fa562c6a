"""PollingServiceFunction: EventBridge rate(2 minutes); reconciles and finalizes running jobs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.handlers.needs import TABLE_ITEMS, Needs
from qrie.handlers.runtime import runtime
from qrie.jobs import reconcile  # noqa: F401 - runs on every invocation: loaded at init
from qrie.observability import count, logger, metrics, traced

# What this function needs from template.yaml (see qrie.handlers.needs): jobs' items only
# (the template narrows the table to their partitions) and the dead letters.
NEEDS = Needs(
    environment=frozenset({"TABLE_NAME", "DLQ_URL"}),
    access={
        "QrieTable": TABLE_ITEMS,
        "DeadLetterQueue": frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage"}),
    },
)

SAFETY_MARGIN_SECONDS = 10


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    report = runtime().reconciler.run(budget_seconds=budget).as_dict()
    count("PollingRuns")
    logger.info("reconciled", extra=report)
    return report
