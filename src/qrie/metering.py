"""Measuring what a piece of work consumes in AWS, while it runs.

A :class:`Meter` collects the AWS requests and the DynamoDB capacity of one piece of work (a
task, a job's creation). It is found through a context variable, so that records a worker runs
concurrently never mix their figures:

- **requests**: a botocore ``before-send`` hook, registered on the session every client of qrie
  is built from (``qrie.aws.Clients``: the hub's clients and the member accounts'), counts each
  HTTP attempt as ``service.Operation`` on the current meter (an attempt that is retried counts
  twice, as AWS counts it);
- **DynamoDB capacity**: the store asks for ``ReturnConsumedCapacity=TOTAL`` on its reads and
  writes and hands each response to :func:`record_capacity`.

Threads qrie starts inside a piece of work (``ContextThreadPool``: per-resource reads, regions,
batch writes, sends) run in a copy of the submitter's context, so their requests land on the
same meter. Outside any meter (the CLI, a test) nothing is counted.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any, ParamSpec, TypeVar

from qrie.domain.usage import Usage

__all__ = [
    "ContextThreadPool",
    "Meter",
    "current",
    "memory_mb",
    "metered",
    "record_capacity",
    "register",
]

_CURRENT: ContextVar[Meter | None] = ContextVar("qrie_meter", default=None)
HOOK_ID = "qrie-metering"
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})

P = ParamSpec("P")
T = TypeVar("T")


class Meter:
    """Requests and DynamoDB capacity of one piece of work (thread-safe), and its wall time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._read_units = 0.0
        self._write_units = 0.0
        self._started = time.perf_counter()
        self._stopped: float | None = None

    def count(self, operation: str, n: int = 1) -> None:
        with self._lock:
            self._requests[operation] += n

    def add_capacity(self, read_units: float = 0.0, write_units: float = 0.0) -> None:
        with self._lock:
            self._read_units += read_units
            self._write_units += write_units

    def stop(self) -> None:
        if self._stopped is None:
            self._stopped = time.perf_counter()

    @property
    def wall_ms(self) -> float:
        end = self._stopped if self._stopped is not None else time.perf_counter()
        return 1000 * (end - self._started)

    def usage(self) -> Usage:
        """What was measured so far: requests and capacity (durations are the caller's)."""
        with self._lock:
            return Usage(
                requests={k: float(v) for k, v in sorted(self._requests.items())},
                read_units=self._read_units,
                write_units=self._write_units,
            )


def current() -> Meter | None:
    return _CURRENT.get()


@contextmanager
def metered(meter: Meter | None = None) -> Iterator[Meter]:
    """Attribute what runs inside (in this context) to ``meter`` (a new one by default)."""
    meter = meter or Meter()
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)
        meter.stop()


def _on_send(event_name: str = "", **_kwargs: Any) -> None:
    """botocore ``before-send.<service>.<Operation>``: one HTTP attempt."""
    meter = _CURRENT.get()
    if meter is None:
        return
    parts = event_name.split(".")
    if len(parts) >= 3:
        meter.count(f"{parts[1]}.{parts[2]}")


def register(events: Any) -> None:
    """Count the requests of every client built from the session owning ``events``
    (idempotent: one handler per event system)."""
    events.register("before-send", _on_send, unique_id=HOOK_ID)


def _units(entry: Mapping[str, Any], operation: str) -> tuple[float, float]:
    read = entry.get("ReadCapacityUnits")
    write = entry.get("WriteCapacityUnits")
    if read is not None or write is not None:
        return float(read or 0.0), float(write or 0.0)
    units = float(entry.get("CapacityUnits") or 0.0)
    return (units, 0.0) if operation in READ_OPERATIONS else (0.0, units)


def record_capacity(operation: str, response: Mapping[str, Any]) -> None:
    """Add a DynamoDB response's ``ConsumedCapacity`` (one entry or a list) to the meter."""
    meter = _CURRENT.get()
    consumed = response.get("ConsumedCapacity")
    if meter is None or not consumed:
        return
    entries = consumed if isinstance(consumed, list) else [consumed]
    read = write = 0.0
    for entry in entries:
        r, w = _units(entry, operation)
        read += r
        write += w
    meter.add_capacity(read, write)


class ContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in a copy of the submitting thread's context: the meter
    (and the logger's per-record keys) follow the work into its threads."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = copy_context()
        return super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]


def memory_mb(context: Any = None) -> int:
    """The function's memory: the Lambda context's, else ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``
    (set by Lambda in every execution environment), else 0 (not in Lambda)."""
    value = getattr(context, "memory_limit_in_mb", None) if context is not None else None
    if value is None:
        value = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    try:
        return max(0, int(value)) if value is not None else 0
    except (TypeError, ValueError):
        return 0
