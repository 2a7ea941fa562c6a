"""The function model: what the runner needs to play Lambda for one function -- its handler,
limits, environment, SQS event source mappings and schedules -- whatever it was read from (the
template today, see :mod:`qrie_local.provision`). Plain data: no template, no AWS calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MEMORY",
    "DEFAULT_TIMEOUT",
    "FunctionSpec",
    "ScheduleSpec",
    "SqsEventSpec",
]

# Lambda's defaults: an SQS event source mapping's batch size, a function's timeout and memory.
DEFAULT_BATCH_SIZE = 10
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128


@dataclass(frozen=True)
class SqsEventSpec:
    """An SQS event source mapping (its template values resolved)."""

    name: str
    queue_url: str
    queue_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    max_concurrency: int | None = None
    batching_window: int = 0
    function_response_types: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class ScheduleSpec:
    """An EventBridge schedule (``Schedule``/``ScheduleV2`` event)."""

    name: str
    expression: str
    rule_arn: str
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    """One function: what the runner needs to play Lambda for it."""

    logical_id: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    sqs_events: tuple[SqsEventSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    role_arn: str = ""  # the execution role its environments run as ("" none)

    @property
    def name(self) -> str:
        """The local function name (the logical id)."""
        return self.logical_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunctionSpec:
        return cls(
            logical_id=str(data["logical_id"]),
            handler=str(data["handler"]),
            timeout=int(data["timeout"]),
            memory=int(data["memory"]),
            environment={str(k): str(v) for k, v in dict(data["environment"]).items()},
            sqs_events=tuple(
                SqsEventSpec(
                    **{**e, "function_response_types": tuple(e["function_response_types"])}
                )
                for e in data.get("sqs_events", [])
            ),
            schedules=tuple(ScheduleSpec(**s) for s in data.get("schedules", [])),
            role_arn=str(data.get("role_arn", "")),
        )
