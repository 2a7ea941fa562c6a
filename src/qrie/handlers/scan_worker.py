"""ScanWorkerFunction: consumes the scan queue, one task per record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.handlers._sqs import handle_batch, make_record_handler, new_processor
from qrie.handlers.needs import TABLE_ITEMS, Needs
from qrie.handlers.runtime import runtime
from qrie.observability import logger, metrics, traced

# What this function needs from template.yaml (see qrie.handlers.needs): it evaluates the
# stored inventory, so no member role and no ExternalId.
NEEDS = Needs(
    environment=frozenset(
        {"TABLE_NAME", "SCAN_QUEUE_URL", "RETRY_BASE_SECONDS", "MAX_RECEIVE_COUNT"}
    ),
    access={
        "QrieTable": TABLE_ITEMS,
        "ScanQueue": frozenset({"sqs:ChangeMessageVisibility"}),
    },
)

processor = new_processor()
record_handler = make_record_handler(
    lambda: runtime().scan_worker, lambda: runtime().settings.scan_queue_url
)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_batch(event, context, processor, record_handler)
