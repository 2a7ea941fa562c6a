"""The inventory worker as the runner's execution environments run it in the benchmarks: qrie's
own handler, behind a switch.

* ``QRIE_BENCH_MODE_FILE`` (set through the runner's ``env_overrides``) names a file holding the
  mode, read at every invocation: ``real`` (qrie unchanged), ``noop`` (no-op collectors: the
  engine's own requests plus AssumeRole) or ``noop-stub`` (no AssumeRole either). One warm set
  of environments then serves several benchmarks.
* A batch whose every body is ``WARMUP_BODY`` builds the environment's clients (what a warm
  Lambda environment holds after its first invocation), sleeps ``QRIE_BENCH_WARMUP_SECONDS`` so
  that the runner starts all its environments at once, and succeeds. The benchmarks time warm
  environments; cold starts are measured apart.

The runner runs this module through a copy of the stack whose function spec names it as the
handler (``bench.fanout.with_handler``); everything else is the real handler's work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qrie.handlers import inventory_worker as _inventory_worker

WARMUP_BODY = "qrie-bench-warmup"
MODES = ("real", "noop", "noop-stub")

_handlers: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {}


def _mode() -> str:
    path = os.environ.get("QRIE_BENCH_MODE_FILE")
    if not path:
        return "real"
    try:
        mode = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return "real"
    return mode if mode in MODES else "real"


def _handler(mode: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """qrie's handler (``real``), or the same wiring around a no-op worker (built once)."""
    if mode == "real":
        return _inventory_worker.lambda_handler
    if mode not in _handlers:
        from bench import noop

        _handlers[mode] = noop.worker_handler(stub_credentials=mode == "noop-stub")
    return _handlers[mode]


def _warm() -> None:
    from qrie.handlers.runtime import runtime

    current = runtime()
    _ = current.store.db
    _ = current.queue.sqs
    current.clients.get("sts")


def inventory_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and all(r.get("body") == WARMUP_BODY for r in records):
        _warm()
        time.sleep(float(os.environ.get("QRIE_BENCH_WARMUP_SECONDS", "0.5")))
        return {"batchItemFailures": []}
    return _handler(_mode())(event, context)
