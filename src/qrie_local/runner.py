"""The event-source runner: what Lambda's SQS event source mappings and EventBridge schedules
do in the cloud, for the functions of the local stack's template. The handlers run unchanged.

* **SQS events**: one poller per event source long-polls the queue (``ReceiveMessage`` with
  ``AttributeNames=["All"]``, so ``ApproximateReceiveCount`` is real), gathers up to the
  template's ``BatchSize`` within ``MaximumBatchingWindowInSeconds``, builds the SQS event Lambda
  would build and invokes the template's ``Handler``. Records not reported in
  ``batchItemFailures`` are deleted (``DeleteMessageBatch``); a handler exception, a crash or a
  timeout deletes nothing (the whole batch returns after its visibility timeout). At most
  ``MaximumConcurrency`` invocations run at once per event source.
* **Schedules**: each ``Schedule`` event calls its function every ``schedule_interval`` seconds
  (the local stand-in for ``rate(2 minutes)``) with an EventBridge scheduled event.
* **Execution environments**: every concurrent invocation slot is a long-lived child process
  (``multiprocessing`` *spawn*), started when first needed and reused while warm, whose
  ``os.environ`` is the function's environment. Processes, not threads: Powertools' module-level
  ``BatchProcessor`` is not thread-safe and each function has its own environment. A slot whose
  process dies or exceeds the template's Timeout is replaced.
* ``time_scale`` < 1 shortens redelivery: after a failure the failed messages' visibility is set
  to ``VisibilityTimeout x time_scale`` (tests use it to see the 3 receives and the redrive to
  the dead-letter queue in seconds).

``python -m qrie_local.runner --state-dir .qrie`` runs it for the stack started from that state
directory until SIGINT/SIGTERM (the CLI starts it as a daemon; its pid is in ``runner.pid``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

from qrie_local.events import LambdaContext, scheduled_event, sqs_event
from qrie_local.faults import FaultedEvent, RunnerFaults, run_faulted
from qrie_local.provision import ACCOUNT_ID, FunctionSpec, SqsEventSpec, local_client
from qrie_local.stack import (
    DEFAULT_STATE_DIR,
    RUNNER_PID_FILE,
    LocalStack,
    clean_aws_environment,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FunctionStats",
    "InvocationError",
    "Outcome",
    "Runner",
    "Slot",
    "main",
]

# Slots per SQS event source when the template sets no MaximumConcurrency.
DEFAULT_CONCURRENCY = 5
INIT_TIMEOUT_SECONDS = 60.0  # importing the handler (Lambda's init phase)
POLL_WAIT_SECONDS = 1  # long-poll wait of ReceiveMessage
SQS_MAX_MESSAGES = 10
TIMEOUT_GRACE_SECONDS = 1.0

Status = Literal["ok", "error", "crash", "timeout"]


class InvocationError(Exception):
    """A direct invocation (:meth:`Runner.invoke`) failed: the handler raised, crashed or timed
    out. ``error_type`` is the exception's type (or Lambda's ``Runtime.ExitError`` /
    ``Sandbox.Timedout``)."""

    def __init__(self, function: str, error_type: str, message: str, trace: str = "") -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message
        self.trace = trace


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended."""

    status: Status
    result: Any = None
    error_type: str = ""
    error_message: str = ""
    trace: str = ""
    duration: float = 0.0


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0  # the handler raised (or returned what Lambda could not use)
    crashes: int = 0  # the execution environment died
    timeouts: int = 0
    cold_starts: int = 0
    records_received: int = 0
    records_failed: int = 0
    records_deleted: int = 0


# ------------------------------------------------------------------------ execution environment
def _import_handler(path: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ImportError(f"handler {path!r} must be module.function")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"handler {path} is not callable")
    return handler  # type: ignore[no-any-return]


def _slot_main(
    conn: Connection,
    env: dict[str, str],
    handler_path: str,
    function_name: str,
    timeout: int,
    memory: int,
    log_path: str | None,
) -> None:
    """The child process: one warm execution environment of one function."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when a slot stops
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    try:
        handler = _import_handler(handler_path)
    except BaseException as exc:
        conn.send(("init_error", "Runtime.ImportModuleError", f"{exc}", traceback.format_exc()))
        return
    conn.send(("ready",))
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:
            return
        context = LambdaContext(function_name, timeout, memory)
        if isinstance(event, FaultedEvent):  # fault injection: die after part of the work
            run_faulted(handler, event, context)
        try:
            result = handler(event, context)
        except Exception as exc:
            conn.send(("error", type(exc).__name__, str(exc), traceback.format_exc()))
            continue
        try:
            payload = json.loads(json.dumps(result))  # Lambda returns the result as JSON
        except (TypeError, ValueError) as exc:
            conn.send(("error", "Runtime.MarshalError", str(exc), ""))
            continue
        conn.send(("ok", payload))


_SPAWN_LOCK = threading.Lock()


@contextmanager
def _without_main_module() -> Iterator[None]:
    """Start spawn children without re-running the parent's ``__main__`` script in them.

    ``spawn`` normally re-imports the main script in every child (so scripts need an
    ``if __name__ == "__main__"`` guard); a slot needs only ``qrie_local.runner`` and the
    handler, so the script's path is hidden from multiprocessing while the child starts."""
    main = sys.modules.get("__main__")
    hidden = (
        main is not None
        and getattr(main, "__spec__", None) is None
        and getattr(main, "__file__", None) is not None
    )
    with _SPAWN_LOCK:
        if not hidden:
            yield
            return
        path = main.__file__  # type: ignore[union-attr]
        del main.__file__  # type: ignore[union-attr]
        try:
            yield
        finally:
            main.__file__ = path  # type: ignore[union-attr]


class Slot:
    """One execution environment (a child process) of one function, started lazily."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        label: str,
        log_path: Path | None = None,
    ) -> None:
        self.spec = spec
        self.env = dict(env)
        self.label = label
        self.log_path = log_path
        self._context = multiprocessing.get_context("spawn")
        self._process: SpawnProcess | None = None
        self._conn: Connection | None = None

    @property
    def warm(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _start(self) -> Outcome | None:
        """Start the child; an Outcome when its init failed."""
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_slot_main,
            args=(
                child,
                self.env,
                self.spec.handler,
                self.spec.logical_id,
                self.spec.timeout,
                self.spec.memory,
                str(self.log_path) if self.log_path else None,
            ),
            name=self.label,
            daemon=True,
        )
        with _without_main_module():
            process.start()
        child.close()
        self._process, self._conn = process, parent
        message: tuple[Any, ...] | None = None
        try:
            if parent.poll(INIT_TIMEOUT_SECONDS):
                message = parent.recv()
        except (EOFError, OSError):
            message = None
        if message is not None and message[0] == "ready":
            return None
        self.close(force=True)
        if message is None:
            return Outcome("crash", error_type="Runtime.ExitError", error_message="init failed")
        return Outcome("error", error_type=message[1], error_message=message[2], trace=message[3])

    def invoke(self, event: Any, timeout: float | None = None) -> tuple[Outcome, bool]:
        """Run one event; returns the outcome and whether this was a cold start."""
        cold = not self.warm
        started = time.monotonic()
        if cold:
            self.close(force=True)
            failed = self._start()
            if failed is not None:
                return failed, cold
        conn = self._conn
        limit = (self.spec.timeout if timeout is None else timeout) + TIMEOUT_GRACE_SECONDS
        try:
            if conn is None:
                raise EOFError("the execution environment was stopped")
            conn.send(event)
            ready = conn.poll(limit)
            message = conn.recv() if ready else None
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self.close(force=True)
            return (
                Outcome(
                    "crash",
                    error_type="Runtime.ExitError",
                    error_message=f"execution environment exited (code {code})",
                    duration=time.monotonic() - started,
                ),
                cold,
            )
        duration = time.monotonic() - started
        if message is None:
            self.close(force=True)
            return (
                Outcome(
                    "timeout",
                    error_type="Sandbox.Timedout",
                    error_message=f"task timed out after {self.spec.timeout} seconds",
                    duration=duration,
                ),
                cold,
            )
        if message[0] == "ok":
            return Outcome("ok", result=message[1], duration=duration), cold
        return (
            Outcome(
                "error",
                error_type=message[1],
                error_message=message[2],
                trace=message[3],
                duration=duration,
            ),
            cold,
        )

    def close(self, force: bool = False, timeout: float = 5.0) -> None:
        """Stop the child: ask it to exit (or terminate it when ``force``)."""
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if process is None:
            return
        if not force and conn is not None:
            with suppress(OSError, BrokenPipeError):
                conn.send(None)
            process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(timeout)
        if conn is not None:
            conn.close()
        with suppress(ValueError):  # still running after SIGKILL: leave it to the OS
            process.close()


def _close_all(slots: list[Slot], force: bool = False) -> None:
    """Stop several execution environments at once (each exit takes a moment)."""
    if len(slots) <= 1:
        for slot in slots:
            slot.close(force=force)
        return
    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        list(pool.map(lambda slot: slot.close(force=force), slots))


# --------------------------------------------------------------------------------- event sources
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


class _SqsSource:
    """One SQS event source mapping: a poller thread and up to ``concurrency`` slots."""

    def __init__(
        self,
        runner: Runner,
        spec: FunctionSpec,
        event: SqsEventSpec,
        concurrency: int,
        env: Mapping[str, str],
    ) -> None:
        self.runner = runner
        self.spec = spec
        self.event = event
        self.concurrency = max(1, concurrency)
        self.env = dict(env)
        self.sqs = local_client("sqs", runner.stack.endpoint, runner.stack.region)
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
        self._redeliveries: list[threading.Thread] = []  # fault injection: duplicates

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
        _close_all(slots, force)

    def _acquire(self, timeout: float) -> Slot | None:
        with self._cond:
            deadline = time.monotonic() + timeout
            while not self._idle and len(self._slots) >= self.concurrency:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.runner.stopping:
                    return None
                self._cond.wait(remaining)
            if self._idle:
                slot = self._idle.pop()  # the most recently used: warm
            else:
                slot = Slot(
                    self.spec,
                    self.env,
                    f"{self.spec.logical_id}-{len(self._slots) + 1}",
                    self.runner.log_path,
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
        while len(gathered) < self.event.batch_size and not self.runner.stopping:
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
        while not self.runner.stopping:
            slot = self._acquire(timeout=0.5)
            if slot is None:
                continue
            try:
                messages = self._receive()
            except Exception as exc:
                self._release(slot)
                self.runner.log(f"{self.spec.logical_id}: ReceiveMessage failed: {exc}")
                self.runner.wait(1.0)
                continue
            if not messages:
                self._release(slot)
                continue
            self._executor.submit(self._invoke, slot, messages)

    def _invoke(self, slot: Slot, messages: list[dict[str, Any]], faults: bool = True) -> None:
        with self._cond:
            self._busy += 1
            self.runner.note_busy(self.spec.logical_id, self._busy)
        try:
            self._deliver(slot, messages, faults)
        except Exception as exc:
            self.runner.log(f"{self.spec.logical_id}: delivery failed: {exc!r}")
        finally:
            with self._cond:
                self._busy -= 1
                self.runner.note_busy(self.spec.logical_id, self._busy)
            self._release(slot)

    def _redeliver(self, messages: list[dict[str, Any]]) -> None:
        """Fault injection: the same records delivered again, in another invocation. Runs in
        its own thread: waiting for a slot must not hold one of the executor's threads, which
        run the invocations the poller has already given a slot to."""
        slot = None
        while slot is None:
            if self.runner.stopping:
                return
            slot = self._acquire(timeout=0.5)
        self._invoke(slot, messages, faults=False)

    def _deliver(self, slot: Slot, messages: list[dict[str, Any]], faults: bool = True) -> None:
        name = self.spec.logical_id
        event = sqs_event(messages, self.event.queue_arn, self.runner.stack.region)
        payload: Any = event
        injector = self.runner.faults if faults else None
        plan = injector.plan(name, messages) if injector is not None else None
        if plan is not None:
            if plan.duplicates and not self.runner.stopping:
                again = [m for m in messages if m["MessageId"] in plan.duplicates]
                thread = threading.Thread(
                    target=self._redeliver, args=(again,), name=f"{name}-duplicate", daemon=True
                )
                with self._cond:
                    self._redeliveries = [t for t in self._redeliveries if t.is_alive()]
                    self._redeliveries.append(thread)
                thread.start()
            if plan.crash is not None:
                payload = FaultedEvent(event, plan.crash)
        outcome, cold = slot.invoke(payload)
        ids = [str(m["MessageId"]) for m in messages]
        failed = failed_ids(self.event, outcome, ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        back = [m for m in messages if m["MessageId"] in failed]
        deleted = self._delete(done)
        if back and self.runner.time_scale != 1.0:
            self._shorten_visibility(back)
        self.runner.record(
            name, outcome, cold, received=len(messages), failed=len(back), deleted=deleted
        )
        if outcome.status != "ok":
            self.runner.log(
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
            self.runner.log(
                f"{self.spec.logical_id}: {operation} failed for {len(failed)} records ({codes})"
            )

    def _shorten_visibility(self, messages: list[dict[str, Any]]) -> None:
        seconds = max(0, int(self.visibility * self.runner.time_scale))
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
                self.runner.log(f"{self.spec.logical_id}: ChangeMessageVisibility failed: {exc}")
                continue
            self._log_failed("ChangeMessageVisibilityBatch", response)


class _Schedule:
    """One Schedule event: calls its function every ``interval`` seconds in its own slot."""

    def __init__(
        self,
        runner: Runner,
        spec: FunctionSpec,
        rule_arn: str,
        interval: float,
        env: Mapping[str, str],
    ) -> None:
        self.runner = runner
        self.spec = spec
        self.rule_arn = rule_arn
        self.interval = interval
        self.slot = Slot(spec, env, f"{spec.logical_id}-schedule", runner.log_path)
        self._thread = threading.Thread(
            target=self._run, name=f"{spec.logical_id}-schedule", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        next_call = time.monotonic() + self.interval
        while not self.runner.wait(max(0.0, next_call - time.monotonic())):
            event = scheduled_event(self.rule_arn, self.runner.stack.region, ACCOUNT_ID)
            self.runner.note_busy(self.spec.logical_id, 1)
            outcome, cold = self.slot.invoke(event)
            self.runner.note_busy(self.spec.logical_id, 0)
            self.runner.record(self.spec.logical_id, outcome, cold)
            if outcome.status != "ok":
                self.runner.log(
                    f"{self.spec.logical_id}: {outcome.status} {outcome.error_type}: "
                    f"{outcome.error_message}"
                )
            next_call += self.interval
            if next_call < time.monotonic():  # fell behind: EventBridge does not catch up
                next_call = time.monotonic() + self.interval


# ---------------------------------------------------------------------------------------- runner
class Runner:
    """Plays Lambda's event source mappings and schedules for a :class:`LocalStack`.

    ``max_concurrency`` overrides every SQS event's ``MaximumConcurrency``; ``time_scale``
    scales the queues' visibility timeout after failures; ``env_overrides`` are added to every
    function's environment (e.g. ``{"RETRY_BASE_SECONDS": "1"}``); ``log_path``, if given,
    receives the handlers' output instead of this process's stdout/stderr; ``faults`` (see
    :mod:`qrie_local.faults`) plans duplicate deliveries and crashes of the SQS batches."""

    def __init__(
        self,
        stack: LocalStack,
        schedule_interval: float = 3.0,
        max_concurrency: int | None = None,
        time_scale: float = 1.0,
        env_overrides: Mapping[str, str] | None = None,
        *,
        log_path: Path | None = None,
        functions: list[str] | None = None,
        faults: RunnerFaults | None = None,
    ) -> None:
        if schedule_interval <= 0:
            raise ValueError("schedule_interval must be > 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.stack = stack
        self.schedule_interval = schedule_interval
        self.max_concurrency = max_concurrency
        self.time_scale = time_scale
        self.env_overrides = dict(env_overrides or {})
        self.log_path = log_path
        self.function_names = functions
        self.faults = faults
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._stats: dict[str, FunctionStats] = {}
        self._peak: dict[str, int] = {}
        self._busy_now: dict[str, int] = {}
        self._sources: list[_SqsSource] = []
        self._schedules: list[_Schedule] = []
        self._started = False

    # -------------------------------------------------------------- environment and stats
    def function_env(self, logical_id: str) -> dict[str, str]:
        """What a slot's ``os.environ`` is: this process's environment without foreign AWS
        settings, the function's template environment, the local endpoint, the overrides."""
        return {
            **clean_aws_environment(os.environ),
            **self.stack.env(logical_id),
            **self.env_overrides,
        }

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the runner is stopping."""
        return self._stop.wait(seconds)

    def log(self, text: str) -> None:
        """A line about the runner itself: to ``log_path`` when given, else stderr."""
        line = f"[qrie runner] {text}\n"
        if self.log_path is None:
            sys.stderr.write(line)
            sys.stderr.flush()
            return
        with self._log_lock, self.log_path.open("a", encoding="utf-8") as out:
            out.write(line)

    def note_busy(self, name: str, busy: int) -> None:
        with self._lock:
            self._peak[name] = max(self._peak.get(name, 0), busy)
            self._busy_now[name] = busy

    def record(
        self,
        name: str,
        outcome: Outcome,
        cold: bool,
        received: int = 0,
        failed: int = 0,
        deleted: int = 0,
    ) -> None:
        with self._lock:
            stats = self._stats.setdefault(name, FunctionStats())
            stats.invocations += 1
            stats.cold_starts += int(cold)
            stats.errors += int(outcome.status == "error")
            stats.crashes += int(outcome.status == "crash")
            stats.timeouts += int(outcome.status == "timeout")
            stats.records_received += received
            stats.records_failed += failed
            stats.records_deleted += deleted

    def stats(self) -> dict[str, dict[str, int]]:
        """Per function: invocations, errors, crashes, timeouts, cold starts, records received,
        failed (returned to the queue) and deleted, and the peak concurrent invocations."""
        with self._lock:
            result = {name: asdict(s) for name, s in self._stats.items()}
            for name, peak in self._peak.items():
                result.setdefault(name, asdict(FunctionStats()))["peak_concurrency"] = peak
                result[name]["busy_now"] = self._busy_now.get(name, 0)
            return result

    # -------------------------------------------------------------- lifecycle
    def _selected(self) -> Iterator[FunctionSpec]:
        for name, spec in self.stack.functions.items():
            if self.function_names is None or name in self.function_names:
                yield spec

    def start(self) -> Runner:
        if self._started:
            return self
        self._started = True
        self._stop.clear()
        for spec in self._selected():
            env = self.function_env(spec.logical_id)
            for event in spec.sqs_events:
                if not event.enabled:
                    continue
                concurrency = self.max_concurrency or event.max_concurrency or DEFAULT_CONCURRENCY
                self._sources.append(_SqsSource(self, spec, event, concurrency, env))
            for schedule in spec.schedules:
                if schedule.enabled:
                    self._schedules.append(
                        _Schedule(self, spec, schedule.rule_arn, self.schedule_interval, env)
                    )
        for source in self._sources:
            source.start()
        for scheduled in self._schedules:
            scheduled.start()
        return self

    def stop(self, force: bool = False) -> None:
        """Stop polling, let in-flight invocations finish (unless ``force``), stop the slots."""
        self._stop.set()
        if force:
            for source in self._sources:
                source.close_slots(force=True)
            for scheduled in self._schedules:
                scheduled.slot.close(force=True)
        for source in self._sources:
            source.join()
            source.close_slots()
        for scheduled in self._schedules:
            scheduled.join()
            scheduled.slot.close()
        self._sources, self._schedules = [], []
        self._started = False

    def __enter__(self) -> Runner:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM (a second one stops without waiting for in-flight
        invocations). Call from the main thread."""
        signals = {"count": 0}
        wake = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            signals["count"] += 1
            wake.set()
            if signals["count"] > 1:
                self.log("stopping now")
                for source in self._sources:
                    source.close_slots(force=True)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not wake.wait(0.5):
                pass
            self.log("stopping: waiting for in-flight invocations (Ctrl-C again to force)")
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -------------------------------------------------------------- direct invocation
    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run one event through the function's handler in a fresh execution environment (what
        ``sam local invoke`` does) and return its result; raises InvocationError if it fails."""
        spec = self.stack.functions.get(logical_id)
        if spec is None:
            raise KeyError(
                f"no function {logical_id!r}; functions: {', '.join(sorted(self.stack.functions))}"
            )
        slot = Slot(spec, self.function_env(logical_id), f"{logical_id}-invoke", self.log_path)
        try:
            outcome, cold = slot.invoke(event)
        finally:
            slot.close()
        self.record(logical_id, outcome, cold)
        if outcome.status != "ok":
            raise InvocationError(
                logical_id, outcome.error_type, outcome.error_message, outcome.trace
            )
        return outcome.result


# ------------------------------------------------------------------------------------ entry point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qrie_local.runner",
        description="Run the local stack's SQS event sources and schedules until Ctrl-C.",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--concurrency", type=int, help="override MaximumConcurrency")
    parser.add_argument("--schedule-interval", type=float, default=3.0, help="seconds")
    parser.add_argument("--time-scale", type=float, default=1.0, help="scales redelivery delays")
    args = parser.parse_args(argv)
    stack = LocalStack.current(args.state_dir)
    if stack is None:
        print(
            f"error: no local stack runs from {args.state_dir} (start one: qrie local up)",
            file=sys.stderr,
        )
        return 1
    pid_file = args.state_dir / RUNNER_PID_FILE
    pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    runner = Runner(
        stack,
        schedule_interval=args.schedule_interval,
        max_concurrency=args.concurrency,
        time_scale=args.time_scale,
    )
    try:
        runner.log(f"running the event sources of {stack.endpoint} (pid {os.getpid()})")
        runner.run_forever()
        runner.log(f"stopped; {json.dumps(runner.stats(), sort_keys=True)}")
    finally:
        with suppress(OSError, ValueError):
            if int(pid_file.read_text().strip()) == os.getpid():
                pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
