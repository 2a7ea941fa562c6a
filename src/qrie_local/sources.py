"""Event sources: what Lambda's SQS event source mappings and EventBridge schedules do in the
cloud, for one function each. The runner (:mod:`qrie_local.runner`) owns them.

* :class:`SqsSource`: a poller thread long-polls the queue (``ReceiveMessage`` with
  ``AttributeNames=["All"]``, so ``ApproximateReceiveCount`` is real), gathers up to the
  mapping's ``BatchSize`` within ``MaximumBatchingWindowInSeconds``, builds the SQS event Lambda
  would build and invokes the function in one of at most ``concurrency`` execution environments
  (:class:`~qrie_local.slots.Slot`). Records not reported in ``batchItemFailures`` are deleted
  (``DeleteMessageBatch``); a handler exception, a crash or a timeout deletes nothing (the whole
  batch returns after its visibility timeout, or ``VisibilityTimeout x time_scale``).
* :class:`ScheduleSource`: calls its function every ``interval`` seconds with an EventBridge
  scheduled event.

**Delivery hooks** are the seam for whatever must happen around a delivery without changing it
here (fault injection: :class:`qrie_local.faults.RunnerFaults`). Before each SQS delivery every
:class:`DeliveryHook` sees the :class:`Delivery` and may answer a :class:`DeliveryPlan`: a payload
sent to the execution environment instead of the event (the last hook that sets one wins), and
records to deliver once more, at once, in another invocation (as SQS's at-least-once delivery
may). Such a repeated delivery reaches the hooks too, marked ``injected``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from qrie_local.events import scheduled_event, sqs_event
from qrie_local.functions import FunctionSpec, SqsEventSpec
from qrie_local.identity import ACCOUNT_ID, local_client
from qrie_local.slots import Outcome, Slot, close_all

__all__ = [
    "Delivery",
    "DeliveryHook",
    "DeliveryPlan",
    "ScheduleSource",
    "SourceHost",
    "SqsSource",
    "failed_ids",
]

POLL_WAIT_SECONDS = 1  # long-poll wait of ReceiveMessage
SQS_MAX_MESSAGES = 10


# --------------------------------------------------------------------------------- the seams
@dataclass(frozen=True)
class Delivery:
    """One SQS batch about to be handed to a function."""

    function: str  # the function's logical id
    messages: Sequence[Mapping[str, Any]]  # as ReceiveMessage returned them
    event: dict[str, Any]  # the SQS event Lambda builds from them
    injected: bool = False  # a repeated delivery a hook asked for


@dataclass(frozen=True)
class DeliveryPlan:
    """What a hook wants done with a delivery."""

    payload: Any = None  # sent to the execution environment instead of the event (None: keep)
    redeliver: tuple[Mapping[str, Any], ...] = ()  # delivered again, in another invocation


class DeliveryHook(Protocol):
    """Called before every SQS delivery (from several threads at once)."""

    def before_delivery(self, delivery: Delivery) -> DeliveryPlan | None:
        """A plan for ``delivery``, or None to deliver it as it is."""


class SourceHost(Protocol):
    """What an event source needs from the runner that owns it."""

    @property
    def endpoint(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def time_scale(self) -> float: ...

    @property
    def log_path(self) -> Path | None: ...

    def wait(self, seconds: float) -> bool: ...

    def log(self, text: str) -> None: ...

    def note_busy(self, name: str, busy: int) -> None: ...

    def record(
        self,
        name: str,
        outcome: Outcome,
        cold: bool,
        received: int = 0,
        failed: int = 0,
        deleted: int = 0,
    ) -> None: ...


# -------------------------------------------------------------------------------------- SQS
def failed_ids(spec: SqsEventSpec, outcome: Outcome, message_ids: list[str]) -> set[str]:
    """The records that go back to the queue after an invocation, as Lambda decides it."""
    every = set(message_ids)
    if outcome.status != "ok":
        return every
    if not spec.reports_batch_item_failures:
        return set()
    result = outcome.result
    if result is None or result == {}:
        return set()
    if not isinstance(result, dict):
        return every
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return every
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in every:
            return every  # an unusable report fails the whole batch
        failed.add(str(identifier))
    return failed


class SqsSource:
    """One SQS event source mapping: a poller thread and up to ``concurrency`` slots."""

    def __init__(
        self,
        host: SourceHost,
        spec: FunctionSpec,
        event: SqsEventSpec,
        concurrency: int,
        env: Mapping[str, str],
        hooks: Sequence[DeliveryHook] = (),
    ) -> None:
        self.host = host
        self.spec = spec
        self.event = event
        self.concurrency = max(1, concurrency)
        self.env = dict(env)
        self.hooks = tuple(hooks)
        self.sqs = local_client("sqs", host.endpoint, host.region)
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=event.queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        self.visibility = int(attributes.get("VisibilityTimeout", 30))
        self._idle: list[Slot] = []
        self._slots: list[Slot] = []
        self._busy = 0
        self._cond = threading.Condition()
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"{spec.logical_id}-invoke"
        )
        self._thread = threading.Thread(
            target=self._poll, name=f"{spec.logical_id}-{event.name}-poller", daemon=True
        )
        self._redeliveries: list[threading.Thread] = []  # deliveries hooks asked for

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the poller and the in-flight invocations (after the runner's stop)."""
        self._thread.join()
        self._executor.shutdown(wait=True)
        with self._cond:
            redeliveries, self._redeliveries = self._redeliveries, []
        for thread in redeliveries:
            thread.join()

    def close_slots(self, force: bool = False) -> None:
        with self._cond:
            slots, self._slots, self._idle = list(self._slots), [], []
        close_all(slots, force)

    def _acquire(self, timeout: float) -> Slot | None:
        with self._cond:
            deadline = time.monotonic() + timeout
            while not self._idle and len(self._slots) >= self.concurrency:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.host.stopping:
                    return None
                self._cond.wait(remaining)
            if self._idle:
                slot = self._idle.pop()  # the most recently used: warm
            else:
                slot = Slot(
                    self.spec,
                    self.env,
                    f"{self.spec.logical_id}-{len(self._slots) + 1}",
                    self.host.log_path,
                )
                self._slots.append(slot)
            return slot

    def _release(self, slot: Slot) -> None:
        with self._cond:
            if slot in self._slots:
                self._idle.append(slot)
            self._cond.notify()

    def _receive(self) -> list[dict[str, Any]]:
        gathered: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.event.batching_window
        while len(gathered) < self.event.batch_size and not self.host.stopping:
            remaining = deadline - time.monotonic()
            wait = (
                POLL_WAIT_SECONDS
                if not gathered
                else max(0, min(POLL_WAIT_SECONDS, int(remaining)))
            )
            response = self.sqs.receive_message(
                QueueUrl=self.event.queue_url,
                MaxNumberOfMessages=min(SQS_MAX_MESSAGES, self.event.batch_size - len(gathered)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            gathered.extend(messages)
            if not gathered or time.monotonic() >= deadline:
                break
            if not messages and wait == 0:
                time.sleep(min(0.1, max(0.0, remaining)))
        return gathered

    def _poll(self) -> None:
        while not self.host.stopping:
            slot = self._acquire(timeout=0.5)
            if slot is None:
                continue
            try:
                messages = self._receive()
            except Exception as exc:
                self._release(slot)
                self.host.log(f"{self.spec.logical_id}: ReceiveMessage failed: {exc}")
                self.host.wait(1.0)
                continue
            if not messages:
                self._release(slot)
                continue
            self._executor.submit(self._invoke, slot, messages)

    def _invoke(self, slot: Slot, messages: list[dict[str, Any]], injected: bool = False) -> None:
        with self._cond:
            self._busy += 1
            self.host.note_busy(self.spec.logical_id, self._busy)
        try:
            self._deliver(slot, messages, injected)
        except Exception as exc:
            self.host.log(f"{self.spec.logical_id}: delivery failed: {exc!r}")
        finally:
            with self._cond:
                self._busy -= 1
                self.host.note_busy(self.spec.logical_id, self._busy)
            self._release(slot)

    def _redeliver(self, messages: list[dict[str, Any]]) -> None:
        """Records a hook asked to deliver again, in another invocation. Runs in its own
        thread: waiting for a slot must not hold one of the executor's threads, which run the
        invocations the poller has already given a slot to."""
        slot = None
        while slot is None:
            if self.host.stopping:
                return
            slot = self._acquire(timeout=0.5)
        self._invoke(slot, messages, injected=True)

    def _start_redelivery(self, messages: list[dict[str, Any]]) -> None:
        thread = threading.Thread(
            target=self._redeliver,
            args=(messages,),
            name=f"{self.spec.logical_id}-redelivery",
            daemon=True,
        )
        with self._cond:
            self._redeliveries = [t for t in self._redeliveries if t.is_alive()]
            self._redeliveries.append(thread)
        thread.start()

    def _apply_hooks(self, delivery: Delivery) -> Any:
        """The payload the execution environment gets, after every hook's plan; starts the
        redeliveries the hooks asked for."""
        payload: Any = delivery.event
        again: list[dict[str, Any]] = []
        for hook in self.hooks:
            plan = hook.before_delivery(delivery)
            if plan is None:
                continue
            if plan.payload is not None:
                payload = plan.payload
            again += [dict(m) for m in plan.redeliver]
        if again and not self.host.stopping:
            self._start_redelivery(again)
        return payload

    def _deliver(self, slot: Slot, messages: list[dict[str, Any]], injected: bool) -> None:
        name = self.spec.logical_id
        event = sqs_event(messages, self.event.queue_arn, self.host.region)
        payload = self._apply_hooks(Delivery(name, messages, event, injected))
        outcome, cold = slot.invoke(payload)
        ids = [str(m["MessageId"]) for m in messages]
        failed = failed_ids(self.event, outcome, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        back = [m for m in messages if m["MessageId"] in failed]
        deleted = self._delete(done)
        if back and self.host.time_scale != 1.0:
            self._shorten_visibility(back)
        self.host.record(
            name, outcome, cold, received=len(messages), failed=len(back), deleted=deleted
        )
        if outcome.status != "ok":
            self.host.log(
                f"{name}: {outcome.status} {outcome.error_type}: {outcome.error_message} "
                f"({len(messages)} records back to the queue)"
            )

    def _delete(self, messages: list[dict[str, Any]]) -> int:
        deleted = 0
        for start in range(0, len(messages), SQS_MAX_MESSAGES):
            chunk = messages[start : start + SQS_MAX_MESSAGES]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.event.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            deleted += len(response.get("Successful", []))
            self._log_failed("DeleteMessageBatch", response)
        return deleted

    def _log_failed(self, operation: str, response: Mapping[str, Any]) -> None:
        """A batch call's failed entries, by error code (a message already gone, typically)."""
        failed = response.get("Failed", [])
        if failed:
            codes = ", ".join(sorted({str(f.get("Code")) for f in failed}))
            self.host.log(
                f"{self.spec.logical_id}: {operation} failed for {len(failed)} records ({codes})"
            )

    def _shorten_visibility(self, messages: list[dict[str, Any]]) -> None:
        seconds = max(0, int(self.visibility * self.host.time_scale))
        for start in range(0, len(messages), SQS_MAX_MESSAGES):
            chunk = messages[start : start + SQS_MAX_MESSAGES]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.event.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": seconds,
                        }
                        for i, m in enumerate(chunk)
                    ],
                )
            except Exception as exc:  # a message already gone keeps its fate
                self.host.log(f"{self.spec.logical_id}: ChangeMessageVisibility failed: {exc}")
                continue
            self._log_failed("ChangeMessageVisibilityBatch", response)


# --------------------------------------------------------------------------------- schedules
class ScheduleSource:
    """One Schedule event: calls its function every ``interval`` seconds in its own slot."""

    def __init__(
        self,
        host: SourceHost,
        spec: FunctionSpec,
        rule_arn: str,
        interval: float,
        env: Mapping[str, str],
    ) -> None:
        self.host = host
        self.spec = spec
        self.rule_arn = rule_arn
        self.interval = interval
        self.slot = Slot(spec, env, f"{spec.logical_id}-schedule", host.log_path)
        self._thread = threading.Thread(
            target=self._run, name=f"{spec.logical_id}-schedule", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        next_call = time.monotonic() + self.interval
        while not self.host.wait(max(0.0, next_call - time.monotonic())):
            event = scheduled_event(self.rule_arn, self.host.region, ACCOUNT_ID)
            self.host.note_busy(self.spec.logical_id, 1)
            outcome, cold = self.slot.invoke(event)
            self.host.note_busy(self.spec.logical_id, 0)
            self.host.record(self.spec.logical_id, outcome, cold)
            if outcome.status != "ok":
                self.host.log(
                    f"{self.spec.logical_id}: {outcome.status} {outcome.error_type}: "
                    f"{outcome.error_message}"
                )
            next_call += self.interval
            if next_call < time.monotonic():  # fell behind: EventBridge does not catch up
                next_call = time.monotonic() + self.interval
