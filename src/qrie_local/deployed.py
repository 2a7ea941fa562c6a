"""A deployed stack as the local AWS's APIs describe it -- what the runner needs to play Lambda
for its functions -- read the way an operator would read it in AWS, never from the template:

* CloudFormation: the stack's status and Outputs, and its resources (which functions, queues and
  tables are the stack's; ``DescribeStacks``, ``ListStackResources``);
* Lambda: each function's handler, timeout, memory and environment (``GetFunction``), its SQS
  event source mappings with their batch size, batching window, maximum concurrency, response
  types and state (``ListEventSourceMappings``), and, when asked, its deployment package
  (``Code.Location``, checked against ``CodeSha256`` and extracted once per package under
  ``code_root``);
* EventBridge: the schedules whose rules target a function (``ListRules``,
  ``ListTargetsByRule``).

:func:`read_stack` returns them as :class:`~qrie_local.provision.Provisioned`: the same plain data
the runner gets from a template.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qrie_local.functions import (
    DEFAULT_BATCH_SIZE,
    FunctionSpec,
    ScheduleSpec,
    SqsEventSpec,
)
from qrie_local.identity import local_client
from qrie_local.template import TemplateError

__all__ = ["DeployedStackError", "Provisioned", "QueueInfo", "read_stack"]

FUNCTION = "AWS::Lambda::Function"
QUEUE = "AWS::SQS::Queue"
TABLE = "AWS::DynamoDB::Table"
READY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")
DOWNLOAD_TIMEOUT_SECONDS = 60
MAX_PACKAGE_BYTES = 250 * 1024 * 1024  # Lambda's limit for a package, unzipped


@dataclass(frozen=True)
class QueueInfo:
    name: str
    url: str
    arn: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def visibility_timeout(self) -> int:
        return int(self.attributes.get("VisibilityTimeout", "30"))


@dataclass
class Provisioned:
    """A deployed stack as :func:`read_stack` read it: what the runner runs."""

    endpoint: str
    region: str
    outputs: dict[str, str]
    functions: dict[str, FunctionSpec]
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, QueueInfo] = field(default_factory=dict)  # logical id -> queue
    stack_name: str = ""  # the deployed CloudFormation stack, if read from one

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "outputs": dict(self.outputs),
            "functions": {k: f.to_dict() for k, f in self.functions.items()},
            "tables": dict(self.tables),
            "queues": {k: asdict(q) for k, q in self.queues.items()},
            "stack_name": self.stack_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provisioned:
        return cls(
            endpoint=str(data["endpoint"]),
            region=str(data["region"]),
            outputs={str(k): str(v) for k, v in dict(data.get("outputs", {})).items()},
            functions={
                str(k): FunctionSpec.from_dict(v) for k, v in dict(data["functions"]).items()
            },
            tables={str(k): str(v) for k, v in dict(data.get("tables", {})).items()},
            queues={str(k): QueueInfo(**v) for k, v in dict(data.get("queues", {})).items()},
            stack_name=str(data.get("stack_name", "")),
        )


class DeployedStackError(TemplateError):
    """The stack cannot be run: missing, not deployed, or a function's package is unusable."""


# Listings paged with Marker/NextMarker (the others use NextToken both ways).
_MARKER_PAGED = frozenset({"list_event_source_mappings"})


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a listing, following NextToken/NextMarker."""
    method = getattr(client, operation)
    marker = operation in _MARKER_PAGED
    token_in, token_out = ("Marker", "NextMarker") if marker else ("NextToken", "NextToken")
    while True:
        page = method(**kwargs)
        yield from page.get(key, [])
        token = page.get(token_out)
        if not token:
            return
        kwargs[token_in] = token


def _package(location: str, sha256: str, code_root: Path) -> Path:
    """The deployment package at ``location`` extracted under ``code_root`` (once per package:
    the folder is named after its SHA-256, which must be ``sha256``, Lambda's CodeSha256)."""
    digest = base64.b64decode(sha256).hex() if sha256 else ""
    target = code_root / (digest or hashlib.sha256(location.encode()).hexdigest())
    if (target / ".complete").is_file():
        return target
    code_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=code_root, prefix=".download-") as tmp:
        archive = Path(tmp) / "package.zip"
        try:
            with (
                urllib.request.urlopen(location, timeout=DOWNLOAD_TIMEOUT_SECONDS) as answer,  # noqa: S310 - the local AWS's URL
                archive.open("wb") as out,
            ):
                shutil.copyfileobj(answer, out)
        except OSError as exc:
            raise DeployedStackError(f"cannot download the package at {location}: {exc}") from exc
        got = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest and got != digest:
            raise DeployedStackError(
                f"the package at {location} is not the deployed one (SHA-256 {got}, "
                f"Lambda has {digest})"
            )
        extracted = Path(tmp) / "code"
        try:
            with zipfile.ZipFile(archive) as package:
                size = sum(info.file_size for info in package.infolist())
                if size > MAX_PACKAGE_BYTES:
                    raise DeployedStackError(f"the package at {location} unzips to {size} bytes")
                package.extractall(extracted)
        except zipfile.BadZipFile as exc:
            raise DeployedStackError(f"the package at {location} is not a zip: {exc}") from exc
        (extracted / ".complete").touch()
        if not target.exists():
            extracted.rename(target)
    return target


def _queue_url(sqs: Any, arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def _sqs_events(lam: Any, sqs: Any, function_name: str) -> tuple[SqsEventSpec, ...]:
    events: list[SqsEventSpec] = []
    for mapping in _pages(
        lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=function_name
    ):
        arn = str(mapping.get("EventSourceArn", ""))
        if arn.split(":")[2:3] != ["sqs"]:
            continue  # the runner plays SQS event sources only
        concurrency = (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        events.append(
            SqsEventSpec(
                name=str(mapping["UUID"]),
                queue_url=_queue_url(sqs, arn),
                queue_arn=arn,
                batch_size=int(mapping.get("BatchSize") or DEFAULT_BATCH_SIZE),
                max_concurrency=int(concurrency) if concurrency is not None else None,
                batching_window=int(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                function_response_types=tuple(
                    str(t) for t in mapping.get("FunctionResponseTypes") or []
                ),
                enabled=str(mapping.get("State", "Enabled")) not in {"Disabled", "Disabling"},
            )
        )
    return tuple(events)


def _schedules_by_target(events: Any) -> dict[str, list[ScheduleSpec]]:
    """Function ARN -> the scheduled rules that target it."""
    found: dict[str, list[ScheduleSpec]] = {}
    for rule in _pages(events, "list_rules", "Rules"):
        expression = rule.get("ScheduleExpression")
        if not expression:
            continue
        for target in _pages(events, "list_targets_by_rule", "Targets", Rule=rule["Name"]):
            arn = str(target.get("Arn", ""))
            if ":function:" not in arn:
                continue
            function_arn = ":".join(arn.split(":")[:7])  # without a version or alias
            found.setdefault(function_arn, []).append(
                ScheduleSpec(
                    name=str(rule["Name"]),
                    expression=str(expression),
                    rule_arn=str(rule["Arn"]),
                    enabled=rule.get("State") == "ENABLED",
                )
            )
    return found


def read_stack(
    endpoint: str, region: str, stack_name: str, code_root: Path | None = None
) -> Provisioned:
    """The deployed stack ``stack_name`` on the local AWS at ``endpoint``, as the runner runs it.
    With ``code_root`` its functions run the code of their deployment packages, extracted there;
    without, the code this interpreter has installed."""
    cfn = local_client("cloudformation", endpoint, region)
    try:
        [stack] = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        raise DeployedStackError(f"no stack {stack_name!r} at {endpoint}: {exc}") from exc
    if stack.get("StackStatus") not in READY:
        raise DeployedStackError(
            f"stack {stack_name!r} is {stack.get('StackStatus')}, not deployed "
            f"({stack.get('StackStatusReason') or 'see its events'})"
        )
    resources = list(
        _pages(cfn, "list_stack_resources", "StackResourceSummaries", StackName=stack_name)
    )
    lam = local_client("lambda", endpoint, region)
    sqs = local_client("sqs", endpoint, region)
    schedules = _schedules_by_target(local_client("events", endpoint, region))
    functions: dict[str, FunctionSpec] = {}
    queues: dict[str, QueueInfo] = {}
    tables: dict[str, str] = {}
    for resource in resources:
        logical_id = str(resource["LogicalResourceId"])
        physical = str(resource.get("PhysicalResourceId") or "")
        kind = resource["ResourceType"]
        if kind == FUNCTION:
            described = lam.get_function(FunctionName=physical)
            config = described["Configuration"]
            location = str((described.get("Code") or {}).get("Location") or "")
            sha256 = str(config.get("CodeSha256", ""))
            code_dir = "" if code_root is None else str(_package(location, sha256, code_root))
            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                handler=str(config["Handler"]),
                timeout=int(config["Timeout"]),
                memory=int(config["MemorySize"]),
                environment={
                    str(k): str(v)
                    for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()
                },
                sqs_events=_sqs_events(lam, sqs, physical),
                schedules=tuple(schedules.get(str(config["FunctionArn"]), [])),
                function_name=physical,
                code_dir=code_dir,
                role_arn=str(config.get("Role") or ""),
            )
        elif kind == QUEUE:
            attributes = sqs.get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])
            current = attributes["Attributes"]
            queues[logical_id] = QueueInfo(
                name=physical.rstrip("/").rsplit("/", 1)[-1],
                url=physical,
                arn=str(current["QueueArn"]),
                attributes={
                    str(k): str(v)
                    for k, v in current.items()
                    if not k.startswith("Approximate") and not k.endswith("Timestamp")
                },
            )
        elif kind == TABLE:
            tables[logical_id] = physical
    return Provisioned(
        endpoint=endpoint,
        region=region,
        outputs={str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])},
        functions=functions,
        tables=tables,
        queues=queues,
        stack_name=stack_name,
    )
