"""Execution environments: what Lambda runs a function's invocations in.

A :class:`Slot` is one concurrent invocation slot of one function: a long-lived child process
(``multiprocessing`` *spawn*), started when first needed and reused while warm, whose
``os.environ`` is the function's environment and which imports the function's handler once
(Lambda's init phase). Processes, not threads: Powertools' module-level ``BatchProcessor`` is not
thread-safe and each function has its own environment. A slot whose process dies or exceeds the
function's Timeout is replaced on its next invocation.

A slot hands each event to the handler, except a :class:`WrappedEvent`, which runs itself in the
execution environment instead (how a delivery hook makes an invocation die mid-batch, see
:mod:`qrie_local.faults`).

A deployed function (``FunctionSpec.code_dir``) runs the code of its deployment package: the
handler's top-level package (or module) is imported from the extracted package, as Lambda imports
it from ``/var/task``. Third-party packages come from this interpreter: those in the package (or
its layers) are built for the functions' runtime and architecture (python3.13 on arm64), which
need not be this machine's.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from qrie_local.events import LambdaContext
from qrie_local.functions import FunctionSpec
from qrie_local.private import FILE_MODE

__all__ = ["Handler", "Outcome", "Slot", "Status", "WrappedEvent", "close_all"]

INIT_TIMEOUT_SECONDS = 60.0  # importing the handler (Lambda's init phase)
TIMEOUT_GRACE_SECONDS = 1.0

Status = Literal["ok", "error", "crash", "timeout"]
Handler = Callable[[Any, Any], Any]


@runtime_checkable
class WrappedEvent(Protocol):
    """An event that runs itself in the execution environment instead of being handed to the
    handler (it must be picklable, and importable in the child process)."""

    def run_in_environment(self, handler: Handler, context: Any) -> Any:
        """Do what the invocation does with ``handler``; return its result or raise."""


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended."""

    status: Status
    result: Any = None
    error_type: str = ""
    error_message: str = ""
    trace: str = ""
    duration: float = 0.0


def _bind_deployed_code(code_dir: str, module_name: str) -> None:
    """Make the top-level package (or module) of ``module_name`` the one in ``code_dir``."""
    import importlib.util  # noqa: PLC0415

    top = module_name.split(".", 1)[0]
    root = Path(code_dir)
    package, module = root / top, root / f"{top}.py"
    if (package / "__init__.py").is_file():
        spec = importlib.util.spec_from_file_location(
            top, package / "__init__.py", submodule_search_locations=[str(package)]
        )
    elif module.is_file():
        spec = importlib.util.spec_from_file_location(top, module)
    else:
        raise ImportError(f"no module named {top!r} in the deployment package ({code_dir})")
    if spec is None or spec.loader is None:  # pragma: no cover - a file location always loads
        raise ImportError(f"cannot load {top!r} from {code_dir}")
    for name in [m for m in sys.modules if m == top or m.startswith(f"{top}.")]:
        del sys.modules[name]
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[top] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[top]
        raise


def _import_handler(path: str, code_dir: str = "") -> Handler:
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ImportError(f"handler {path!r} must be module.function")
    if code_dir:
        _bind_deployed_code(code_dir, module_name)
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
    code_dir: str = "",
) -> None:
    """The child process: one warm execution environment of one function."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when a slot stops
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    try:
        handler = _import_handler(handler_path, code_dir)
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
        try:
            if isinstance(event, WrappedEvent):
                result = event.run_in_environment(handler, context)
            else:
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
    ``if __name__ == "__main__"`` guard); a slot needs only ``qrie_local.slots`` and the
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
                self.spec.name,
                self.spec.timeout,
                self.spec.memory,
                str(self.log_path) if self.log_path else None,
                self.spec.code_dir,
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


def close_all(slots: Sequence[Slot], force: bool = False) -> None:
    """Stop several execution environments at once (each exit takes a moment)."""
    if len(slots) <= 1:
        for slot in slots:
            slot.close(force=force)
        return
    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        list(pool.map(lambda slot: slot.close(force=force), slots))
