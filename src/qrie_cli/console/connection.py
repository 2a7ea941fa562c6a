"""The console's target (the local stack or a deployed one) and what its failures mean to a
person.

The target is opened on first use, not when the server starts, and opened again after a
failure that may have been fixed meanwhile (the local stack restarted, credentials refreshed):
a page that failed works after a reload. :func:`explain` turns any exception a page can meet
into a :class:`Problem`: a status, a title and what to do, never a stack trace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qrie.errors import ValidationError
from qrie.store.table import Store
from qrie_cli.target import LocalTarget, Target, TargetError

log = logging.getLogger("qrie.console")

EXPIRED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    message: str
    hint: str = ""
    reconnect: bool = False  # drop the target: the next request opens it again


class Connection:
    """The target of this console, opened lazily; job requests serialized."""

    def __init__(self, opener: Callable[[], Target], label: str) -> None:
        self._opener = opener
        self.label = label  # what the user asked for, e.g. "the local stack", "stack qrie-dev"
        self._target: Target | None = None
        self._lock = threading.Lock()
        self._invoke_lock = threading.Lock()

    def target(self) -> Target:
        with self._lock:
            if self._target is None:
                self._target = self._opener()
            return self._target

    @property
    def store(self) -> Store:
        return self.target().store

    @property
    def description(self) -> str:
        target = self._target
        return target.description if target is not None else self.label

    @property
    def is_local(self) -> bool:
        return isinstance(self._target, LocalTarget)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """A job request to the job handler (one at a time: the local one runs in-process)."""
        target = self.target()
        with self._invoke_lock:
            return target.invoke(event)

    def client(self, service: str) -> Any:
        return self.target().client(service)

    def reset(self) -> None:
        with self._lock:
            target, self._target = self._target, None
        if target is not None:
            try:
                target.close()
            except Exception:  # closing a broken target must not hide the first error
                log.exception("closing the target failed")

    close = reset


def _client_error(exc: Any, where: str) -> Problem:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", ""))
    message = str(error.get("Message", exc))
    operation = getattr(exc, "operation_name", "") or "the request"
    if code in EXPIRED_CODES:
        return Problem(
            401,
            "AWS credentials expired or not valid",
            f"AWS refused the credentials of this console ({code}: {message}).",
            "Refresh them (e.g. `aws sso login`, or new keys in your profile), then reload "
            "this page: the console picks them up.",
            reconnect=True,
        )
    if code in DENIED_CODES:
        return Problem(
            403,
            "Access denied",
            f"Your AWS credentials may not call {operation} on {where} ({message}).",
            "Use credentials allowed to read the qrie table and invoke its job handler.",
        )
    if code == "ResourceNotFoundException":
        return Problem(
            503,
            "Stack not found",
            f"{where} has no table or function any more ({message}).",
            "Was the stack deleted or the local stack restarted? Check `qrie local status` or "
            "the stack in CloudFormation, then reload.",
            reconnect=True,
        )
    if code == "AWSOrganizationsNotInUseException":
        return Problem(
            409,
            "No AWS Organization",
            "The account this console uses is not part of an AWS Organization, so there is "
            f"nothing to sync ({message}).",
            "Register accounts one by one with `qrie accounts add ACCOUNT_ID`.",
        )
    return Problem(502, f"AWS error: {code or type(exc).__name__}", message)


def explain(exc: BaseException, connection: Connection) -> Problem:
    """What a failure means, for a person (see the module docstring)."""
    from botocore import exceptions as boto  # noqa: PLC0415

    where = connection.description
    if isinstance(exc, TargetError):
        title = "No qrie stack to talk to" if exc.exit_code == 2 else "The stack cannot be used"
        if "does not exist" in exc.message or "ValidationError" in exc.message:
            title = "Stack not found"
        return Problem(503, title, exc.message, reconnect=True)
    if isinstance(exc, ValidationError):
        return Problem(400, "Refused", exc.message)
    if isinstance(
        exc,
        boto.EndpointConnectionError
        | boto.ConnectionClosedError
        | boto.ConnectTimeoutError
        | boto.ReadTimeoutError
        | ConnectionError,
    ):
        hint = (
            "Is the local stack running? `qrie local status` tells; `qrie local up` starts it."
            if connection.is_local or "local" in where
            else "Check your network and the stack's region."
        )
        return Problem(
            503, "Target unreachable", f"{where} does not answer ({exc}).", hint, reconnect=True
        )
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return Problem(
            401,
            "No AWS credentials",
            f"The console found no usable AWS credentials for {where} ({exc}).",
            "Set a profile (AWS_PROFILE) or log in (`aws sso login`), then reload.",
            reconnect=True,
        )
    token_errors = tuple(
        getattr(boto, name)
        for name in ("TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError")
        if hasattr(boto, name)
    )
    if token_errors and isinstance(exc, token_errors):
        return Problem(
            401,
            "AWS credentials expired",
            f"Your AWS session for {where} has expired ({exc}).",
            "Log in again (`aws sso login`), then reload this page.",
            reconnect=True,
        )
    if isinstance(exc, boto.ClientError):
        return _client_error(exc, where)
    if isinstance(exc, boto.BotoCoreError):
        return Problem(502, "AWS error", f"{type(exc).__name__}: {exc}")
    log.error("console request failed", exc_info=exc)
    return Problem(
        500,
        "Something went wrong",
        f"{type(exc).__name__}: {exc}",
        "The details are in the terminal running `qrie console`.",
    )
