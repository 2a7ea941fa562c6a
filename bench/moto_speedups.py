"""moto, patched for the benchmarks' sizes: a request hook factory
(``--hook bench.moto_speedups:hook``) whose only effect is to patch moto in the server process.

moto's SQS costs grow with the number of messages in the queue, unlike SQS's: every
``SendMessage`` entry and every received message computes *all* the queue's attributes (three of
them count the queue's messages, reading the clock twice per message), every receive lists the
visible messages the same way, and every ``DeleteMessage`` scans the queue twice. With 10,000
queued tasks one ReceiveMessage costs seconds of server CPU; the benchmarks would measure moto's
queue, not qrie. The patches keep moto's behaviour and answers and make those costs small:

* ``Queue.attributes`` is a mapping that computes an attribute only when it is read;
* ``Queue.messages`` and the approximate counts read the clock once per call;
* the retention-period check per received message reads that one attribute;
* ``Queue.delete_message`` removes the message in one pass that stops at it (messages are
  deleted in about the order they were received, so near the front).

Also: moto's dispatcher lists its own package directory (a stat per service) on every request
to recognise a service name; the list is computed once. (ListBuckets paging is in
:mod:`qrie_local.moto_patches`, which every local AWS applies.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["hook", "install"]

_INSTALLED = False


class _LazyAttributes(Mapping[str, Any]):
    """A queue's attributes, each computed (as moto computes it) when read."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self._names = names
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if name not in self._names:
                raise KeyError(name)
            self._values[name] = self._compute(name)
        return self._values[name]

    def _compute(self, name: str) -> Any:
        from moto.core.utils import camelcase_to_underscores

        queue = self._queue
        if name == "Policy":
            return queue.policy
        if name == "RedrivePolicy":
            return json.dumps(queue.redrive_policy)
        value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def install() -> None:
    """Patch moto in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto import backends
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)  # type: ignore[assignment]

    queue_class: Any = models.Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now <= m.visible_at)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def attributes(self: Any) -> Mapping[str, Any]:
        return _LazyAttributes(self)

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # deleted before: SQS accepts it again
        for index, message in enumerate(self._messages):
            if message.had_receipt_handle(receipt_handle):
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                del self._messages[index]
                return
        raise ReceiptHandleIsInvalid()

    def retention_ok(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    queue_class.messages = property(messages)
    queue_class.approximate_number_of_messages_not_visible = property(not_visible)
    queue_class.approximate_number_of_messages_delayed = property(delayed)
    queue_class.attributes = property(attributes)
    queue_class.delete_message = delete_message
    models.SQSBackend.is_message_valid_based_on_retention_period = retention_ok  # type: ignore[method-assign]
    _INSTALLED = True


def hook() -> Callable[[Any], None]:
    """The server's ``--hook`` factory: installs the patches, then lets every request through."""
    install()

    def through(_info: Any) -> None:
        return None

    return through
