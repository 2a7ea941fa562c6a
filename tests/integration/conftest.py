"""Integration fixtures: small test handlers for the runner's semantics (the module's local stack,
a real moto server provisioned from template.yaml, is ``local_stack`` in tests/conftest.py).

The handlers below run in the runner's execution-environment processes (``Handler:
tests.integration.conftest.<name>`` in a test template). They record what they saw as JSON lines
in ``$OUT_DIR/<name>.jsonl`` (one line per call, written under an exclusive lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.integration)


# ----------------------------------------------------------------------------- test handlers
def _record(name: str, entry: dict[str, Any]) -> None:
    path = Path(os.environ["OUT_DIR"]) / f"{name}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(json.dumps({**entry, "pid": os.getpid(), "at": time.time()}) + "\n")
        out.flush()
        fcntl.flock(out, fcntl.LOCK_UN)


def read_records(out_dir: Path, name: str) -> list[dict[str, Any]]:
    path = out_dir / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _records(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": record["messageId"],
            "body": record["body"],
            "receive_count": int(record["attributes"]["ApproximateReceiveCount"]),
            "source": record["eventSourceARN"],
        }
        for record in event["Records"]
    ]


@dataclass(frozen=True)
class MarkedEvent:
    """A payload a delivery hook sends instead of the event (a ``WrappedEvent``): records its
    mark and the record ids in the execution environment, then runs the handler on the event."""

    event: dict[str, Any]
    mark: str

    def run_in_environment(self, handler: Callable[[Any, Any], Any], context: Any) -> Any:
        ids = [r["id"] for r in _records(self.event)]
        _record("marked", {"mark": self.mark, "ids": ids})
        return handler(self.event, context)


def record_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Succeeds; records the batch."""
    _record(
        "record_batch",
        {
            "size": len(event["Records"]),
            "records": _records(event),
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function": context.function_name,
            "table": os.environ.get("TABLE_NAME", ""),
        },
    )
    return {"batchItemFailures": []}


def fail_marked_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports the records whose body has ``"fail": true`` as failures on their first receive."""
    records = _records(event)
    failures = [
        {"itemIdentifier": r["id"]}
        for r in records
        if json.loads(r["body"]).get("fail") and r["receive_count"] == 1
    ]
    _record(
        "fail_marked_once", {"records": records, "failed": [f["itemIdentifier"] for f in failures]}
    )
    return {"batchItemFailures": failures}


def always_fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports every record as failed."""
    records = _records(event)
    _record("always_fail", {"records": records})
    return {"batchItemFailures": [{"itemIdentifier": r["id"]} for r in records]}


def raise_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises on a batch holding any first receive (the whole batch goes back); then succeeds."""
    records = _records(event)
    _record("raise_once", {"records": records})
    if any(r["receive_count"] == 1 for r in records):
        raise RuntimeError("boom")
    return {"batchItemFailures": []}


def crash_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Kills its execution environment on a first receive; then succeeds."""
    records = _records(event)
    _record("crash_once", {"records": records})
    if any(r["receive_count"] == 1 for r in records):
        os._exit(3)
    return {"batchItemFailures": []}


def count_concurrency(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Counts invocations running at once (a counter file under a lock), sleeping a little."""
    counter = Path(os.environ["OUT_DIR"]) / "running"

    def add(delta: int) -> int:
        with counter.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            value = int(handle.read() or 0) + delta
            handle.seek(0)
            handle.truncate()
            handle.write(str(value))
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
        return value

    running = add(1)
    try:
        _record("count_concurrency", {"running": running, "size": len(event["Records"])})
        time.sleep(0.4)
    finally:
        add(-1)
    return {"batchItemFailures": []}


def on_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records a scheduled call."""
    _record(
        "on_schedule",
        {"detail_type": event.get("detail-type"), "resources": event.get("resources")},
    )
    return {"ok": True}


def echo(event: Any, context: Any) -> dict[str, Any]:
    """Returns the event and some of its environment (for Runner.invoke)."""
    return {
        "event": event,
        "function": context.function_name,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "out_dir": os.environ.get("OUT_DIR"),
        "extra": os.environ.get("EXTRA"),
    }


def explode(event: Any, context: Any) -> None:
    raise ValueError("no such thing")
