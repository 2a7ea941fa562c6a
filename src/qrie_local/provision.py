"""Provision the local stack from ``template.yaml``: the one source of truth.

:func:`provision` creates the template's DynamoDB tables (``AWS::DynamoDB::Table``: key schema,
attribute definitions, GSIs/LSIs, billing mode, streams, SSE, deletion protection, TTL through
UpdateTimeToLive, PITR through UpdateContinuousBackups) and SQS queues (``AWS::SQS::Queue``:
every queue attribute, the RedrivePolicy with the dead-letter queue's real ARN, SSE) exactly as
declared, applies ``AWS::SQS::QueuePolicy`` documents, and reads each
``AWS::Serverless::Function``'s Handler, Timeout, MemorySize, Environment (Globals merged with
the function's own) and its SQS and Schedule events into a :class:`~qrie_local.functions.
FunctionSpec`, all with intrinsics resolved (:mod:`qrie_local.cfn`) against what was created.
Physical names are ``qrie-local-<LogicalId>`` unless the template names the resource; a
function's local name is its logical id. Provisioning is idempotent: what exists is reused (and
brought to the declared attributes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from qrie_local.cfn import (
    FUNCTION,
    Physical,
    Resolver,
    as_bool,
    as_string,
    creation_order,
    parameter_values,
)
from qrie_local.functions import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    FunctionSpec,
    ScheduleSpec,
    SqsEventSpec,
)
from qrie_local.identity import ACCOUNT_ID, NAME_PREFIX, local_client
from qrie_local.template import TemplateError

__all__ = ["ProvisionError", "Provisioned", "QueueInfo", "provision"]

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
QUEUE_POLICY = "AWS::SQS::QueuePolicy"
PROVISIONED_TYPES = (TABLE, QUEUE, QUEUE_POLICY)

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


class ProvisionError(TemplateError):
    """The template cannot be provisioned as declared: creating a resource failed, or what
    exists conflicts with the declaration (message says what and where)."""


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


# --------------------------------------------------------------------------------- creators
def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _create_table(ddb: Any, logical_id: str, props: dict[str, Any], prefix: str) -> Physical:
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
        spec: dict[str, Any] = {"Enabled": as_bool(sse.get("SSEEnabled", False))}
        if sse.get("SSEType"):
            spec["SSEType"] = sse["SSEType"]
        if sse.get("KMSMasterKeyId"):
            spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
        request["SSESpecification"] = spec
    if "DeletionProtectionEnabled" in props:
        request["DeletionProtectionEnabled"] = as_bool(props["DeletionProtectionEnabled"])
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
    if ttl and as_bool(ttl.get("Enabled", False)):
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
                "PointInTimeRecoveryEnabled": as_bool(pitr.get("PointInTimeRecoveryEnabled"))
            },
        )
    attributes = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Physical(name, attributes)


def _queue_attribute(name: str, value: Any) -> str:
    if name in {"RedrivePolicy", "RedriveAllowPolicy"} and isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return as_string(value)


def _create_queue(
    sqs: Any, logical_id: str, props: dict[str, Any], prefix: str
) -> tuple[Physical, QueueInfo]:
    fifo = as_bool(props.get("FifoQueue", False))
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
    return Physical(str(url), {"Arn": arn, "QueueName": name, "QueueUrl": str(url)}), info


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
    resolver: Resolver, logical_id: str, queues_by_arn: Mapping[str, QueueInfo], endpoint: str
) -> FunctionSpec:
    resource = resolver.resources[logical_id]
    globals_ = (resolver.template.get("Globals") or {}).get("Function") or {}
    declared = _merge(globals_, resource.get("Properties") or {})
    handler = resolver.resolve(declared.get("Handler"))
    if not handler:
        raise ProvisionError(f"{logical_id} has no Handler")
    variables = resolver.resolve((declared.get("Environment") or {}).get("Variables") or {})
    environment = {str(k): as_string(v) for k, v in variables.items()}
    sqs_events: list[SqsEventSpec] = []
    schedules: list[ScheduleSpec] = []
    for event_name, event in (declared.get("Events") or {}).items():
        kind = event.get("Type")
        props = resolver.resolve(event.get("Properties") or {})
        if kind == "SQS":
            arn = as_string(props["Queue"])
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
                    enabled=as_bool(props.get("Enabled", True)),
                )
            )
        elif kind in {"Schedule", "ScheduleV2"}:
            expression = props.get("Schedule") or props.get("ScheduleExpression")
            state = str(props.get("State", "ENABLED")).upper()
            enabled = as_bool(props.get("Enabled", True)) and state == "ENABLED"
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
    role = declared.get("Role")
    role_arn = resolver.resolve(role) if role else resolver.get_att(f"{logical_id}Role", "Arn")
    return FunctionSpec(
        logical_id=logical_id,
        role_arn=as_string(role_arn),
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
    resolver = Resolver(
        template,
        parameter_values(template, parameters),
        region,
        name_prefix,
        created=PROVISIONED_TYPES,
    )
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
    for logical_id in creation_order(resources, wanted):
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
                physical = Physical(f"{name_prefix}{logical_id}")
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
        outputs[str(name)] = as_string(resolver.resolve(output.get("Value")))
    return Provisioned(
        endpoint=endpoint,
        region=region,
        outputs=outputs,
        functions=functions,
        tables=tables,
        queues=queues,
    )
