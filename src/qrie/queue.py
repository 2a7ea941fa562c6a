"""The one place that talks to SQS: batched, parallel enqueue; visibility backoff; DLQ reads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from qrie.aws import Clients, backoff, error_code
from qrie.metering import ContextThreadPool

SEND_BATCH = 10
SEND_ROUNDS = 5
MAX_VISIBILITY = 43_200  # SQS's limit: 12 hours


@dataclass(frozen=True)
class Outgoing:
    id: str  # unique within one send call (the task's sort key, sanitized)
    body: str


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str


def _entry_id(index: int) -> str:
    return f"m{index}"


class TaskQueue:
    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients()

    @property
    def sqs(self) -> Any:
        return self.clients.get("sqs")

    def send(
        self, queue_url: str, messages: Sequence[Outgoing], threads: int = 16
    ) -> dict[str, str]:
        """SendMessageBatch, 10 per call, calls in parallel, failed entries retried.
        Returns {message id: error code} for the ones that could not be sent."""
        chunks = [messages[i : i + SEND_BATCH] for i in range(0, len(messages), SEND_BATCH)]
        failed: dict[str, str] = {}
        if not chunks:
            return failed
        workers = max(1, min(threads, len(chunks)))
        if workers == 1:
            results = [self._send_chunk(queue_url, c) for c in chunks]
        else:
            with ContextThreadPool(max_workers=workers) as pool:
                results = list(pool.map(lambda c: self._send_chunk(queue_url, c), chunks))
        for result in results:
            failed.update(result)
        return failed

    def _send_chunk(self, queue_url: str, chunk: Sequence[Outgoing]) -> dict[str, str]:
        pending = {_entry_id(i): m for i, m in enumerate(chunk)}
        errors: dict[str, str] = {}
        for attempt in range(SEND_ROUNDS):
            entries = [{"Id": eid, "MessageBody": m.body} for eid, m in pending.items()]
            try:
                response = self.sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except ClientError as exc:
                errors = {m.id: error_code(exc) for m in pending.values()}
                backoff(attempt, base=0.1)
                continue
            retry: dict[str, Outgoing] = {}
            errors = {}
            for failure in response.get("Failed", []):
                message = pending[failure["Id"]]
                errors[message.id] = failure.get("Code", "Unknown")
                if not failure.get("SenderFault", False):
                    retry[failure["Id"]] = message
            if not retry:
                return errors
            pending = retry
            backoff(attempt, base=0.1)
        return errors

    def send_one(self, queue_url: str, body: str) -> None:
        self.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def delay(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        """Keep a message invisible for ``seconds`` (backoff before SQS redelivers it)."""
        self.sqs.change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(MAX_VISIBILITY, seconds)),
        )

    def receive_dead_letters(self, queue_url: str, max_messages: int = 10) -> list[DeadLetter]:
        response = self.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages),
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
        )
        return [
            DeadLetter(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""))
            for m in response.get("Messages", [])
        ]

    def delete(self, queue_url: str, receipt_handles: Sequence[str]) -> None:
        for start in range(0, len(receipt_handles), SEND_BATCH):
            chunk = receipt_handles[start : start + SEND_BATCH]
            self.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": _entry_id(i), "ReceiptHandle": r} for i, r in enumerate(chunk)],
            )


def backoff_seconds(receive_count: int, base: int, cap: int) -> int:
    """Exponential backoff with full jitter for the n-th receive (n >= 1)."""
    ceiling = min(cap, base * 2 ** max(0, receive_count - 1))
    return int(random.uniform(ceiling / 2, ceiling)) if ceiling > 0 else 0
