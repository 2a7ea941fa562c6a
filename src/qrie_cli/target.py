"""Where the CLI sends its requests: the local stack or a deployed one, through one interface.

A :class:`Target` has the job handler (``invoke(event) -> response``), the table (``store``) and
the functions' settings. Every command is written once against it:

* :class:`LocalTarget` runs ``qrie.handlers.job_handler.lambda_handler`` in this process, inside
  the local stack's function environment (table, queue URLs, endpoint of the local AWS, fake
  credentials), exactly as the runner runs it;
* :class:`DeployedTarget` reads the CloudFormation stack's Outputs and calls the deployed
  function with ``lambda:Invoke``; the table is read with the caller's credentials.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from qrie.config import Settings
from qrie.store.table import Store

if TYPE_CHECKING:
    from qrie_local.stack import LocalStack

JOB_HANDLER = "JobHandlerFunction"
JOB_HANDLER_TIMEOUT = 120  # seconds of the local Lambda context (the template's is smaller)
STATE_DIR_NAME = ".qrie"
TEMPLATE_NAME = "template.yaml"
STATE_DIR_ENV = "QRIE_STATE_DIR"
LOG_LEVEL_ENV = "QRIE_LOG_LEVEL"
REQUIRED_OUTPUTS = ("TableName", "JobHandlerFunctionName")


class TargetError(Exception):
    """No usable target (exit code 2: how it was asked for is wrong) or a call to it failed
    (exit code 1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class RequestRefused(Exception):
    """The job handler refused a request (its ValidationError): nothing was done.
    ``response`` is its answer, ``{"error": {"code", "message", "field"?}}``."""

    def __init__(self, response: dict[str, Any]) -> None:
        error = response.get("error") or {}
        self.response = response
        self.message = str(error.get("message", "request refused"))
        self.field: str | None = error.get("field")
        super().__init__(self.message)


# ---------------------------------------------------------------------------- the state directory
@dataclass(frozen=True)
class StateDir:
    """Where the local stack keeps its state, and how that was decided (for messages):
    ``--state-dir``, ``$QRIE_STATE_DIR``, ``found`` (a ``.qrie/`` in the working directory or
    above it), ``checkout`` (none yet: beside the nearest template.yaml above) or ``cwd``."""

    path: Path
    source: str
    searched: tuple[Path, ...] = ()

    def describe(self) -> str:
        """Where the state is and how it was found, e.g. ``/repo/.qrie (found looking upward
        from /repo/src)``."""
        if self.source == "--state-dir":
            return f"{self.path} (--state-dir)"
        if self.source == "env":
            return f"{self.path} (${STATE_DIR_ENV})"
        start = self.searched[0] if self.searched else Path.cwd()
        if self.source == "found":
            return f"{self.path} (found looking upward from {start})"
        looked = _paths(self.searched)
        if self.source == "checkout":
            return f"{self.path} (no {STATE_DIR_NAME}/ in {looked}; the checkout's would be here)"
        return f"{self.path} (no {STATE_DIR_NAME}/ and no {TEMPLATE_NAME} in {looked})"


def _paths(paths: tuple[Path, ...]) -> str:
    shown = [str(p) for p in paths]
    if len(shown) > 4:
        shown = [shown[0], shown[1], "…", shown[-1]]
    return ", ".join(shown) or "."


def locate_state_dir(explicit: Path | None = None, start: Path | None = None) -> StateDir:
    """The local stack's state directory: ``explicit`` (``--state-dir``), else
    ``$QRIE_STATE_DIR``, else the nearest ``.qrie/`` from ``start`` (the working directory)
    upward, stopping at the checkout (the first directory with a template.yaml): so ``qrie``
    finds its stack from any directory of the checkout. With none yet, the checkout's
    ``.qrie`` (or ``./.qrie`` outside a checkout)."""
    if explicit is not None:
        return StateDir(Path(explicit), "--state-dir")
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return StateDir(Path(env), "env")
    here = (start or Path.cwd()).resolve()
    searched: list[Path] = []
    for directory in (here, *here.parents):
        searched.append(directory)
        if (directory / STATE_DIR_NAME).is_dir():
            return StateDir(directory / STATE_DIR_NAME, "found", tuple(searched))
        if (directory / TEMPLATE_NAME).is_file():
            return StateDir(directory / STATE_DIR_NAME, "checkout", tuple(searched))
    return StateDir(here / STATE_DIR_NAME, "cwd", tuple(searched))


def state_dir(explicit: Path | None = None) -> Path:
    """The local stack's state directory (see :func:`locate_state_dir`)."""
    return locate_state_dir(explicit).path


def locate_template(start: Path | None = None) -> Path:
    """The nearest template.yaml from ``start`` (the working directory) upward, or
    ``template.yaml`` (relative, so that a message names what was missing)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / TEMPLATE_NAME).is_file():
            return directory / TEMPLATE_NAME
    return Path(TEMPLATE_NAME)


def quiet_handler_output() -> None:
    """In-process handlers must not write to the CLI's stdout (``--json`` prints JSON only):
    their Powertools log lines go to stderr at ERROR (``$QRIE_LOG_LEVEL`` to change it: a
    refusal, logged as a warning, is already the CLI's own error message), and the EMF metric
    lines they would print are switched off (nothing collects them locally)."""
    import warnings  # noqa: PLC0415

    from qrie.observability import logger  # noqa: PLC0415 (handlers' modules load lazily)

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is not sys.stderr:
            # not setStream: it flushes the old stream, which may be closed by now (an earlier
            # command of the same process, e.g. a test's, printed to a stream since closed)
            handler.stream = sys.stderr
    logger.setLevel(os.environ.get(LOG_LEVEL_ENV, "ERROR").upper())
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="No application metrics to publish")


class Target:
    """The job handler, table and settings of one qrie stack. Use as a context manager."""

    description = "target"
    store: Store
    settings: Settings

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The job handler's answer to ``event``, refusals included."""
        raise NotImplementedError

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        """The job handler's answer to ``event``; a refusal raises :class:`RequestRefused`."""
        response = self.invoke(event)
        if "error" in response:
            raise RequestRefused(response)
        return response

    def client(self, service: str) -> Any:
        """A boto3 client of the target's AWS (e.g. ``organizations`` for ``accounts sync``)."""
        raise NotImplementedError

    def stall_hint(self) -> str | None:
        """Why a job might make no progress (None: no reason known), for ``jobs watch``."""
        return None

    def close(self) -> None:
        """Release what the target holds (environment, clients)."""

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalTarget(Target):
    """The local stack: the job handler runs in this process in the function's environment."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.description = f"local stack at {stack.endpoint}"
        self._env = contextlib.ExitStack()
        # The function environment (table, queues, endpoint, fake credentials) stays applied
        # while the target is open, so every client created meanwhile talks to the local AWS.
        self._env.enter_context(stack.apply_env())
        quiet_handler_output()
        self.settings = Settings.from_env()
        self.store = Store(str(stack.outputs["TableName"]))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from qrie.handlers.job_handler import lambda_handler  # noqa: PLC0415
        from qrie_local.events import LambdaContext  # noqa: PLC0415

        # Anything a handler prints (it should not) goes to stderr, never into --json output.
        with contextlib.redirect_stdout(sys.stderr):
            response = lambda_handler(event, LambdaContext(JOB_HANDLER, JOB_HANDLER_TIMEOUT))
        return dict(response)

    def client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        from qrie.aws import client_config  # noqa: PLC0415

        return boto3.client(service, config=client_config())  # type: ignore[call-overload]

    def stall_hint(self) -> str | None:
        if self.stack.runner_pid() is not None:
            return None
        return "is the runner running? (`qrie local status`)"

    def close(self) -> None:
        self._env.close()


class DeployedTarget(Target):
    """A stack deployed with ``sam deploy``: names come from its CloudFormation Outputs."""

    def __init__(self, stack_name: str, region: str | None = None) -> None:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        from qrie.aws import Clients, client_config  # noqa: PLC0415

        session = boto3.Session(region_name=region) if region else boto3.Session()
        if not session.region_name:
            raise TargetError(
                "no AWS region: pass --region or set AWS_REGION / a profile's region", exit_code=2
            )
        self.stack_name = stack_name
        self.region = session.region_name
        self.description = f"stack {stack_name} ({self.region})"
        try:
            stacks = session.client("cloudformation", config=client_config()).describe_stacks(
                StackName=stack_name
            )["Stacks"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            # CloudFormation answers ValidationError for a stack name that does not exist
            code = 2 if error.get("Code") == "ValidationError" else 1
            message = error.get("Message", str(exc))
            raise TargetError(f"stack {stack_name!r} in {self.region}: {message}", code) from exc
        except BotoCoreError as exc:
            raise TargetError(f"cannot reach CloudFormation in {self.region}: {exc}") from exc
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        missing = [k for k in REQUIRED_OUTPUTS if k not in self.outputs]
        if missing:
            raise TargetError(
                f"stack {stack_name!r} has no output {', '.join(missing)}: is it a qrie stack "
                f"(status {stacks[0].get('StackStatus')})?",
                exit_code=2,
            )
        self.function_name = self.outputs["JobHandlerFunctionName"]
        self.settings = Settings(
            table_name=self.outputs["TableName"],
            inventory_queue_url=self.outputs.get("InventoryQueueUrl", ""),
            scan_queue_url=self.outputs.get("ScanQueueUrl", ""),
            dlq_url=self.outputs.get("DeadLetterQueueUrl", ""),
        )
        self.store = Store(self.settings.table_name, Clients(session))
        # One attempt: a retried invoke after a read timeout could start a second job.
        self._lambda = session.client(
            "lambda",
            config=Config(read_timeout=900, connect_timeout=10, retries={"total_max_attempts": 1}),
        )
        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        self._session = session

    def client(self, service: str) -> Any:
        from qrie.aws import client_config  # noqa: PLC0415

        return self._session.client(service, config=client_config())  # type: ignore[call-overload]

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._lambda.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except self._errors as exc:
            raise TargetError(f"lambda:Invoke {self.function_name} failed: {exc}") from exc
        raw = response["Payload"].read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise TargetError(
                f"{self.function_name} returned a payload that is not JSON: {raw[:200]!r}"
            ) from exc
        if response.get("FunctionError"):
            detail = payload if isinstance(payload, dict) else {}
            raise TargetError(
                f"{self.function_name} failed ({response['FunctionError']}): "
                f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', raw[:300])}"
            )
        if not isinstance(payload, dict):
            raise TargetError(f"{self.function_name} returned {payload!r}, not a JSON object")
        return payload


def current_local_stack(directory: Path | None = None) -> LocalStack | None:
    """The local stack running from ``directory`` (default: :func:`state_dir`), if any."""
    try:
        from qrie_local.stack import LocalStack  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the local extras are part of the package
        return None
    return LocalStack.current(directory or state_dir())


def no_local_stack(where: StateDir) -> str:
    """Why there is no local stack to talk to, naming where it was looked for."""
    return f"no local stack is running in {where.describe()}"


def resolve_target(
    local: bool, stack_name: str | None, region: str | None, state: Path | None = None
) -> Target:
    """``--stack-name`` selects a deployed stack; otherwise the running local stack (``--local``
    insists on it), found by :func:`locate_state_dir` (``state``: ``--state-dir``). Neither
    available: a TargetError with exit code 2 saying where it looked and what to do."""
    if stack_name:
        if local:
            raise TargetError("choose one of --local and --stack-name", exit_code=2)
        return DeployedTarget(stack_name, region)
    where = locate_state_dir(state)
    stack = current_local_stack(where.path)
    if stack is not None:
        return LocalTarget(stack)
    if local:
        raise TargetError(f"{no_local_stack(where)}: start it with `qrie local up`", exit_code=2)
    raise TargetError(
        f"no qrie stack to talk to: {no_local_stack(where)}. Run `qrie local up` in the "
        "checkout to start the local stack (or --state-dir / $QRIE_STATE_DIR to name another "
        "state directory), or pass --stack-name NAME [--region REGION] for a deployed one",
        exit_code=2,
    )


@contextlib.contextmanager
def open_target(
    local: bool, stack_name: str | None, region: str | None, state: Path | None = None
) -> Iterator[Target]:
    target = resolve_target(local, stack_name, region, state)
    with target:
        yield target
