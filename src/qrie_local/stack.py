"""``LocalStack``: the local AWS (a moto server in a background process) with the template
deployed on it as a CloudFormation stack (:mod:`qrie_local.provision`), its state under
``.qrie/``.

    stack = LocalStack.up()                 # start (or reuse) the server, provision, save state
    stack = LocalStack.current(Path(".qrie"))  # the running one, or None
    with stack.apply_env():                 # os.environ pointing boto3 at the local AWS
        ...
    stack.down()                            # stop the runner daemon and the server (state saved)

State files in ``state_dir`` (0700; every file 0600, see :mod:`qrie_local.private`):
``local.json`` (pid, port, endpoint, parameters, the server's request hooks, outputs, function
specs), ``server.json`` (written by the server once it serves: its control token and what it
restored), ``runner.pid`` (the runner daemon, when one runs), ``aws-state.pickle`` (the local
AWS's state, saved when the server stops and restored when it starts again: see
:mod:`qrie_local.backends`), and the logs ``server.log`` and ``runner.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qrie_local.backends import SNAPSHOT_FILE
from qrie_local.functions import FunctionSpec
from qrie_local.private import open_append, private_dir, write_private
from qrie_local.provision import Provisioned, provision
from qrie_local.server import (
    CREDENTIALS_PATH,
    RELEASE_PATH,
    SERVER_STATE_FILE,
    STATS_PATH,
    TOKEN_HEADER,
)
from qrie_local.template import load_template

__all__ = [
    "DEFAULT_STATE_DIR",
    "LOCAL_PARAMETERS",
    "REGION",
    "LocalStack",
    "LocalStackError",
    "clean_aws_environment",
]

DEFAULT_STATE_DIR = Path(".qrie")
STATE_FILE = "local.json"
RUNNER_PID_FILE = "runner.pid"
SERVER_LOG = "server.log"
RUNNER_LOG = "runner.log"
CODE_DIR = "code"  # deployed functions' packages, extracted
REGION = "us-east-1"
LOCAL_PARAMETERS: dict[str, str] = {
    "ExternalId": "qrie-local-external-id",
    "Regions": "us-east-1,eu-west-1",
}
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
SERVER_STOP_TIMEOUT_SECONDS = 120.0  # the server saves the state before it exits
RUNNER_STOP_TIMEOUT_SECONDS = 60.0  # in-flight invocations are allowed to finish

# Variables that would send boto3 elsewhere than the local AWS (a profile, a session token,
# a service-specific endpoint): removed while the local environment applies.
_FOREIGN_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

# Processes this process started, so they can be waited for (no zombies, no ResourceWarning).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalStackError(Exception):
    """The local stack could not be started, found or stopped (message says why)."""


def clean_aws_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that point boto3 at another account or endpoint."""
    return {
        k: v
        for k, v in environ.items()
        if k not in _FOREIGN_AWS_VARIABLES and not k.startswith("AWS_ENDPOINT_URL_")
    }


def _answers(endpoint: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The server's request counts, or None if nothing answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}{STATS_PATH}", timeout=timeout) as response:  # noqa: S310 - a local http URL we built
            data = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_ours(pid: int, module: str) -> bool:
    """Whether ``pid`` runs ``module`` (never signal a pid that was reused by another program).
    Where /proc is missing the pid file is trusted."""
    if not Path("/proc").is_dir():
        return True
    return module in _cmdline(pid)


def _stop_process(pid: int, module: str, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; only if ``pid`` still runs ``module``."""
    if not _alive(pid) or not _is_ours(pid, module):
        _CHILDREN.pop(pid, None)
        return
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_private(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class LocalStack:
    """A running local stack: the server's process and what was provisioned on it."""

    state_dir: Path
    pid: int
    port: int
    provisioned: Provisioned
    template: Path = Path("template.yaml")
    parameters: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0
    started_at: str = ""
    hooks: tuple[str, ...] = ()  # the server's request hooks (``module:factory`` specs)
    snapshot: str = ""  # where the server saves the local AWS's state when it stops ("" none)

    # ------------------------------------------------------------------ properties
    @property
    def endpoint(self) -> str:
        return self.provisioned.endpoint

    @property
    def region(self) -> str:
        return self.provisioned.region

    @property
    def outputs(self) -> dict[str, str]:
        return self.provisioned.outputs

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return self.provisioned.functions

    @property
    def table_name(self) -> str:
        return self.outputs["TableName"]

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def up(
        cls,
        state_dir: Path = DEFAULT_STATE_DIR,
        port: int | None = None,
        latency_ms: float = 0,
        template: Path = Path("template.yaml"),
        parameters: Mapping[str, str] | None = None,
        hooks: Sequence[str] = (),
        persist: bool = True,
        restore: bool = True,
    ) -> LocalStack:
        """Start the local AWS in the background (a free port unless ``port`` is given), deploy
        the template on it (stack ``qrie-local``) and save the state. ``hooks`` are request
        hooks its server loads (``package.module:factory`` specs, see :mod:`qrie_local.server`;
        e.g. :data:`qrie_local.faults.HOOK_SPEC`). If a stack already runs in ``state_dir`` the
        template is deployed again (an update; nothing changes if nothing did) and returned;
        LocalStackError if its server was started without one of ``hooks``.

        With ``persist`` (the default) the server saves the local AWS's state in ``state_dir``
        when it stops, and with ``restore`` too it starts from the state saved there (accounts,
        jobs, inventory, findings, queued messages, the deployed stack); ``persist=False``
        neither reads nor writes it (a throwaway stack, e.g. the demo's)."""
        state_dir = Path(state_dir)
        template = Path(template)
        values = {**LOCAL_PARAMETERS, **dict(parameters or {})}
        wanted_hooks = tuple(dict.fromkeys(hooks))
        loaded = load_template(template)
        current = cls.current(state_dir)
        if current is not None:
            missing = [h for h in wanted_hooks if h not in current.hooks]
            if missing:
                raise LocalStackError(
                    f"the local stack running from {state_dir} has no request hook "
                    f"{', '.join(missing)} (it runs: {', '.join(current.hooks) or 'none'}); "
                    "stop it (qrie local down) to start it with them"
                )
            current.provisioned = provision(
                loaded, current.endpoint, REGION, values, base_dir=template.parent
            )
            current.template, current.parameters = template.resolve(), values
            current.save()
            return current

        return cls._launch(
            state_dir,
            port,
            latency_ms,
            wanted_hooks,
            lambda endpoint: provision(loaded, endpoint, REGION, values, base_dir=template.parent),
            template=template.resolve(),
            parameters=values,
            persist=persist,
            restore=restore,
        )

    @classmethod
    def start(
        cls,
        state_dir: Path = DEFAULT_STATE_DIR,
        port: int | None = None,
        latency_ms: float = 0,
        hooks: Sequence[str] = (),
    ) -> LocalStack:
        """Start the local AWS in the background with nothing deployed on it and no saved state
        (a throwaway one): a stack is then deployed to it (``sam deploy``) and
        :meth:`attach`-ed. LocalStackError if a stack already runs from ``state_dir``."""
        state_dir = Path(state_dir)
        if cls.current(state_dir) is not None:
            raise LocalStackError(
                f"a local stack already runs from {state_dir}; stop it (qrie local down) first"
            )
        return cls._launch(
            state_dir,
            port,
            latency_ms,
            tuple(dict.fromkeys(hooks)),
            lambda endpoint: Provisioned(
                endpoint=endpoint, region=REGION, outputs={}, functions={}
            ),
            persist=False,
            restore=False,
        )

    @classmethod
    def _launch(
        cls,
        state_dir: Path,
        port: int | None,
        latency_ms: float,
        hooks: tuple[str, ...],
        make: Callable[[str], Provisioned],
        template: Path = Path("template.yaml"),
        parameters: Mapping[str, str] | None = None,
        persist: bool = True,
        restore: bool = True,
    ) -> LocalStack:
        """Start the server, ``make`` what runs on it (given its endpoint), save the state."""
        private_dir(state_dir)
        for name in (STATE_FILE, SERVER_STATE_FILE, RUNNER_PID_FILE):
            (state_dir / name).unlink(missing_ok=True)
        snapshot = state_dir.resolve() / SNAPSHOT_FILE if persist else None
        pid, actual_port = cls._start_server(
            state_dir, port or 0, latency_ms, hooks, snapshot, restore
        )
        endpoint = f"http://127.0.0.1:{actual_port}"
        try:
            provisioned = make(endpoint)
        except BaseException:
            _stop_process(pid, "qrie_local.server", SERVER_STOP_TIMEOUT_SECONDS)
            raise
        stack = cls(
            state_dir=state_dir,
            pid=pid,
            port=actual_port,
            provisioned=provisioned,
            template=template,
            parameters=dict(parameters or {}),
            latency_ms=latency_ms,
            started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            hooks=hooks,
            snapshot=str(snapshot or ""),
        )
        stack.save()
        return stack

    def attach(self, stack_name: str) -> LocalStack:
        """Run the deployed stack ``stack_name``: its functions, event source mappings,
        schedules and Outputs as the local AWS's CloudFormation, Lambda and EventBridge APIs
        describe them (:mod:`qrie_local.deployed`), its packages extracted under
        ``<state_dir>/code``. Saves the state; a runner started afterwards runs it."""
        from qrie_local.deployed import read_stack  # noqa: PLC0415

        self.provisioned = read_stack(
            self.endpoint, self.region, stack_name, self.state_dir.resolve() / CODE_DIR
        )
        self.save()
        return self

    @staticmethod
    def _start_server(
        state_dir: Path,
        port: int,
        latency_ms: float,
        hooks: Sequence[str] = (),
        snapshot: Path | None = None,
        restore: bool = True,
    ) -> tuple[int, int]:
        log_path = state_dir / SERVER_LOG
        command = [
            sys.executable,
            "-m",
            "qrie_local.server",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--state-dir",
            str(state_dir.resolve()),
        ]
        for hook in hooks:
            command += ["--hook", hook]
        if snapshot is not None:
            command += ["--snapshot", str(snapshot)] + (["--restore"] if restore else [])
        env = clean_aws_environment(os.environ)
        env.pop("AWS_ENDPOINT_URL", None)
        with open_append(log_path) as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in the terminal must not stop it
                close_fds=True,
            )
        _CHILDREN[process.pid] = process
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        server_file = state_dir / SERVER_STATE_FILE
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _CHILDREN.pop(process.pid, None)
                raise LocalStackError(
                    f"the local AWS server exited with code {process.returncode}:\n"
                    f"{_tail(log_path)}"
                )
            state = _read_json(server_file)
            if state and state.get("pid") == process.pid:
                actual_port = int(state["port"])
                if _answers(f"http://127.0.0.1:{actual_port}") is not None:
                    return process.pid, actual_port
            time.sleep(0.05)
        _stop_process(process.pid, "qrie_local.server", SERVER_STOP_TIMEOUT_SECONDS)
        raise LocalStackError(
            f"the local AWS server did not answer within {START_TIMEOUT_SECONDS:.0f}s:\n"
            f"{_tail(log_path)}"
        )

    @classmethod
    def load(cls, state_dir: Path = DEFAULT_STATE_DIR) -> LocalStack | None:
        """The saved state, whether or not the server still runs."""
        data = _read_json(Path(state_dir) / STATE_FILE)
        if data is None:
            return None
        try:
            return cls(
                state_dir=Path(state_dir),
                pid=int(data["pid"]),
                port=int(data["port"]),
                provisioned=Provisioned.from_dict(data["provisioned"]),
                template=Path(data.get("template", "template.yaml")),
                parameters={str(k): str(v) for k, v in dict(data.get("parameters", {})).items()},
                latency_ms=float(data.get("latency_ms", 0)),
                started_at=str(data.get("started_at", "")),
                hooks=tuple(str(h) for h in data.get("hooks", [])),
                snapshot=str(data.get("snapshot", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def current(cls, state_dir: Path = DEFAULT_STATE_DIR) -> LocalStack | None:
        """The stack running from ``state_dir``, or None (no state, or its server is gone)."""
        stack = cls.load(state_dir)
        if stack is None or not stack.running():
            return None
        return stack

    def running(self) -> bool:
        return _alive(self.pid) and _answers(self.endpoint) is not None

    def save(self) -> None:
        private_dir(self.state_dir)
        _write_json(
            self.state_dir / STATE_FILE,
            {
                "pid": self.pid,
                "port": self.port,
                "endpoint": self.endpoint,
                "region": self.region,
                "template": str(self.template),
                "parameters": self.parameters,
                "latency_ms": self.latency_ms,
                "started_at": self.started_at,
                "hooks": list(self.hooks),
                "snapshot": self.snapshot,
                "outputs": self.outputs,
                "provisioned": self.provisioned.to_dict(),
            },
        )

    def down(self) -> None:
        """Stop the runner daemon (if any) and the server, which saves the local AWS's state
        first when the stack persists it; remove the other state files (not the logs)."""
        self.stop_runner()
        _stop_process(self.pid, "qrie_local.server", SERVER_STOP_TIMEOUT_SECONDS)
        for name in (STATE_FILE, SERVER_STATE_FILE, RUNNER_PID_FILE):
            (self.state_dir / name).unlink(missing_ok=True)

    def running_jobs(self) -> list[str]:
        """The ids of the jobs still running on this stack (none if it does not answer)."""
        from qrie.aws import Clients  # noqa: PLC0415
        from qrie.store.table import Store  # noqa: PLC0415

        if not self.running():
            return []
        with self.apply_env():
            return Store(self.table_name, Clients()).running_job_ids()

    def _server_state(self) -> dict[str, Any]:
        return _read_json(self.state_dir / SERVER_STATE_FILE) or {}

    def _control(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` to one of the local AWS's control paths, with its token."""
        token = str(self._server_state().get("token", ""))
        request = urllib.request.Request(  # noqa: S310 - a local http URL
            f"{self.endpoint}{path}",
            data=json.dumps(dict(body)).encode(),
            method="POST",
            headers={"Content-Type": "application/json", TOKEN_HEADER: token},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise LocalStackError(f"the local AWS refused {path}: {detail}") from exc

    def release_in_flight(self, queue_urls: Sequence[str]) -> dict[str, int]:
        """Make the in-flight messages of these queues visible again (locally the runner is
        their only consumer: whatever held them is gone); how many per queue."""
        answer = self._control(RELEASE_PATH, {"queue_urls": list(queue_urls)})
        return {str(k): int(v) for k, v in dict(answer.get("released", {})).items()}

    def execution_credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """Credentials of a session of a function's execution role, assumed as Lambda assumes
        it (the local AWS checks that the role's trust allows Lambda)."""
        answer = self._control(
            CREDENTIALS_PATH, {"role_arn": role_arn, "session_name": session_name}
        )
        return {str(k): str(v) for k, v in dict(answer).items()}

    # ------------------------------------------------------------------ runner daemon
    def runner_pid(self) -> int | None:
        """The pid of the runner daemon started for this stack, if it runs."""
        try:
            pid = int((self.state_dir / RUNNER_PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid) or not _is_ours(pid, "qrie_local.runner"):
            return None
        return pid

    def start_runner(
        self,
        concurrency: int | None = None,
        schedule_interval: float = 3.0,
        time_scale: float = 1.0,
    ) -> int:
        """Start ``python -m qrie_local.runner`` for this stack in the background (its output in
        ``runner.log``); returns its pid. An already running daemon is kept."""
        existing = self.runner_pid()
        if existing is not None:
            return existing
        command = [
            sys.executable,
            "-m",
            "qrie_local.runner",
            "--state-dir",
            str(self.state_dir.resolve()),
            "--schedule-interval",
            str(schedule_interval),
            "--time-scale",
            str(time_scale),
        ]
        if concurrency is not None:
            command += ["--concurrency", str(concurrency)]
        log_path = self.state_dir / RUNNER_LOG
        with open_append(log_path) as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        _CHILDREN[process.pid] = process
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                _CHILDREN.pop(process.pid, None)
                raise LocalStackError(
                    f"the runner exited with code {process.returncode}:\n{_tail(log_path)}"
                )
            if self.runner_pid() == process.pid:
                return process.pid
            time.sleep(0.05)
        _stop_process(process.pid, "qrie_local.runner", STOP_TIMEOUT_SECONDS)
        raise LocalStackError(f"the runner did not start:\n{_tail(log_path)}")

    def stop_runner(self) -> bool:
        """Stop the runner daemon (in-flight invocations finish first); True if one ran."""
        pid = self.runner_pid()
        if pid is not None:
            _stop_process(pid, "qrie_local.runner", RUNNER_STOP_TIMEOUT_SECONDS)
        (self.state_dir / RUNNER_PID_FILE).unlink(missing_ok=True)
        return pid is not None

    # ------------------------------------------------------------------ environment
    def base_env(self) -> dict[str, str]:
        """What points boto3 and Powertools at the local stack (no function settings)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
            # Powertools >= 3 honours it: no EMF metric blobs on stdout locally.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }

    def env(self, logical_id: str) -> dict[str, str]:
        """The function's template environment plus :meth:`base_env`."""
        try:
            spec = self.functions[logical_id]
        except KeyError:
            raise LocalStackError(
                f"no function {logical_id!r} in the template; functions: "
                f"{', '.join(sorted(self.functions))}"
            ) from None
        # what Lambda itself sets in every execution environment (qrie's usage reads the memory)
        runtime = {
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        }
        return {**spec.environment, **runtime, **self.base_env()}

    def _default_function(self) -> str | None:
        if "JobHandlerFunction" in self.functions:
            return "JobHandlerFunction"
        return next(iter(sorted(self.functions)), None)

    @contextmanager
    def apply_env(self, logical_id: str | None = None) -> Iterator[dict[str, str]]:
        """Set the environment of ``logical_id`` (default: the job handler's) in ``os.environ``
        for in-process use, and restore the previous environment afterwards. boto3's default
        session is reset on entry and exit so it picks the credentials up."""
        import boto3  # noqa: PLC0415

        name = logical_id or self._default_function()
        values = self.env(name) if name is not None else self.base_env()
        saved = dict(os.environ)
        cleaned = clean_aws_environment(os.environ)
        os.environ.clear()
        os.environ.update({**cleaned, **values})
        boto3.DEFAULT_SESSION = None
        try:
            yield values
        finally:
            os.environ.clear()
            os.environ.update(saved)
            boto3.DEFAULT_SESSION = None

    # ------------------------------------------------------------------ status
    def stats(self) -> dict[str, Any]:
        """The server's request counts (``{"requests": N, "by_operation": {...}}``)."""
        data = _answers(self.endpoint, timeout=5)
        if data is None:
            raise LocalStackError(f"the local AWS at {self.endpoint} does not answer")
        return data

    def reset_stats(self) -> None:
        url = f"{self.endpoint}{STATS_PATH}/reset"
        request = urllib.request.Request(url, method="POST")  # noqa: S310 - a local http URL
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - a local http URL
            pass

    def _saved_state(self) -> dict[str, Any]:
        """Where the state is kept and what the server restored at start."""
        if not self.snapshot:
            return {"kept": False}
        restored = dict(self._server_state().get("restored") or {})
        return {"kept": True, "file": self.snapshot, "restored": restored}

    def status(self) -> dict[str, Any]:
        stats = _answers(self.endpoint)
        runner = self.runner_pid()
        return {
            "running": stats is not None and _alive(self.pid),
            "endpoint": self.endpoint,
            "pid": self.pid,
            "port": self.port,
            "region": self.region,
            "state_dir": str(self.state_dir),
            "template": str(self.template),
            "started_at": self.started_at,
            "latency_ms": self.latency_ms,
            "requests": stats.get("requests") if stats else None,
            "saved_state": self._saved_state(),
            "runner": {"running": runner is not None, "pid": runner},
            "outputs": dict(self.outputs),
            "functions": {
                name: {
                    "handler": spec.handler,
                    "timeout": spec.timeout,
                    "sqs_events": [
                        {
                            "queue_url": e.queue_url,
                            "batch_size": e.batch_size,
                            "max_concurrency": e.max_concurrency,
                        }
                        for e in spec.sqs_events
                    ],
                    "schedules": [s.expression for s in spec.schedules],
                }
                for name, spec in self.functions.items()
            },
        }
