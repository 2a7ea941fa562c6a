"""In-process Lambda plumbing for counting: an SQS event source mapping that does what Lambda's
does (ReceiveMessage up to 10 with all attributes, invoke with the SQS event, DeleteMessageBatch
of the records not reported as failures), and phases that attribute counted requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.counting import COUNTER
from qrie_local.events import LambdaContext, sqs_event

Handler = Callable[[dict[str, Any], Any], Any]
MAX_MESSAGES = 10


class Phases:
    """Requests counted by botocore hooks, attributed to the phase they were made in (one
    thread at a time: the in-process benchmark is sequential)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()  # "<phase>|service.Operation" -> requests

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = COUNTER.snapshot()
        try:
            yield
        finally:
            after = COUNTER.snapshot()
            for key, value in after.items():
                delta = value - before.get(key, 0)
                if delta:
                    self.counts[f"{name}|{key}"] += delta

    def by_phase(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for key, value in sorted(self.counts.items()):
            phase, operation = key.split("|", 1)
            result.setdefault(phase, {})[operation] = value
        return result

    def total(self) -> int:
        return sum(self.counts.values())


class EventSourceMapping:
    """One SQS queue feeding one handler, in this process, batch by batch."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: Handler,
        function_name: str,
        timeout: int,
        phases: Phases,
        batch_size: int = MAX_MESSAGES,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.handler = handler
        self.function_name = function_name
        self.timeout = timeout
        self.phases = phases
        self.batch_size = batch_size
        self.invocations = 0
        self.records = 0

    def poll_once(self) -> int:
        """Receive one batch, invoke, delete the successes; the number of records received."""
        with self.phases.phase("receive"):
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_MESSAGES, self.batch_size),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, self.queue_arn, self.region)
        with self.phases.phase("invoke"):
            result = self.handler(event, LambdaContext(self.function_name, self.timeout))
        failures = {
            str(f.get("itemIdentifier"))
            for f in ((result or {}).get("batchItemFailures") or [])
            if isinstance(f, dict)
        }
        done = [m for m in messages if m["MessageId"] not in failures]
        if done:
            with self.phases.phase("delete"):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
        self.invocations += 1
        self.records += len(messages)
        return len(messages)

    def drain(self) -> None:
        """Poll until a receive comes back empty (that empty receive is counted too)."""
        while self.poll_once():
            pass
