"""Counting AWS requests through botocore's event hooks, by service and operation.

``install()`` wraps ``boto3.session.Session.__init__`` so that every boto3 session created
afterwards (the handlers' ``Clients``, ``AccountSessions``, the runner's clients) registers a
``before-send`` handler on its event system. ``before-send`` fires once per HTTP attempt (a
retried call counts twice, as the server sees it); the event name carries the service and the
operation (``before-send.dynamodb.TransactWriteItems``).

``COUNTER`` is process-wide.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import boto3.session

__all__ = ["COUNTER", "RequestCounter", "install", "uninstall"]


class RequestCounter:
    """Thread-safe counts of ``service.Operation`` keys."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def on_send(self, event_name: str = "", **_kwargs: Any) -> None:
        # event_name: "before-send.<service id>.<Operation>"
        parts = event_name.split(".")
        if len(parts) >= 3:
            self.add(f"{parts[1]}.{parts[2]}")


COUNTER = RequestCounter()
_INSTALLED = False
_ORIGINAL_INIT: Callable[..., None] | None = None


def install(counter: RequestCounter = COUNTER) -> None:
    """Count the requests of every boto3 session created from now on (idempotent)."""
    global _INSTALLED, _ORIGINAL_INIT
    if _INSTALLED:
        return
    original = boto3.session.Session.__init__
    _ORIGINAL_INIT = original

    def init(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.events.register("before-send", counter.on_send, unique_id="qrie-bench-counter")

    boto3.session.Session.__init__ = init  # type: ignore[method-assign]
    boto3.DEFAULT_SESSION = None  # the next default session is a counted one
    _INSTALLED = True


def uninstall() -> None:
    global _INSTALLED
    if _INSTALLED and _ORIGINAL_INIT is not None:
        boto3.session.Session.__init__ = _ORIGINAL_INIT  # type: ignore[method-assign]
        boto3.DEFAULT_SESSION = None
    _INSTALLED = False
