"""The event-source runner: plays Lambda for the functions of a local stack. The handlers run
unchanged.

* **SQS events** (:class:`qrie_local.sources.SqsSource`): one poller per event source mapping,
  at most ``MaximumConcurrency`` invocations at once, partial batch failures as Lambda reads them.
* **Schedules** (:class:`qrie_local.sources.ScheduleSource`): each ``Schedule`` event calls its
  function every ``schedule_interval`` seconds (the local stand-in for ``rate(2 minutes)``).
* **Execution environments** (:class:`qrie_local.slots.Slot`): a child process per concurrent
  invocation slot, warm while reused, its ``os.environ`` the function's environment and the
  credentials of a session of its execution role, assumed as Lambda assumes it
  (:func:`qrie_local.roles.lambda_session`).
* **Delivery hooks** (:class:`qrie_local.sources.DeliveryHook`): whatever must happen around a
  delivery, e.g. the chaos faults of :class:`qrie_local.faults.RunnerFaults`.
* **Invoke** (:class:`qrie_local.invoke.InvokeServer`): the local AWS forwards Lambda's Invoke
  to the runner, which runs it in a warm execution environment of the function (one per
  concurrent invocation), as Lambda does for ``lambda:Invoke`` from the CLI.
* **Recovery**: when it starts, the messages in flight on its queues are made visible again
  (:meth:`LocalStack.release_in_flight`): locally nothing else consumes them, so whoever held
  them -- a runner that was killed or stopped mid-batch -- is gone.
* ``time_scale`` < 1 shortens redelivery: after a failure the failed messages' visibility is set
  to ``VisibilityTimeout x time_scale`` (tests use it to see the 3 receives and the redrive to
  the dead-letter queue in seconds).

``python -m qrie_local.runner --state-dir .qrie`` runs it for the stack started from that state
directory until SIGINT/SIGTERM (the CLI starts it as a daemon; its pid is in ``runner.pid``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from qrie_local.functions import FunctionSpec
from qrie_local.invoke import InvokeServer
from qrie_local.private import UMASK, open_append, write_private
from qrie_local.slots import Outcome, Slot, close_all
from qrie_local.sources import DeliveryHook, ScheduleSource, SqsSource
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
    "Runner",
    "main",
]

# Slots per SQS event source when the template sets no MaximumConcurrency.
DEFAULT_CONCURRENCY = 5


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


# ---------------------------------------------------------------------------------------- runner
class Runner:
    """Plays Lambda's event source mappings and schedules for a :class:`LocalStack`.

    ``max_concurrency`` overrides every SQS event's ``MaximumConcurrency``; ``time_scale``
    scales the queues' visibility timeout after failures; ``env_overrides`` are added to every
    function's environment (e.g. ``{"RETRY_BASE_SECONDS": "1"}``); ``log_path``, if given,
    receives the handlers' output instead of this process's stdout/stderr; ``hooks`` are called
    before every SQS delivery (:class:`~qrie_local.sources.DeliveryHook`; the chaos faults of
    :class:`qrie_local.faults.RunnerFaults` are one)."""

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
        hooks: Sequence[DeliveryHook] = (),
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
        self.hooks = tuple(hooks)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._stats: dict[str, FunctionStats] = {}
        self._peak: dict[str, int] = {}
        self._busy_now: dict[str, int] = {}
        self._sources: list[SqsSource] = []
        self._schedules: list[ScheduleSource] = []
        self._warm: dict[str, list[Slot]] = {}  # idle execution environments for Invoke
        self._invoked: list[Slot] = []  # every one of them
        self._invoke_server: InvokeServer | None = None
        self._roles: dict[str, dict[str, str]] = {}
        self._started = False

    # -------------------------------------------------------------- environment and stats
    @property
    def endpoint(self) -> str:
        return self.stack.endpoint

    @property
    def region(self) -> str:
        return self.stack.region

    def function_env(self, logical_id: str) -> dict[str, str]:
        """What a slot's ``os.environ`` is: this process's environment without foreign AWS
        settings, the function's template environment, the local endpoint, the credentials of
        a session of the function's execution role, the overrides."""
        return {
            **clean_aws_environment(os.environ),
            **self.stack.env(logical_id),
            **self._role_env(logical_id),
            **self.env_overrides,
        }

    def _role_env(self, logical_id: str) -> dict[str, str]:
        """Credentials of the function's execution role (one session per runner and function)."""
        spec = self.stack.functions.get(logical_id)
        if spec is None or not spec.role_arn:
            return {}
        with self._lock:
            cached = self._roles.get(logical_id)
        if cached is None:
            cached = self.stack.execution_credentials(spec.role_arn, f"qrie-local-{logical_id}")
            with self._lock:
                self._roles[logical_id] = cached
        return dict(cached)

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
        with self._log_lock, open_append(self.log_path) as out:
            out.write(line.encode())

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
                self._sources.append(SqsSource(self, spec, event, concurrency, env, self.hooks))
            for schedule in spec.schedules:
                if schedule.enabled:
                    self._schedules.append(
                        ScheduleSource(self, spec, schedule.rule_arn, self.schedule_interval, env)
                    )
        self._release_in_flight()
        for source in self._sources:
            source.start()
        for scheduled in self._schedules:
            scheduled.start()
        self._invoke_server = InvokeServer(self.resolve, self.invoke_warm, self.log).start()
        if self.stack.state_dir.is_dir():
            self._invoke_server.register(self.stack.state_dir)
        return self

    def _release_in_flight(self) -> None:
        """Give back what a runner that no longer exists held: locally the runner is the only
        consumer of its queues, so a message in flight when it starts was received by one that
        died or was stopped (or was in flight when the state was saved); left alone it would
        wait out the queue's visibility timeout (30 minutes for qrie's task queues)."""
        urls = [source.event.queue_url for source in self._sources]
        if not urls:
            return
        try:
            released = self.stack.release_in_flight(urls)
        except (OSError, ValueError) as exc:  # the runner still works; their timeout still runs
            self.log(f"in-flight messages not given back ({exc}): they wait out their timeout")
            return
        for url, count in released.items():
            if count:
                self.log(f"{count} in-flight messages of {url} made visible again")

    def stop(self, force: bool = False) -> None:
        """Stop polling, let in-flight invocations finish (unless ``force``), stop the slots."""
        self._stop.set()
        if self._invoke_server is not None:
            self._invoke_server.unregister(self.stack.state_dir)
            self._invoke_server.stop()
            self._invoke_server = None
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
        with self._lock:
            invoked, self._invoked, self._warm = self._invoked, [], {}
        close_all(invoked, force)
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
    def resolve(self, name: str) -> str | None:
        """The logical id of the function called ``name`` (in Lambda, or its logical id)."""
        for logical_id, spec in self.stack.functions.items():
            if name in {spec.name, logical_id}:
                return logical_id
        return None

    def invoke_warm(self, logical_id: str, event: Any) -> Outcome:
        """Run one event in a warm execution environment of the function (a new one when all
        are busy), as Lambda runs ``lambda:Invoke``."""
        spec = self.stack.functions[logical_id]
        env = self.function_env(logical_id)  # not under the lock: it may take it (roles)
        with self._lock:
            idle = self._warm.setdefault(logical_id, [])
            slot = idle.pop() if idle else None
            if slot is None:
                label = f"{logical_id}-invoke-{len(self._invoked) + 1}"
                slot = Slot(spec, env, label, self.log_path)
                self._invoked.append(slot)
        outcome, cold = slot.invoke(event)
        self.record(logical_id, outcome, cold)
        with self._lock:
            if slot in self._invoked:
                self._warm.setdefault(logical_id, []).append(slot)
        return outcome

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
    os.umask(UMASK)  # what the runner and its execution environments write is the user's alone
    pid_file = args.state_dir / RUNNER_PID_FILE
    write_private(pid_file, f"{os.getpid()}\n".encode())
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
