"""Fault injection for the local stack: the failures AWS, SQS and Lambda really produce.

Two layers, both outside qrie's own code paths (its handlers, workers and store run unchanged):

* **The local AWS** (:class:`FaultHook`, a request hook of :mod:`qrie_local.server`, loaded with
  ``--hook qrie_local.faults:server_hook`` or ``QRIE_LOCAL_HOOKS``). It answers *member-account*
  calls -- requests signed with credentials of an assumed ``member_role`` (the server tells them
  from hub calls by their access key) -- with errors instead of moto's answer:

  - ``throttle_rate``: each member request fails transiently (``Throttling``/``SlowDown``/
    ``RequestLimitExceeded`` or a 5xx ``InternalError``) with this probability: botocore's
    standard retries normally absorb it;
  - ``burst_rate``: this share of (account, service) pairs gets a *burst*: its first
    ``burst_length`` listing calls (ListBuckets, DescribeInstances/Volumes/SecurityGroups,
    GetAccountAuthorizationDetails, ListPolicies/Roles/ServerCertificates) fail transiently --
    as many as one call's attempts (botocore's standard mode: the first and
    ``qrie.aws.MAX_ATTEMPTS`` retries), so the task fails once and comes back through the
    worker's visibility backoff;
  - ``deny_rate``: this share of (account, service) pairs is denied (``AccessDenied``/
    ``UnauthorizedOperation``) on every call: the task must fail at once, permanently.

  Every decision is a hash of (seed, account, service, operation, path, occurrence), so a run
  with the same seed and the same calls injects the same faults. ``GET /_qrie/faults`` answers
  the configuration and what was injected; ``POST /_qrie/faults`` (a JSON :class:`FaultConfig`)
  sets the configuration and zeroes the counts. A new hook is disabled.

* **The event-source runner** (:class:`RunnerFaults`, a delivery hook given to
  :class:`qrie_local.runner.Runner`, see :class:`qrie_local.sources.DeliveryHook`): for every
  batch a worker is about to receive it plans

  - ``duplicate_rate``: a first delivery of a message is delivered a second time, at once, in
    another invocation (SQS's at-least-once delivery);
  - ``crash_rate``: a delivery kills its execution environment when the handler reaches that
    record -- before the record (the records before it were handled) or in the middle of it
    (after a few AWS calls of its work); the batch returns after its visibility timeout;
  - ``poison_rate``: a message crashes its invocation on *every* receive, so it exhausts its
    receives and SQS moves it to the dead-letter queue.

  The execution environment carries out a crash: the runner sends it a :class:`FaultedEvent`
  instead of the event, which runs part of the batch there (:func:`run_faulted`) and ends the
  process with ``os._exit``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NoReturn

from qrie.aws import MAX_ATTEMPTS
from qrie_local.server import Reply, RequestHook, RequestInfo
from qrie_local.sources import Delivery, DeliveryPlan

__all__ = [
    "CONTROL_PATH",
    "CRASH_EXIT_CODE",
    "HOOK_SPEC",
    "BatchPlan",
    "Crash",
    "FaultConfig",
    "FaultHook",
    "FaultedEvent",
    "RunnerFaultConfig",
    "RunnerFaults",
    "configure",
    "draw",
    "fault_report",
    "run_faulted",
    "server_hook",
    "task_key",
]

CONTROL_PATH = "/_qrie/faults"
HOOK_SPEC = "qrie_local.faults:server_hook"
CRASH_EXIT_CODE = 86
HUB_ACCESS_KEYS = frozenset({"testing"})

# The calls whose failure makes a collector's scope incomplete (a failing attribute read only
# records the attribute as unknown). S3's ListBuckets is ``GET /`` (path-style addressing).
# DescribeRegions is left out: the EC2 and the IAM inventory both call it (IAM Access Analyzer's
# regions), so one pair's burst would be shared by two tasks, neither failing for it.
LISTING_OPERATIONS: dict[str, frozenset[str]] = {
    "ec2": frozenset({"DescribeInstances", "DescribeVolumes", "DescribeSecurityGroups"}),
    "iam": frozenset(
        {"GetAccountAuthorizationDetails", "ListPolicies", "ListRoles", "ListServerCertificates"}
    ),
}

# (error code, HTTP status) per service: throttling, server error, access denied.
THROTTLE_ERRORS = {"s3": ("SlowDown", 503), "ec2": ("RequestLimitExceeded", 503)}
DEFAULT_THROTTLE = ("Throttling", 400)
SERVER_ERRORS = {"s3": ("InternalError", 500), "ec2": ("InternalError", 500)}
DEFAULT_SERVER_ERROR = ("InternalFailure", 500)
DENIED_ERRORS = {"ec2": ("UnauthorizedOperation", 403)}
# Services whose calls a task of another service makes (SigV4 signing name -> task service):
# the S3 task reads CloudTrail trails (S3 Control already signs as "s3").
TASK_SERVICES = {"cloudtrail": "s3"}
DEFAULT_DENIED = ("AccessDenied", 403)
QUERY_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def draw(seed: int, *parts: object) -> float:
    """A number in [0, 1) determined by ``seed`` and ``parts`` (the same inputs, the same draw)."""
    text = "|".join([str(seed), *(str(p) for p in parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


# ============================================================================ the local AWS
@dataclass(frozen=True)
class FaultConfig:
    """What the local AWS injects into member-account calls (rates are probabilities)."""

    enabled: bool = False
    seed: int = 0
    member_role: str = "QrieReadOnly"
    throttle_rate: float = 0.0
    burst_rate: float = 0.0
    burst_length: int = MAX_ATTEMPTS + 1  # every attempt of one call (retries + the first)
    burst_throttle_share: float = 0.5  # the rest of the bursts are 5xx errors
    deny_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "burst_rate", "deny_rate", "burst_throttle_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.burst_rate + self.deny_rate > 1.0:
            raise ValueError("burst_rate + deny_rate must be <= 1")
        if self.burst_length < 0:
            raise ValueError("burst_length must be >= 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def task_fault(self, account_id: str, service: str) -> str | None:
        """``"deny"``, ``"burst"`` or None: what this (account, service) pair is planned for."""
        if not self.enabled:
            return None
        value = draw(self.seed, "task", account_id, service)
        if value < self.deny_rate:
            return "deny"
        if value < self.deny_rate + self.burst_rate:
            return "burst"
        return None


@dataclass(frozen=True)
class _Member:
    account_id: str
    role_name: str


def _access_key(environ: Mapping[str, Any]) -> str:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    marker = "Credential="
    if marker not in auth:
        return ""
    return auth.split(marker, 1)[1].split("/", 1)[0].strip()


def _lookup_member(access_key: str) -> _Member | None:
    """The account and role an assumed-role access key belongs to (moto's IAM state)."""
    from moto.iam.models import iam_backends  # noqa: PLC0415 - only in the server process

    for account_id, backends in list(iam_backends.items()):
        try:
            key = backends["aws"].access_keys.get(access_key)
        except (KeyError, AttributeError):
            continue
        if key is not None:
            role_arn = str(getattr(key, "role_arn", "") or "")
            return _Member(str(account_id), role_arn.rsplit("/", 1)[-1]) if role_arn else None
    return None


def _error_reply(service: str, code: str, status: int, message: str, request_id: str) -> Reply:
    """An error in the wire format of the service's protocol, so botocore parses its code."""
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return Reply(status, body.encode(), (("Content-Type", "application/xml"),))
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return Reply(status, body.encode(), (("Content-Type", "text/xml"),))
    if service in QUERY_NAMESPACES:
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f'<ErrorResponse xmlns="{QUERY_NAMESPACES[service]}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Reply(status, body.encode(), (("Content-Type", "text/xml"),))
    payload = json.dumps({"__type": code, "message": message}).encode()
    return Reply(
        status,
        payload,
        (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)),
    )


class FaultHook:
    """The server-side fault layer (see the module docstring). Thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._lock = threading.Lock()
        self._members: dict[str, _Member | None] = {}
        self._occurrences: Counter[str] = Counter()
        self._bursts: Counter[str] = Counter()  # (account, service) -> failures injected
        self.counts: Counter[str] = Counter()
        self.burst_tasks: set[str] = set()
        self.denied_tasks: set[str] = set()

    # -------------------------------------------------------------- control
    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._occurrences.clear()
            self._bursts.clear()
            self.counts.clear()
            self.burst_tasks.clear()
            self.denied_tasks.clear()

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self.config.to_dict(),
                "counts": dict(self.counts),
                "burst_tasks": sorted(self.burst_tasks),
                "denied_tasks": sorted(self.denied_tasks),
            }

    def _control(self, info: RequestInfo) -> Reply:
        if info.method == "POST":
            try:
                length = int(info.environ.get("CONTENT_LENGTH") or 0)
                raw = info.environ["wsgi.input"].read(length) if length > 0 else b"{}"
                # put the body back: the server drains what a hook's request left unread
                info.environ["wsgi.input"] = io.BytesIO(raw)
                self.configure(FaultConfig.from_dict(json.loads(raw or b"{}")))
            except (TypeError, ValueError) as exc:
                body = json.dumps({"error": str(exc)}).encode()
                return Reply(400, body)
        return Reply(200, json.dumps(self.report()).encode())

    # -------------------------------------------------------------- requests
    def _member(self, access_key: str) -> _Member | None:
        if not access_key or access_key in HUB_ACCESS_KEYS:
            return None
        if access_key in self._members:
            return self._members[access_key]
        member = _lookup_member(access_key)
        with self._lock:
            self._members[access_key] = member
        return member

    def __call__(self, info: RequestInfo) -> Reply | None:
        if info.path == CONTROL_PATH:
            return self._control(info)
        config = self.config
        if not config.enabled:
            return None
        member = self._member(_access_key(info.environ))
        if member is None or member.role_name != config.member_role:
            with self._lock:
                self.counts["hub_requests"] += 1
            return None
        # faults are planned per task: a call belongs to the task of the service that makes it
        account, service = member.account_id, TASK_SERVICES.get(info.service, info.service)
        pair = f"{account}:{service}"
        call = f"{account}|{service}|{info.operation}|{info.method}|{info.path}"
        with self._lock:
            self.counts["member_requests"] += 1
            self._occurrences[call] += 1
            occurrence = self._occurrences[call]
        request_id = f"qrie-fault-{hashlib.blake2b(call.encode(), digest_size=6).hexdigest()}"
        planned = config.task_fault(account, service)
        if planned == "deny":
            code, status = DENIED_ERRORS.get(info.service, DEFAULT_DENIED)
            with self._lock:
                self.counts["denied"] += 1
                self.denied_tasks.add(pair)
            return _error_reply(
                info.service, code, status, "qrie fault injection: access denied", request_id
            )
        if planned == "burst" and self._is_listing(info.service, info):
            with self._lock:
                bursting = self._bursts[pair] < config.burst_length
                if bursting:
                    self._bursts[pair] += 1
                    self.counts["burst"] += 1
                    self.burst_tasks.add(pair)
            if bursting:
                throttle = draw(config.seed, "burst-kind", account, service)
                return self._transient(
                    info.service, throttle < config.burst_throttle_share, request_id
                )
        if config.throttle_rate > 0:
            value = draw(
                config.seed, "req", account, service, info.operation, info.path, occurrence
            )
            if value < config.throttle_rate:
                with self._lock:
                    self.counts["throttled"] += 1
                # two thirds throttling errors, one third 5xx
                return self._transient(
                    info.service, value < config.throttle_rate * 2 / 3, request_id
                )
        return None

    @staticmethod
    def _is_listing(service: str, info: RequestInfo) -> bool:
        if service == "s3":
            return info.method == "GET" and info.path in {"", "/"}
        return info.operation in LISTING_OPERATIONS.get(service, frozenset())

    def _transient(self, service: str, throttle: bool, request_id: str) -> Reply:
        if throttle:
            code, status = THROTTLE_ERRORS.get(service, DEFAULT_THROTTLE)
        else:
            code, status = SERVER_ERRORS.get(service, DEFAULT_SERVER_ERROR)
        with self._lock:
            self.counts[code] += 1
        return _error_reply(service, code, status, "qrie fault injection", request_id)


def server_hook() -> RequestHook:
    """The hook factory for ``--hook qrie_local.faults:server_hook`` (disabled until configured)."""
    return FaultHook()


def _control(endpoint: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = None if payload is None else json.dumps(dict(payload)).encode()
    request = urllib.request.Request(  # noqa: S310 - the local server's http URL
        f"{endpoint}{CONTROL_PATH}",
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def configure(endpoint: str, config: FaultConfig) -> dict[str, Any]:
    """Set the fault configuration of the local AWS at ``endpoint`` (zeroes its counts)."""
    return _control(endpoint, config.to_dict())


def fault_report(endpoint: str) -> dict[str, Any]:
    """The configuration and what the local AWS at ``endpoint`` injected so far."""
    return _control(endpoint)


# ============================================================================ the runner
@dataclass(frozen=True)
class Crash:
    """How an invocation dies: after handling ``after_records`` records normally, and (when
    ``during_calls`` > 0) after that many AWS calls of the next record's work."""

    after_records: int
    during_calls: int = 0


@dataclass(frozen=True)
class FaultedEvent:
    """What the runner sends an execution environment instead of the event: die mid-batch (a
    :class:`qrie_local.slots.WrappedEvent`)."""

    event: dict[str, Any]
    crash: Crash

    def run_in_environment(self, handler: Callable[[Any, Any], Any], context: Any) -> NoReturn:
        run_faulted(handler, self, context)


@dataclass(frozen=True)
class BatchPlan:
    crash: Crash | None = None
    duplicates: frozenset[str] = frozenset()  # message ids delivered a second time
    reason: str = ""  # "crash" | "poison" | ""


def _exit_after_calls(calls: int) -> None:
    """Make this process exit once it has made ``calls`` AWS API calls (botocore, any thread)."""
    from botocore.client import BaseClient  # noqa: PLC0415

    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - a private method
    made = {"n": 0}
    lock = threading.Lock()

    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        try:
            return original(self, operation_name, api_params)
        finally:
            with lock:
                made["n"] += 1
                done = made["n"] >= calls
            if done:
                os._exit(CRASH_EXIT_CODE)

    setattr(BaseClient, "_make_api_call", make_api_call)  # noqa: B010 - patching a method


def run_faulted(
    handler: Callable[[Any, Any], Any], faulted: FaultedEvent, context: Any
) -> NoReturn:
    """In an execution environment: do part of the batch's work, then die (``os._exit``)."""
    event = faulted.event
    records = list(event.get("Records", []))
    done = max(0, min(faulted.crash.after_records, len(records)))
    try:
        if done:
            handler({**event, "Records": records[:done]}, context)
        if faulted.crash.during_calls > 0 and done < len(records):
            _exit_after_calls(faulted.crash.during_calls)
            handler({**event, "Records": [records[done]]}, context)
    except BaseException:  # noqa: S110 - the process dies either way
        pass
    os._exit(CRASH_EXIT_CODE)


def task_key(body: str) -> str:
    """``kind:account:service`` of a task message body (its identity across deliveries); the
    body itself if it is not a task message."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    return f"{data.get('kind')}:{data.get('account_id')}:{data.get('service')}"


@dataclass(frozen=True)
class RunnerFaultConfig:
    """What the runner injects into the batches of ``functions`` (rates are probabilities)."""

    seed: int = 0
    crash_rate: float = 0.0  # per delivery of a message
    duplicate_rate: float = 0.0  # per message, on its first receive
    poison_rate: float = 0.0  # per message: crashes on every receive
    during_share: float = 0.5  # crashes in the middle of a record's work (else before it)
    max_calls_before_crash: int = 12
    functions: tuple[str, ...] = ("InventoryWorkerFunction", "ScanWorkerFunction")

    def __post_init__(self) -> None:
        for name in ("crash_rate", "duplicate_rate", "poison_rate", "during_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")

    def is_poison(self, key: str) -> bool:
        return self.poison_rate > 0 and draw(self.seed, "poison", key) < self.poison_rate


@dataclass
class RunnerFaults:
    """Plans the faults of each batch (thread-safe) and counts what it injected."""

    config: RunnerFaultConfig = field(default_factory=RunnerFaultConfig)
    counts: Counter[str] = field(default_factory=Counter)
    crashed: set[str] = field(default_factory=set)  # task keys whose delivery crashed
    duplicated: set[str] = field(default_factory=set)
    poisoned: set[str] = field(default_factory=set)
    # task keys -> receives lost unprocessed because an earlier record of the batch crashed it
    starved: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def plan(self, function: str, messages: Sequence[Mapping[str, Any]]) -> BatchPlan | None:
        config = self.config
        if function not in config.functions:
            return None
        crash: Crash | None = None
        reason = ""
        duplicates: set[str] = set()
        keys: list[str] = []
        for index, message in enumerate(messages):
            key = task_key(str(message.get("Body", "")))
            keys.append(key)
            receive = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            poison = config.is_poison(key)
            if crash is None and poison:
                crash, reason = Crash(index), "poison"
            elif crash is None and draw(config.seed, "crash", key, receive) < config.crash_rate:
                during = draw(config.seed, "crash-during", key, receive) < config.during_share
                calls = 1 + int(
                    draw(config.seed, "crash-calls", key, receive) * config.max_calls_before_crash
                )
                crash, reason = Crash(index, calls if during else 0), "crash"
            if (
                not poison
                and receive == 1
                and draw(config.seed, "duplicate", key) < config.duplicate_rate
            ):
                duplicates.add(str(message["MessageId"]))
        if crash is None and not duplicates:
            return None
        with self._lock:
            if crash is not None:
                key = keys[crash.after_records]
                if reason == "poison":
                    self.counts["poison_crashes"] += 1
                    self.poisoned.add(key)
                else:
                    self.counts["crashes_during_record" if crash.during_calls else "crashes"] += 1
                    self.crashed.add(key)
                self.counts["records_in_crashed_batches"] += len(messages)
                for later in keys[crash.after_records + 1 :]:
                    self.starved[later] += 1
                    self.counts["receives_lost_to_batch_mates"] += 1
            for message in messages:
                if str(message["MessageId"]) in duplicates:
                    self.counts["duplicates"] += 1
                    self.duplicated.add(task_key(str(message.get("Body", ""))))
        return BatchPlan(crash, frozenset(duplicates), reason)

    def before_delivery(self, delivery: Delivery) -> DeliveryPlan | None:
        """The runner's delivery hook: the planned crash as the payload, the planned duplicates
        delivered again. A repeated delivery (``injected``) is one of those duplicates: it gets
        no fault of its own."""
        if delivery.injected:
            return None
        plan = self.plan(delivery.function, delivery.messages)
        if plan is None:
            return None
        return DeliveryPlan(
            payload=None if plan.crash is None else FaultedEvent(delivery.event, plan.crash),
            redeliver=tuple(m for m in delivery.messages if m["MessageId"] in plan.duplicates),
        )

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": asdict(self.config),
                "counts": dict(self.counts),
                "crashed": sorted(self.crashed),
                "duplicated": sorted(self.duplicated),
                "poisoned": sorted(self.poisoned),
                "starved": dict(self.starved),
            }
