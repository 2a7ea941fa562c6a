"""Shared wiring of the two SQS workers (Powertools BatchProcessor, partial batch failures).

The processor works on a batch's records concurrently (``qrie.jobs.batch``: per-account lanes,
``RECORD_THREADS`` at a time) and accounts them in one transaction per job; each record is then
reported to Powertools as a success or a failure of its own, so the partial batch response names
exactly the records whose work or accounting failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.jobs.batch import run_batch
from qrie.jobs.worker import Delivery, Invocation, TaskWorker


@dataclass(frozen=True)
class RecordHandler:
    """Turns an SQS record into a delivery for the worker (one record at a time when called;
    the whole batch through :class:`ConcurrentBatchProcessor`)."""

    worker: Callable[[], TaskWorker]
    queue_url: Callable[[], str]

    def delivery(self, record: SQSRecord) -> Delivery:
        return Delivery(
            message_id=record.message_id,
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            receipt_handle=record.receipt_handle,
            queue_url=self.queue_url(),
        )

    def __call__(self, record: SQSRecord) -> str:
        return self.worker().process(self.delivery(record))


def make_record_handler(
    worker: Callable[[], TaskWorker], queue_url: Callable[[], str]
) -> RecordHandler:
    return RecordHandler(worker, queue_url)


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' SQS BatchProcessor whose ``process`` runs the batch through
    :func:`qrie.jobs.batch.run_batch` and settles it before the response is built."""

    def process(self) -> list[tuple[Any, ...]]:
        handler = self.handler
        if not isinstance(handler, RecordHandler):
            return super().process()
        invocation = Invocation.now(getattr(self, "lambda_context", None))
        records = [SQSRecord(raw) for raw in self.records]
        worker = handler.worker()
        results = run_batch(
            worker,
            [handler.delivery(r) for r in records],
            invocation,
            worker.settings.record_threads,
        )
        out: list[tuple[Any, ...]] = []
        for record, result in zip(records, results, strict=True):
            if isinstance(result, BaseException):
                out.append(self.failure_handler(record, (type(result), result, None)))
            else:
                out.append(self.success_handler(record, result))
        return out


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
    return ConcurrentBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
