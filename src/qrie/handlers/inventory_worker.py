"""InventoryWorkerFunction: consumes the inventory queue, one task per record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.handlers._sqs import handle_batch, make_record_handler, new_processor
from qrie.handlers.needs import MEMBER_ROLES, TABLE_ITEMS, Needs
from qrie.handlers.runtime import runtime
from qrie.observability import logger, metrics, traced

# What this function needs from template.yaml (see qrie.handlers.needs).
NEEDS = Needs(
    environment=frozenset(
        {
            "TABLE_NAME",
            "INVENTORY_QUEUE_URL",  # its own queue: a transient failure backs off there
            "SCAN_QUEUE_URL",  # refresh jobs: the scan of what it found
            "MEMBER_ROLE_NAME",
            "EXTERNAL_ID",
            "REGIONS",
            "RETRY_BASE_SECONDS",
            "MAX_RECEIVE_COUNT",
        }
    ),
    access={
        "QrieTable": TABLE_ITEMS,
        "InventoryQueue": frozenset({"sqs:ChangeMessageVisibility"}),
        "ScanQueue": frozenset({"sqs:SendMessage"}),
        MEMBER_ROLES: frozenset({"sts:AssumeRole"}),
    },
)

processor = new_processor()
record_handler = make_record_handler(
    lambda: runtime().inventory_worker, lambda: runtime().settings.inventory_queue_url
)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_batch(event, context, processor, record_handler)
