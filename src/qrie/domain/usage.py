"""What a task (or a job) consumed in AWS: the measured inputs of its cost.

``Usage`` is additive: a job's usage is the sum of its tasks' (and of its creation's). Every
figure is a share of something AWS bills:

- ``ms`` / ``mb_ms``: the task's share of its invocation's duration, and that share times the
  function's memory (MB x ms; Lambda bills GB-seconds: ``mb_ms / 1024 / 1000``);
- ``invocations``: its share of Lambda requests (1/n for a batch of n records);
- ``requests``: AWS requests by ``service.Operation`` (a task's) or by ``service`` (a job's),
  counted once per HTTP attempt; the SQS event source's ReceiveMessage and DeleteMessageBatch
  of a batch are shared among its records;
- ``read_units`` / ``write_units``: DynamoDB read and write request units, as DynamoDB reported
  them (``ReturnConsumedCapacity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DIGITS = 6  # fractions kept (shares of a batch's requests: 1/3, 1/7, ...)


def _round(value: float) -> float:
    return round(float(value), DIGITS)


def service_of(operation: str) -> str:
    """``"dynamodb.Query"`` -> ``"dynamodb"`` (a service name stays itself)."""
    return operation.split(".", 1)[0]


@dataclass(frozen=True)
class Usage:
    ms: float = 0.0
    mb_ms: float = 0.0
    invocations: float = 0.0
    requests: Mapping[str, float] = field(default_factory=dict)
    read_units: float = 0.0
    write_units: float = 0.0
    tasks: int = 0  # how many tasks' usage this sums (1 for a task's own)

    def __add__(self, other: Usage) -> Usage:
        requests = dict(self.requests)
        for name, n in other.requests.items():
            requests[name] = _round(requests.get(name, 0.0) + n)
        return Usage(
            ms=_round(self.ms + other.ms),
            mb_ms=_round(self.mb_ms + other.mb_ms),
            invocations=_round(self.invocations + other.invocations),
            requests=requests,
            read_units=_round(self.read_units + other.read_units),
            write_units=_round(self.write_units + other.write_units),
            tasks=self.tasks + other.tasks,
        )

    @property
    def gb_seconds(self) -> float:
        return self.mb_ms / 1024 / 1000

    @property
    def empty(self) -> bool:
        return not (
            self.ms or self.mb_ms or self.invocations or self.requests or self.read_units
        ) and not (self.write_units or self.tasks)

    def by_service(self) -> dict[str, float]:
        """Requests summed per service (``{"dynamodb": 12, "sqs": 0.3, ...}``)."""
        out: dict[str, float] = {}
        for name, n in self.requests.items():
            service = service_of(name)
            out[service] = _round(out.get(service, 0.0) + n)
        return dict(sorted(out.items()))

    def service_requests(self, service: str) -> float:
        return self.by_service().get(service, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "ms": _round(self.ms),
            "gb_seconds": _round(self.gb_seconds),
            "mb_ms": _round(self.mb_ms),
            "invocations": _round(self.invocations),
            "requests": dict(sorted(self.requests.items())),
            "requests_by_service": self.by_service(),
            "read_units": _round(self.read_units),
            "write_units": _round(self.write_units),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """The inverse of :meth:`to_dict` (``gb_seconds`` and the per-service sums derived)."""
        return cls(
            ms=float(data.get("ms", 0) or 0),
            mb_ms=float(data.get("mb_ms", 0) or 0),
            invocations=float(data.get("invocations", 0) or 0),
            requests={str(k): float(v) for k, v in dict(data.get("requests") or {}).items()},
            read_units=float(data.get("read_units", 0) or 0),
            write_units=float(data.get("write_units", 0) or 0),
            tasks=int(data.get("tasks", 0) or 0),
        )


def total(usages: list[Usage]) -> Usage:
    out = Usage()
    for usage in usages:
        out = out + usage
    return out
