"""Request and task-message models (pydantic). Refusals name the field."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic import ValidationError as PydanticValidationError

from qrie.domain import SERVICES, TaskKey, TaskKind
from qrie.errors import ValidationError

MAX_ACCOUNTS = 20_000
MAX_TASK_MESSAGE_BYTES = 4096  # = the task queues' MaximumMessageSize (template.yaml)
# Identifiers are ASCII and match whole (re.fullmatch): \d would take any Unicode digit and $
# would match before a final newline.
ACCOUNT_RE = re.compile(r"[0-9]{12}")
JOB_ID_RE = re.compile(r"[a-z]+-[a-z0-9*]+-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")
MAX_DEPTH = 32  # nesting of a request's JSON: checked before any recursive walk
MAX_ECHO = 80  # characters of a refused value quoted back in an error
MAX_ERRORS_SHOWN = 5
POLICY_SPEC_RE = re.compile(r"\*|[a-z0-9]+\.(\*|[a-z0-9_]+)")
OPERATIONS = ("inventory", "scan", "status", "list", "cancel", "retry")


def excerpt(value: Any, limit: int = MAX_ECHO) -> str:
    """A refused value as quoted in an error: its repr, cut at ``limit`` characters with its
    length said ("'xxxx…'…(1000000 chars)"); a container or other object by its type only (its
    repr could be huge or nested without bound)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}…({len(value)} chars)"
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"
    return f"<{type(value).__name__}>"


def is_account_id(value: Any) -> bool:
    return isinstance(value, str) and ACCOUNT_RE.fullmatch(value) is not None


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests lists and dicts, counting no further than ``limit + 1``
    (iterative: a hostile input cannot exhaust the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _check_accounts(value: Any) -> list[str] | Literal["*"]:
    if value == "*":
        return "*"
    if not isinstance(value, list):
        raise ValueError('must be "*" or a list of 12-digit account ids')
    if not value:
        raise ValueError('must not be empty (use "*" for every registered account)')
    if len(value) > MAX_ACCOUNTS:
        raise ValueError(f"at most {MAX_ACCOUNTS} accounts per job, got {len(value)}")
    bad = [v for v in value if not is_account_id(v)]
    if bad:
        shown = ", ".join(excerpt(b) for b in bad[:MAX_ERRORS_SHOWN])
        more = f" and {len(bad) - MAX_ERRORS_SHOWN} more" if len(bad) > MAX_ERRORS_SHOWN else ""
        raise ValueError(f"account ids must be 12 digits: {shown}{more}")
    seen: set[str] = set()
    dupes = sorted({v for v in value if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"duplicate account ids: {', '.join(dupes[:5])}")
    return list(value)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AccountsMixin(_Request):
    accounts: list[str] | Literal["*"] = "*"

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: Any) -> list[str] | Literal["*"]:
        return _check_accounts(value)


class _JobStartMixin(_AccountsMixin):
    # ids not in the registry are refused (naming them) unless the request says so
    allow_unregistered: bool = False


class InventoryRequest(_JobStartMixin):
    operation: Literal["inventory"]
    service: str = "*"

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if value != "*" and value not in SERVICES:
            raise ValueError(f"unknown service {excerpt(value)}; valid: {', '.join(SERVICES)}, *")
        return value

    def services(self) -> list[str]:
        return list(SERVICES) if self.service == "*" else [self.service]


class ScanRequest(_JobStartMixin):
    operation: Literal["scan"]
    policy: str = "*"
    refresh: bool = False

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        # its shape here; whether it names policies, in the job service (the catalogue's job)
        if not POLICY_SPEC_RE.fullmatch(value):
            raise ValueError(
                f"malformed policy spec {excerpt(value)}; valid: a policy id, <service>.*, *"
            )
        return value


def _check_job_id(value: str) -> str:
    if not JOB_ID_RE.fullmatch(value):
        raise ValueError(f"malformed job id {excerpt(value)}")
    return value


class _JobRequest(_Request):
    job_id: str

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        return _check_job_id(value)


class StatusRequest(_JobRequest):
    operation: Literal["status"]


class CancelRequest(_JobRequest):
    operation: Literal["cancel"]


class RetryRequest(_JobRequest):
    operation: Literal["retry"]


class ListRequest(_Request):
    operation: Literal["list"]
    limit: int = Field(default=20, ge=1, le=1000)


Request = Annotated[
    InventoryRequest | ScanRequest | StatusRequest | ListRequest | CancelRequest | RetryRequest,
    Field(discriminator="operation"),
]
_REQUEST: TypeAdapter[Any] = TypeAdapter(Request)


class TaskMessage(BaseModel):
    """The body of one queued task: (job, account, kind, service)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    job_id: str
    kind: Literal["inventory", "scan"]
    account_id: str
    service: str
    policy: str | None = None  # scan: the policy spec of the job
    scan_policy: str | None = None  # inventory stage of a refresh scan: enqueue this scan after

    @field_validator("job_id")
    @classmethod
    def _job_id(cls, value: str) -> str:
        return _check_job_id(value)

    @property
    def key(self) -> TaskKey:
        """Which task of the job this message is."""
        return TaskKey(self.account_id, TaskKind(self.kind), self.service)

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if not ACCOUNT_RE.fullmatch(value):
            raise ValueError("must be 12 digits")
        return value

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if value not in SERVICES:
            raise ValueError(f"unknown service {excerpt(value)}; valid: {', '.join(SERVICES)}")
        return value


def _field_name(part: Any) -> str:
    name = str(part)
    if name.isidentifier() and len(name) <= MAX_ECHO:
        return name
    # a name that is not a plain identifier (an unknown key like "" or " ") is quoted
    return excerpt(name) if len(name) > MAX_ECHO else json.dumps(name)


def describe(exc: PydanticValidationError) -> tuple[str, str]:
    """(field, message) naming the problems: "accounts: account ids must be 12 digits: …".
    Bounded: at most :data:`MAX_ERRORS_SHOWN` problems, every quoted value cut to an excerpt."""
    parts: list[str] = []
    first_field = ""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for error in errors[:MAX_ERRORS_SHOWN]:
        loc = [_field_name(p) for p in error["loc"] if not isinstance(p, int)]
        # drop the discriminator tag pydantic puts first ("inventory", "scan", …)
        if loc and loc[0] in OPERATIONS:
            loc = loc[1:]
        field = ".".join(loc) or "request"
        first_field = first_field or field
        msg = error["msg"]
        if error["type"] == "extra_forbidden":
            msg = "unknown field"
        msg = msg.removeprefix("Value error, ")
        if len(msg) > 4 * MAX_ECHO:
            msg = msg[: 4 * MAX_ECHO] + "…"
        parts.append(f"{field}: {msg}")
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more problems")
    return first_field, "; ".join(parts)


def _unknown_operation(event: dict[Any, Any]) -> ValidationError | None:
    operation = event.get("operation")
    if operation is None:
        return ValidationError(f"operation: missing; valid: {', '.join(OPERATIONS)}", "operation")
    if operation not in OPERATIONS:
        return ValidationError(
            f"operation: unknown operation {excerpt(operation)}; valid: {', '.join(OPERATIONS)}",
            field="operation",
        )
    return None


def parse_request(event: Any) -> Any:
    """Parse a job-handler event into one of the request models, or raise ValidationError."""
    if not isinstance(event, dict):
        raise ValidationError("request: must be a JSON object", field="request")
    if nesting_depth(event) > MAX_DEPTH:
        raise ValidationError(
            f"request: nested deeper than {MAX_DEPTH} levels of lists and objects",
            field="request",
        )
    unknown = _unknown_operation(event)
    if unknown is not None:
        raise unknown
    try:
        return _REQUEST.validate_python(event)
    except PydanticValidationError as exc:
        field, message = describe(exc)
        raise ValidationError(message, field=field) from exc


def parse_task(body: str) -> TaskMessage:
    """Parse a task message body, or raise ValidationError naming what is wrong."""
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_TASK_MESSAGE_BYTES:
        raise ValidationError(
            f"body: {size} bytes, a task message has at most {MAX_TASK_MESSAGE_BYTES}",
            field="body",
        )
    try:
        return TaskMessage.model_validate_json(body)
    except PydanticValidationError as exc:
        field, message = describe(exc)
        raise ValidationError(message, field=field) from exc
