"""Provision the local stack from ``template.yaml``: the one source of truth.

:func:`provision` creates the template's DynamoDB tables (``AWS::DynamoDB::Table``: key schema,
attribute definitions, GSIs/LSIs, billing mode, streams, SSE, deletion protection, TTL through
UpdateTimeToLive, PITR through UpdateContinuousBackups) and SQS queues (``AWS::SQS::Queue``:
every queue attribute, the RedrivePolicy with the dead-letter queue's real ARN, SSE) exactly as
declared, applies ``AWS::SQS::QueuePolicy`` documents, and reads each
``AWS::Serverless::Function``'s Handler, Timeout, MemorySize, Environment (Globals merged with
the function's own) and its SQS and Schedule events, all with intrinsics resolved against what
was created. Physical names are ``qrie-local-<LogicalId>`` unless the template names the resource;
a function's local name is its logical id. Provisioning is idempotent: what exists is reused
(and brought to the declared attributes).

Supported intrinsics: Ref (parameters, resources, pseudo parameters), Fn::GetAtt, Fn::Sub,
Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, Fn::Join, Fn::Select, Fn::Split,
Fn::FindInMap, Fn::GetAZs, Fn::Base64; ``AWS::NoValue`` removes the property.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

__all__ = [
    "ACCOUNT_ID",
    "NAME_PREFIX",
    "STACK_NAME",
    "FunctionSpec",
    "ProvisionError",
    "Provisioned",
    "QueueInfo",
    "ScheduleSpec",
    "SqsEventSpec",
    "local_client",
    "parameter_values",
    "provision",
]

ACCOUNT_ID = "123456789012"
STACK_NAME = "qrie-local"
NAME_PREFIX = f"{STACK_NAME}-"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
QUEUE_POLICY = "AWS::SQS::QueuePolicy"
FUNCTION = "AWS::Serverless::Function"
PROVISIONED_TYPES = (TABLE, QUEUE, QUEUE_POLICY)

# Lambda's defaults for an SQS event source mapping.
DEFAULT_BATCH_SIZE = 10
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128

# CloudFormation queue properties that are queue attributes of the same name.
QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
CREATE_ONLY_QUEUE_ATTRIBUTES = frozenset({"FifoQueue"})
GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
LSI_KEYS = ("IndexName", "KeySchema", "Projection")


class ProvisionError(Exception):
    """The template cannot be provisioned as declared (message says what and where)."""


class _NoValue:
    """``AWS::NoValue``: the property it is the value of is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class SqsEventSpec:
    """An SQS event source mapping, as the template declares it (resolved)."""

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
        )


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
    """What :func:`provision` created and read from the template."""

    endpoint: str
    region: str
    outputs: dict[str, str]
    functions: dict[str, FunctionSpec]
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, QueueInfo] = field(default_factory=dict)  # logical id -> queue

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "outputs": dict(self.outputs),
            "functions": {k: f.to_dict() for k, f in self.functions.items()},
            "tables": dict(self.tables),
            "queues": {k: asdict(q) for k, q in self.queues.items()},
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
        )


# ------------------------------------------------------------------------------------ helpers
def local_client(service: str, endpoint: str, region: str) -> Any:
    """A boto3 client for the local AWS (fake credentials, standard retries)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
        **FAKE_CREDENTIALS,
    )


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _as_string(value: Any) -> str:
    """A resolved scalar as CloudFormation turns it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Every declared parameter's value (an override, else its Default), as strings.
    Raises ProvisionError for a parameter with neither, or an override the template lacks."""
    declared = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ProvisionError(
            f"unknown template parameter(s): {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(declared))}"
        )
    values: dict[str, str] = {}
    for name, declared_spec in declared.items():
        spec = declared_spec or {}
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise ProvisionError(f"template parameter {name} has no Default: pass a value")
        value = ",".join(_as_string(v) for v in raw) if isinstance(raw, list) else _as_string(raw)
        allowed = spec.get("AllowedValues")
        if allowed and value not in {_as_string(a) for a in allowed}:
            raise ProvisionError(
                f"parameter {name}={value!r} is not one of {[_as_string(a) for a in allowed]}"
            )
        values[name] = value
    return values


# ---------------------------------------------------------------------------------- resolver
@dataclass
class _Physical:
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Resolver:
    """Evaluates intrinsic functions against parameters, conditions and created resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        region: str,
        prefix: str = NAME_PREFIX,
    ) -> None:
        self.template = template
        self.prefix = prefix
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.region = region
        self.partition = _partition(region)
        self.values: dict[str, Any] = dict(parameters)
        for name, spec in (template.get("Parameters") or {}).items():
            kind = str((spec or {}).get("Type", "String"))
            if name in self.values and (kind == "CommaDelimitedList" or kind.startswith("List<")):
                self.values[name] = [v.strip() for v in str(self.values[name]).split(",")]
        self.values.update(
            {
                "AWS::Region": region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": self.partition,
                "AWS::StackName": STACK_NAME,
                "AWS::StackId": (
                    f"arn:{self.partition}:cloudformation:{region}:{ACCOUNT_ID}:"
                    f"stack/{STACK_NAME}/00000000-0000-0000-0000-000000000000"
                ),
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
                "AWS::NoValue": NO_VALUE,
            }
        )
        self.physical: dict[str, _Physical] = {}
        self._conditions: dict[str, bool] = {}

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions") or {}
            if name not in declared:
                raise ProvisionError(f"unknown condition {name!r}")
            self._conditions[name] = self._truth(declared[name])
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1 and "Condition" in node:
            return self.condition(str(node["Condition"]))
        return _as_bool(self.resolve(node))

    def exists(self, logical_id: str) -> bool:
        """Whether a resource is created (its Condition, if any, holds)."""
        resource = self.resources.get(logical_id) or {}
        name = resource.get("Condition")
        return True if name is None else self.condition(str(name))

    # -- resources
    def _implicit(self, logical_id: str) -> _Physical | None:
        """Physical ids of resources the local stack does not create (functions, roles, log
        groups, policies ...): what CloudFormation would return, named the local way."""
        region, account, partition, prefix = self.region, ACCOUNT_ID, self.partition, self.prefix
        declared_resource = self.resources.get(logical_id)
        resource: dict[str, Any] = declared_resource if isinstance(declared_resource, dict) else {}
        kind = resource.get("Type")
        if kind is None:
            # Resources SAM generates: <Function>Role (the execution role) and similar.
            for function_id, declared in self.resources.items():
                if (
                    isinstance(declared, dict)
                    and declared.get("Type") == FUNCTION
                    and logical_id == f"{function_id}Role"
                ):
                    name = f"{prefix}{logical_id}"
                    return _Physical(name, {"Arn": f"arn:{partition}:iam::{account}:role/{name}"})
            return None
        if kind in {FUNCTION, "AWS::Lambda::Function"}:
            arn = f"arn:{partition}:lambda:{region}:{account}:function:{logical_id}"
            return _Physical(logical_id, {"Arn": arn})
        if kind == "AWS::Logs::LogGroup":
            props = self.resolve(resource.get("Properties") or {})
            name = props.get("LogGroupName") or f"{prefix}{logical_id}"
            arn = f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*"
            return _Physical(name, {"Arn": arn})
        if kind == "AWS::IAM::ManagedPolicy":
            arn = f"arn:{partition}:iam::{account}:policy/{prefix}{logical_id}"
            return _Physical(arn, {"PolicyArn": arn})
        if kind == "AWS::IAM::Role":
            name = f"{prefix}{logical_id}"
            return _Physical(name, {"Arn": f"arn:{partition}:iam::{account}:role/{name}"})
        service = str(kind).split("::")[1].lower() if "::" in str(kind) else "unknown"
        name = f"{prefix}{logical_id}"
        return _Physical(name, {"Arn": f"arn:{partition}:{service}:{region}:{account}:{name}"})

    def _resource(self, logical_id: str) -> _Physical:
        found = self.physical.get(logical_id)
        if found is not None:
            return found
        resource = self.resources.get(logical_id)
        if isinstance(resource, dict) and resource.get("Type") in PROVISIONED_TYPES:
            raise ProvisionError(f"{logical_id} is referenced before it was created")
        implicit = self._implicit(logical_id)
        if implicit is None:
            raise ProvisionError(f"reference to unknown resource or parameter {logical_id!r}")
        self.physical[logical_id] = implicit
        return implicit

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return self._resource(name).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        physical = self._resource(logical_id)
        if attribute not in physical.attributes:
            raise ProvisionError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")
        return physical.attributes[attribute]

    # -- intrinsics
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg)
        result = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                result[key] = resolved
        return result

    def _intrinsic(self, name: str, arg: Any) -> Any:
        if name == "Ref":
            return self.ref(str(arg))
        if name == "Fn::GetAtt":
            if isinstance(arg, str):
                logical_id, _, attribute = arg.partition(".")
            else:
                logical_id, attribute = (str(a) for a in self.resolve(arg))
            return self.get_att(logical_id, attribute)
        if name == "Fn::If":
            condition, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return _as_string(left) == _as_string(right)
        if name == "Fn::Not":
            return not self._truth(arg[0])
        if name == "Fn::And":
            return all(self._truth(a) for a in arg)
        if name == "Fn::Or":
            return any(self._truth(a) for a in arg)
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Join":
            delimiter, items = arg
            return str(delimiter).join(_as_string(i) for i in self.resolve(items))
        if name == "Fn::Select":
            index, items = arg
            chosen = self.resolve(items)
            return chosen[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = arg
            return _as_string(self.resolve(text)).split(str(delimiter))
        if name == "Fn::FindInMap":
            map_name, top, second = (_as_string(self.resolve(a)) for a in arg[:3])
            try:
                return (self.template.get("Mappings") or {})[map_name][top][second]
            except KeyError as exc:
                raise ProvisionError(
                    f"Fn::FindInMap {map_name}/{top}/{second}: no such key"
                ) from exc
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if name == "Fn::Base64":
            return base64.b64encode(_as_string(self.resolve(arg)).encode()).decode()
        raise ProvisionError(f"intrinsic {name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_string(variables[name])
            if "." in name and name not in self.values:
                logical_id, _, attribute = name.partition(".")
                return _as_string(self.get_att(logical_id, attribute))
            return _as_string(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)


def _references(node: Any) -> set[str]:
    """Logical ids and parameter names a node refers to (Ref, GetAtt, Sub variables)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    return {arg.split(".", 1)[0]}
                if isinstance(arg, list) and arg and isinstance(arg[0], str):
                    return {arg[0]}
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                if isinstance(text, str):
                    for name in _SUB_VARIABLE.findall(text):
                        if not name.startswith("!"):
                            found.add(name.split(".", 1)[0])
        for value in node.values():
            found |= _references(value)
    return found


def _creation_order(resources: Mapping[str, Any], wanted: list[str]) -> list[str]:
    """``wanted`` ordered so every resource comes after the ones its properties refer to."""
    deps = {
        logical_id: (_references(resources[logical_id].get("Properties") or {}) & set(wanted))
        - {logical_id}
        for logical_id in wanted
    }
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise ProvisionError(f"circular reference involving {logical_id}")
        visiting.add(logical_id)
        for dep in sorted(deps[logical_id]):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in wanted:
        visit(logical_id)
    return order


# --------------------------------------------------------------------------------- creators
def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _create_table(ddb: Any, logical_id: str, props: dict[str, Any], prefix: str) -> _Physical:
    name = str(props.get("TableName") or f"{prefix}{logical_id}")
    billing = str(props.get("BillingMode", "PROVISIONED"))
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {k: gsi[k] for k in GSI_KEYS if k in gsi} for gsi in props["GlobalSecondaryIndexes"]
        ]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [
            {k: lsi[k] for k in LSI_KEYS if k in lsi} for lsi in props["LocalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    sse = props.get("SSESpecification")
    if sse:
        spec: dict[str, Any] = {"Enabled": _as_bool(sse.get("SSEEnabled", False))}
        if sse.get("SSEType"):
            spec["SSEType"] = sse["SSEType"]
        if sse.get("KMSMasterKeyId"):
            spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
        request["SSESpecification"] = spec
    if "DeletionProtectionEnabled" in props:
        request["DeletionProtectionEnabled"] = _as_bool(props["DeletionProtectionEnabled"])
    if props.get("TableClass"):
        request["TableClass"] = props["TableClass"]
    if props.get("Tags"):
        request["Tags"] = props["Tags"]

    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        table = ddb.create_table(**request)["TableDescription"]
    else:
        if table.get("KeySchema") != props["KeySchema"]:
            raise ProvisionError(
                f"table {name} exists with another key schema than {logical_id} declares; "
                "stop the local stack (qrie local down) and start it again"
            )

    ttl = props.get("TimeToLiveSpecification")
    if ttl and _as_bool(ttl.get("Enabled", False)):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") != "ENABLED":
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr is not None:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": _as_bool(pitr.get("PointInTimeRecoveryEnabled"))
            },
        )
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return _Physical(name, attributes)


def _queue_attribute(name: str, value: Any) -> str:
    if name in {"RedrivePolicy", "RedriveAllowPolicy"} and isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return _as_string(value)


def _create_queue(
    sqs: Any, logical_id: str, props: dict[str, Any], prefix: str
) -> tuple[_Physical, QueueInfo]:
    fifo = _as_bool(props.get("FifoQueue", False))
    default_name = f"{prefix}{logical_id}" + (".fifo" if fifo else "")
    name = str(props.get("QueueName") or default_name)
    attributes = {
        key: _queue_attribute(key, props[key]) for key in QUEUE_ATTRIBUTES if key in props
    }
    tags = {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistentQueue" not in _error_code(exc):
            raise
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if tags:
            kwargs["tags"] = tags
        url = sqs.create_queue(**kwargs)["QueueUrl"]
    else:
        mutable = {k: v for k, v in attributes.items() if k not in CREATE_ONLY_QUEUE_ATTRIBUTES}
        if mutable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    arn = str(current["QueueArn"])
    declared = {  # without the counters and timestamps, which change
        str(k): str(v)
        for k, v in current.items()
        if not k.startswith("Approximate") and not k.endswith("Timestamp")
    }
    info = QueueInfo(name=name, url=str(url), arn=arn, attributes=declared)
    return _Physical(str(url), {"Arn": arn, "QueueName": name, "QueueUrl": str(url)}), info


def _apply_queue_policy(sqs: Any, props: dict[str, Any]) -> None:
    document = json.dumps(props["PolicyDocument"], separators=(",", ":"))
    for url in props.get("Queues") or []:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})


# -------------------------------------------------------------------------------- functions
def _merge(base: Any, override: Any) -> Any:
    """SAM Globals merge: maps merge recursively, anything else the function's value wins."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


def _function_spec(
    resolver: _Resolver, logical_id: str, queues_by_arn: Mapping[str, QueueInfo], endpoint: str
) -> FunctionSpec:
    resource = resolver.resources[logical_id]
    globals_ = (resolver.template.get("Globals") or {}).get("Function") or {}
    declared = _merge(globals_, resource.get("Properties") or {})
    handler = resolver.resolve(declared.get("Handler"))
    if not handler:
        raise ProvisionError(f"{logical_id} has no Handler")
    variables = resolver.resolve((declared.get("Environment") or {}).get("Variables") or {})
    environment = {str(k): _as_string(v) for k, v in variables.items()}
    sqs_events: list[SqsEventSpec] = []
    schedules: list[ScheduleSpec] = []
    for event_name, event in (declared.get("Events") or {}).items():
        kind = event.get("Type")
        props = resolver.resolve(event.get("Properties") or {})
        if kind == "SQS":
            arn = _as_string(props["Queue"])
            queue = queues_by_arn.get(arn)
            url = queue.url if queue else f"{endpoint}/{arn.split(':')[4]}/{arn.split(':')[5]}"
            scaling = props.get("ScalingConfig") or {}
            concurrency = scaling.get("MaximumConcurrency")
            sqs_events.append(
                SqsEventSpec(
                    name=str(event_name),
                    queue_url=url,
                    queue_arn=arn,
                    batch_size=int(props.get("BatchSize", DEFAULT_BATCH_SIZE)),
                    max_concurrency=int(concurrency) if concurrency is not None else None,
                    batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    function_response_types=tuple(
                        str(t) for t in props.get("FunctionResponseTypes") or []
                    ),
                    enabled=_as_bool(props.get("Enabled", True)),
                )
            )
        elif kind in {"Schedule", "ScheduleV2"}:
            expression = props.get("Schedule") or props.get("ScheduleExpression")
            state = str(props.get("State", "ENABLED")).upper()
            enabled = _as_bool(props.get("Enabled", True)) and state == "ENABLED"
            rule = f"{resolver.prefix}{logical_id}-{event_name}"
            schedules.append(
                ScheduleSpec(
                    name=str(event_name),
                    expression=str(expression),
                    rule_arn=(
                        f"arn:{resolver.partition}:events:{resolver.region}:{ACCOUNT_ID}:rule/{rule}"
                    ),
                    enabled=enabled,
                )
            )
    return FunctionSpec(
        logical_id=logical_id,
        handler=str(handler),
        timeout=int(resolver.resolve(declared.get("Timeout", DEFAULT_TIMEOUT))),
        memory=int(resolver.resolve(declared.get("MemorySize", DEFAULT_MEMORY))),
        environment=environment,
        sqs_events=tuple(sqs_events),
        schedules=tuple(schedules),
    )


# ------------------------------------------------------------------------------- entry point
def provision(
    template: Mapping[str, Any],
    endpoint: str,
    region: str = "us-east-1",
    parameters: Mapping[str, Any] | None = None,
    *,
    name_prefix: str = NAME_PREFIX,
) -> Provisioned:
    """Create the template's tables and queues on ``endpoint`` and read its functions.

    ``parameters`` override the template's defaults; ``name_prefix`` starts every physical
    name the template leaves to CloudFormation (tests use their own to keep apart)."""
    resolver = _Resolver(template, parameter_values(template, parameters), region, name_prefix)
    resources = resolver.resources
    wanted = [
        logical_id
        for logical_id, resource in resources.items()
        if isinstance(resource, dict)
        and resource.get("Type") in PROVISIONED_TYPES
        and resolver.exists(logical_id)
    ]
    ddb = sqs = None
    tables: dict[str, str] = {}
    queues: dict[str, QueueInfo] = {}
    for logical_id in _creation_order(resources, wanted):
        kind = resources[logical_id]["Type"]
        try:
            props = resolver.resolve(resources[logical_id].get("Properties") or {})
            if kind == TABLE:
                ddb = ddb or local_client("dynamodb", endpoint, region)
                physical = _create_table(ddb, logical_id, props, name_prefix)
                tables[logical_id] = str(physical.ref)
            elif kind == QUEUE:
                sqs = sqs or local_client("sqs", endpoint, region)
                physical, queues[logical_id] = _create_queue(sqs, logical_id, props, name_prefix)
            else:
                sqs = sqs or local_client("sqs", endpoint, region)
                _apply_queue_policy(sqs, props)
                physical = _Physical(f"{name_prefix}{logical_id}")
        except ClientError as exc:
            raise ProvisionError(f"{logical_id} ({kind}): {exc}") from exc
        resolver.physical[logical_id] = physical

    queues_by_arn = {q.arn: q for q in queues.values()}
    functions = {
        logical_id: _function_spec(resolver, logical_id, queues_by_arn, endpoint)
        for logical_id, resource in resources.items()
        if isinstance(resource, dict)
        and resource.get("Type") == FUNCTION
        and resolver.exists(logical_id)
    }
    outputs: dict[str, str] = {}
    for name, output in (template.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition is not None and not resolver.condition(str(condition)):
            continue
        outputs[str(name)] = _as_string(resolver.resolve(output.get("Value")))
    return Provisioned(
        endpoint=endpoint,
        region=region,
        outputs=outputs,
        functions=functions,
        tables=tables,
        queues=queues,
    )
