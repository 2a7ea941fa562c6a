"""Shared wiring of the two SQS workers (Powertools BatchProcessor, partial batch failures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.jobs.worker import Delivery, TaskWorker


def make_record_handler(
    worker: Callable[[], TaskWorker], queue_url: Callable[[], str]
) -> Callable[[SQSRecord], str]:
    def record_handler(record: SQSRecord) -> str:
        delivery = Delivery(
            message_id=record.message_id,
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            receipt_handle=record.receipt_handle,
            queue_url=queue_url(),
        )
        return worker().process(delivery)

    return record_handler


def handle_batch(
    event: dict[str, Any],
    context: LambdaContext,
    processor: BatchProcessor,
    record_handler: Callable[[SQSRecord], str],
) -> dict[str, Any]:
    response = process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    return dict(response)


def new_processor() -> BatchProcessor:
    # A batch whose every record failed is still a partial response, not an exception: the
    # records keep the visibility backoff the worker gave them.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
