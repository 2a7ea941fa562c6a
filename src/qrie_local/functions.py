"""The function model: what the runner needs to play Lambda for one function -- its handler,
limits, environment, SQS event source mappings and schedules, and where its code is -- whatever
it was read from: the template (:mod:`qrie_local.provision`) or a deployed stack's Lambda and
EventBridge configuration (:mod:`qrie_local.deployed`). Plain data: no template, no AWS
calls."""

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
    # A deployed function: its name in Lambda, and the folder its deployment package was
    # extracted to (the handler's package is imported from there). Empty: the logical id, and
    # the code this interpreter has installed.
    function_name: str = ""
    code_dir: str = ""
    role_arn: str = ""  # the execution role its environments run as ("" none)

    @property
    def name(self) -> str:
        """The function's name: in Lambda when deployed, else the logical id."""
        return self.function_name or self.logical_id

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
            function_name=str(data.get("function_name", "")),
            code_dir=str(data.get("code_dir", "")),
            role_arn=str(data.get("role_arn", "")),
        )
