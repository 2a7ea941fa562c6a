"""template.yaml: what it declares, read as SAM and as the CloudFormation the SAM transform makes.

The translated template is produced offline by ``qrie_local.template.translate`` (the same
aws-sam-translator that runs behind ``Transform: AWS::Serverless-2016-10-31``).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from qrie.config import Settings
from qrie.handlers.needs import MEMBER_ROLES, Needs
from qrie.models import MAX_TASK_MESSAGE_BYTES
from qrie_local.template import TemplateError, load_template, loads_template, main, translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"

HANDLERS = {
    "JobHandlerFunction": "qrie.handlers.job_handler.lambda_handler",
    "InventoryWorkerFunction": "qrie.handlers.inventory_worker.lambda_handler",
    "ScanWorkerFunction": "qrie.handlers.scan_worker.lambda_handler",
    "PollingServiceFunction": "qrie.handlers.polling_service.lambda_handler",
}
WORKER_QUEUES = {"InventoryWorkerFunction": "InventoryQueue", "ScanWorkerFunction": "ScanQueue"}
MEMBER_ROLE_ARN = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
NO_VALUE = object()


# --- helpers: apply the template's conditions for given parameter values ----------------------


def _parameters(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    params = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    return params | values


def _condition(template: dict[str, Any], expr: Any, params: dict[str, Any]) -> Any:
    if isinstance(expr, dict) and len(expr) == 1:
        ((key, arg),) = expr.items()
        if key == "Ref":
            return params[arg]
        if key == "Condition":
            return _condition(template, template["Conditions"][arg], params)
        if key == "Fn::Equals":
            left, right = (_condition(template, a, params) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _condition(template, arg[0], params)
        if key == "Fn::And":
            return all(_condition(template, a, params) for a in arg)
        if key == "Fn::Or":
            return any(_condition(template, a, params) for a in arg)
    return expr


def _apply(template: dict[str, Any], node: Any, params: dict[str, Any]) -> Any:
    """Resolve Fn::If and drop AWS::NoValue; everything else stays as written."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            taken = _condition(template, {"Condition": name}, params)
            return _apply(template, when_true if taken else when_false, params)
        applied = {k: _apply(template, v, params) for k, v in node.items()}
        return {k: v for k, v in applied.items() if v is not NO_VALUE}
    if isinstance(node, list):
        items = [_apply(template, v, params) for v in node]
        return [v for v in items if v is not NO_VALUE]
    return node


def _deployed(template: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameter values."""
    params = _parameters(template, values)
    resources: dict[str, Any] = {}
    for logical_id, resource in template["Resources"].items():
        condition = resource.get("Condition")
        if condition and not _condition(template, {"Condition": condition}, params):
            continue
        resources[logical_id] = _apply(template, resource, params)
    return resources


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in _statements(policy["PolicyDocument"])
    ]


def _environment(sam: dict[str, Any], function_id: str) -> dict[str, Any]:
    """A function's environment variables as SAM merges them: Globals, then its own."""
    variables = dict(sam["Globals"]["Function"]["Environment"]["Variables"])
    own = sam["Resources"][function_id]["Properties"].get("Environment") or {}
    variables.update(own.get("Variables") or {})
    return variables


def _needs(function_id: str) -> Needs:
    """The NEEDS its handler module declares."""
    module = importlib.import_module(HANDLERS[function_id].rsplit(".", 1)[0])
    needs = module.NEEDS
    assert isinstance(needs, Needs)
    return needs


def _granted_statements(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """The Allow statements of a role: inline, and of the template's managed policies it uses."""
    role = resources[role_id]
    statements = _role_statements(role)
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            document = resources[arn["Ref"]]["Properties"]["PolicyDocument"]
            statements += _statements(document)
    return [s for s in statements if s["Effect"] == "Allow"]


def _target(resource: Any) -> str:
    """The template resource a statement's Resource names: a GetAtt, a ``${X.Arn}/...`` Sub, or
    the member roles (``role/${MemberRoleName}``)."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
    if text == MEMBER_ROLE_ARN["Fn::Sub"]:
        return MEMBER_ROLES
    found = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)?", str(text))
    assert found, f"unexpected statement resource {resource!r}"
    return found.group(1)


def _layer_id(resources: dict[str, Any], name: str) -> str:
    """The translated logical id of ``<name>Layer`` (SAM appends a content hash to it)."""
    [found] = [k for k in resources if k.startswith(f"{name}Layer")]
    return found


def _ref_id(value: Any) -> str:
    """Logical id named by {"Ref": id} or {"Fn::GetAtt": [id, attribute]}."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return translate(sam)


@pytest.fixture(scope="module")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    """Resources as deployed with the default parameters (no KMS key)."""
    return _deployed(cfn)


@pytest.fixture(scope="module")
def traced(sam: dict[str, Any]) -> dict[str, Any]:
    """Resources as deployed with Tracing=Active (SAM reads the parameter when translating)."""
    return _deployed(translate(sam, {"Tracing": "Active"}), Tracing="Active")


@pytest.fixture(scope="module")
def kms_resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return _deployed(cfn, KmsKeyArn=KMS_KEY, Stage="prod")


# --- the SAM template as written --------------------------------------------------------------


def test_template_loads_with_long_form_intrinsics(sam: dict[str, Any]) -> None:
    # GIVEN template.yaml written with short intrinsic tags
    # WHEN it is loaded
    # THEN the tags are in long form and the sections come in the documented order
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert [
        k for k in sam if k in {"Parameters", "Conditions", "Globals", "Resources", "Outputs"}
    ] == [
        "Parameters",
        "Conditions",
        "Globals",
        "Resources",
        "Outputs",
    ]
    variables = sam["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": "QrieTable"}
    assert sam["Conditions"]["HasKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]
    }


def test_parameters_are_constrained(sam: dict[str, Any]) -> None:
    # GIVEN the template's parameters
    params = sam["Parameters"]
    # THEN the secret is never echoed and has no default, and the numbers have safe bounds
    assert params["ExternalId"]["NoEcho"] is True
    assert params["ExternalId"]["MinLength"] == 8
    assert "Default" not in params["ExternalId"]
    assert params["Stage"]["AllowedValues"] == ["dev", "prod"]
    assert params["MemberRoleName"]["Default"] == "QrieReadOnly"
    assert params["MaxConcurrency"]["MinValue"] == 2  # the SQS event source minimum
    assert params["MaxConcurrency"]["Default"] == 20
    # a batch's records are accounted in one transaction (at most 98 tasks)
    assert (params["WorkerBatchSize"]["Default"], params["WorkerBatchSize"]["MaxValue"]) == (
        10,
        100,
    )
    assert params["LogRetentionDays"]["Default"] in params["LogRetentionDays"]["AllowedValues"]
    assert params["KmsKeyArn"]["Default"] == ""
    assert params["Regions"]["Default"] == "us-east-1,us-west-2,eu-west-1"


def test_the_settings_come_from_the_template_not_from_defaults(sam: dict[str, Any]) -> None:
    # GIVEN every function's environment (Globals and its own), references replaced by samples
    params = _parameters(sam, {"ExternalId": "example-external-id"})
    env: dict[str, str] = {}
    for function_id in HANDLERS:
        for name, value in _apply(sam, _environment(sam, function_id), params).items():
            env[name] = (
                str(params.get(value["Ref"], f"resolved-{value['Ref']}"))
                if isinstance(value, dict)
                else str(value)
            )
    # WHEN the handlers' settings are read from their union
    settings = Settings.from_env(env)
    # THEN every setting some function reads comes from the template, none from a default
    assert settings.table_name == "resolved-QrieTable"
    assert settings.inventory_queue_url == "resolved-InventoryQueue"
    assert settings.scan_queue_url == "resolved-ScanQueue"
    assert settings.dlq_url == "resolved-DeadLetterQueue"
    assert settings.external_id == "example-external-id"
    assert settings.member_role_name == "QrieReadOnly"
    assert settings.regions == ("us-east-1", "us-west-2", "eu-west-1")
    assert settings.job_timeout_seconds == 3600
    assert settings.retry_base_seconds == 30
    assert env["POWERTOOLS_SERVICE_NAME"] == "qrie"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"


@pytest.mark.parametrize("function_id", HANDLERS)
def test_each_function_gets_exactly_the_environment_its_handler_needs(
    sam: dict[str, Any], function_id: str
) -> None:
    # GIVEN the environment the template gives the function, Powertools' own settings aside
    names = {n for n in _environment(sam, function_id) if not n.startswith("POWERTOOLS_")}
    # THEN it is what the handler declares it reads: no more (the ExternalId only where a
    # member role is assumed), no less
    assert names == set(_needs(function_id).environment)


@pytest.mark.parametrize("function_id", HANDLERS)
def test_each_function_gets_exactly_the_access_its_handler_needs(
    resources: dict[str, Any], function_id: str
) -> None:
    # GIVEN every action the function's role allows, by the template resource it applies to
    # (inline statements and the template's own managed policies; AWS's managed policies for
    # logs, X-Ray and SQS polling are checked apart)
    granted: dict[str, set[str]] = {}
    for statement in _granted_statements(resources, f"{function_id}Role"):
        targets = statement["Resource"]
        for target in targets if isinstance(targets, list) else [targets]:
            granted.setdefault(_target(target), set()).update(_actions(statement))
    # THEN it is exactly what the handler declares it calls
    expected = {target: set(actions) for target, actions in _needs(function_id).access.items()}
    assert granted == expected


def test_outputs_are_described(sam: dict[str, Any]) -> None:
    # GIVEN the template's outputs
    outputs = sam["Outputs"]
    # THEN the queues, table and functions are all exported, each with a description
    for name in (
        "InventoryQueueUrl",
        "ScanQueueUrl",
        "DeadLetterQueueUrl",
        "TableName",
        "JobHandlerFunctionName",
        "InventoryWorkerFunctionName",
        "ScanWorkerFunctionName",
        "PollingServiceFunctionName",
    ):
        assert name in outputs
    assert all(output.get("Description") for output in outputs.values())


# --- the translated template ------------------------------------------------------------------


def test_translation_leaves_no_serverless_resources(cfn: dict[str, Any]) -> None:
    # GIVEN the translated template
    # THEN only plain CloudFormation types remain
    kinds = {resource["Type"] for resource in cfn["Resources"].values()}
    assert not {k for k in kinds if k.startswith("AWS::Serverless::")}
    assert "Transform" not in cfn


@pytest.mark.parametrize(("logical_id", "handler"), HANDLERS.items())
def test_functions_run_the_documented_handlers(
    resources: dict[str, Any], logical_id: str, handler: str
) -> None:
    # GIVEN one of the four functions
    function = resources[logical_id]
    props = function["Properties"]
    # THEN it is a Python 3.13 arm64 function running its handler module, on the dependencies
    # layer, untraced by default
    assert function["Type"] == "AWS::Lambda::Function"
    assert props["Handler"] == handler
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert [_ref_id(layer) for layer in props["Layers"]] == [_layer_id(resources, "Dependencies")]
    assert "TracingConfig" not in props
    assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    module = handler.rsplit(".", 1)[0]
    assert importlib.util.find_spec(module) is not None, f"{module} does not exist"


@pytest.mark.parametrize("logical_id", HANDLERS)
def test_tracing_is_opt_in(traced: dict[str, Any], logical_id: str) -> None:
    # GIVEN the stack deployed with Tracing=Active
    props = traced[logical_id]["Properties"]
    # THEN every invocation is traced, the X-Ray SDK's layer is attached, Powertools' Tracer is
    # on, and the role may write traces
    assert props["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}
    assert [_ref_id(layer) for layer in props["Layers"]] == [
        _layer_id(traced, "Dependencies"),
        _layer_id(traced, "Tracing"),
    ]
    assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"
    role = traced[f"{logical_id}Role"]["Properties"]
    assert "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess" in role["ManagedPolicyArns"]


def test_untraced_stack_has_no_tracing_layer_nor_xray_permission(
    resources: dict[str, Any],
) -> None:
    # GIVEN the stack deployed with the default parameters (Tracing=Disabled)
    # THEN there is no tracing layer and no role may write traces
    assert set(_of_type(resources, "AWS::Lambda::LayerVersion")) == {
        _layer_id(resources, "Dependencies")
    }
    for role in _of_type(resources, "AWS::IAM::Role").values():
        assert not any("Xray" in str(arn) for arn in role["Properties"]["ManagedPolicyArns"])


def test_layers_match_the_functions_runtime_and_architecture(traced: dict[str, Any]) -> None:
    # GIVEN every layer of the stack
    layers = _of_type(traced, "AWS::Lambda::LayerVersion")
    # THEN they are built for the functions' runtime and architecture, named per stack, and
    # an update deletes the previous version
    assert len(layers) == 2
    for layer in layers.values():
        props = layer["Properties"]
        assert props["CompatibleRuntimes"] == ["python3.13"]
        assert props["CompatibleArchitectures"] == ["arm64"]
        assert props["LayerName"]["Fn::Sub"].startswith("${AWS::StackName}-")
        assert layer["DeletionPolicy"] == "Delete"


def test_there_are_exactly_four_functions(resources: dict[str, Any]) -> None:
    assert set(_of_type(resources, "AWS::Lambda::Function")) == set(HANDLERS)


def test_function_sizes(resources: dict[str, Any]) -> None:
    # THEN timeouts and memory match the work each function does
    sizes = {
        logical_id: (
            resources[logical_id]["Properties"]["Timeout"],
            resources[logical_id]["Properties"]["MemorySize"],
        )
        for logical_id in HANDLERS
    }
    assert sizes == {
        "JobHandlerFunction": (120, 1024),
        "InventoryWorkerFunction": (300, 1024),
        "ScanWorkerFunction": (300, 1024),
        "PollingServiceFunction": (110, 512),
    }


@pytest.mark.parametrize(("function_id", "queue_id"), WORKER_QUEUES.items())
def test_workers_read_their_queue_with_partial_batch_failures(
    resources: dict[str, Any], function_id: str, queue_id: str
) -> None:
    # GIVEN the event source mappings of the translated template
    mappings = [
        m["Properties"]
        for m in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    # THEN the worker has exactly one, on its queue, reporting failed items only
    assert len(mappings) == 1
    mapping = mappings[0]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == {"Ref": "WorkerBatchSize"}
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrency"}}


def test_polling_service_runs_every_two_minutes(resources: dict[str, Any]) -> None:
    # GIVEN the schedule rules
    rules = _of_type(resources, "AWS::Events::Rule")
    # THEN one enabled rule invokes the polling service every 2 minutes, and may invoke it
    assert len(rules) == 1
    ((rule_id, rule),) = rules.items()
    assert rule["Properties"]["ScheduleExpression"] == "rate(2 minutes)"
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["PollingServiceFunction", "Arn"]}
    permissions = [
        p["Properties"]
        for p in _of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    ]
    assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]
    # AND its timeout is below the interval, so runs do not overlap
    assert resources["PollingServiceFunction"]["Properties"]["Timeout"] < 120


@pytest.mark.parametrize(("function_id", "queue_id"), WORKER_QUEUES.items())
def test_queue_visibility_covers_six_worker_timeouts(
    resources: dict[str, Any], function_id: str, queue_id: str
) -> None:
    # GIVEN a worker and the queue it reads
    timeout = resources[function_id]["Properties"]["Timeout"]
    queue = resources[queue_id]["Properties"]
    # THEN a message stays invisible for at least 6 x the worker's timeout
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_queues_refuse_messages_the_workers_would_refuse(resources: dict[str, Any]) -> None:
    # GIVEN the queues' MaximumMessageSize THEN it is the workers' own task-message limit
    for queue_id in ("InventoryQueue", "ScanQueue", "DeadLetterQueue"):
        size = resources[queue_id]["Properties"]["MaximumMessageSize"]
        assert size == MAX_TASK_MESSAGE_BYTES, queue_id


@pytest.mark.parametrize("queue_id", WORKER_QUEUES.values())
def test_task_queues_dead_letter_after_three_receives(
    resources: dict[str, Any], queue_id: str
) -> None:
    # GIVEN a task queue
    queue = resources[queue_id]["Properties"]
    # THEN its messages go to the dead-letter queue after 3 receives and live 4 days
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    assert queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    assert resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("queue_id", ["InventoryQueue", "ScanQueue", "DeadLetterQueue"])
def test_queues_are_encrypted(
    resources: dict[str, Any], kms_resources: dict[str, Any], queue_id: str
) -> None:
    # GIVEN no KMS key: SQS-managed encryption
    default = resources[queue_id]["Properties"]
    assert default["SqsManagedSseEnabled"] is True
    assert "KmsMasterKeyId" not in default
    # GIVEN a KMS key: that key, and no SQS-managed encryption
    with_key = kms_resources[queue_id]["Properties"]
    assert with_key["KmsMasterKeyId"] == {"Ref": "KmsKeyArn"}
    assert "SqsManagedSseEnabled" not in with_key


def test_table_shape(resources: dict[str, Any]) -> None:
    # GIVEN the table
    (table_id,) = _of_type(resources, "AWS::DynamoDB::Table")
    table = resources[table_id]
    props = table["Properties"]
    # THEN it is the single-table design: PK/SK, one GSI, TTL, PITR, encryption, retained
    assert table_id == "QrieTable"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("PK", "S"),
        ("SK", "S"),
        ("GSI1PK", "S"),
        ("GSI1SK", "S"),
    }
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ExpiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_table_uses_the_kms_key_when_given(kms_resources: dict[str, Any]) -> None:
    # GIVEN a KMS key (and the prod stage)
    props = kms_resources["QrieTable"]["Properties"]
    # THEN the table is encrypted with that key and protected from deletion
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "KmsKeyArn"},
    }
    assert props["DeletionProtectionEnabled"] is True


def test_kms_key_policy_is_attached_only_when_a_key_is_given(
    resources: dict[str, Any], kms_resources: dict[str, Any]
) -> None:
    # GIVEN no key: no key policy; GIVEN a key: every function's role may use it, and only it
    assert "KmsKeyAccessPolicy" not in resources
    policy = kms_resources["KmsKeyAccessPolicy"]["Properties"]["PolicyDocument"]
    assert {r for s in _statements(policy) for r in [json.dumps(s["Resource"])]} == {
        json.dumps({"Ref": "KmsKeyArn"})
    }
    for function_id in HANDLERS:
        role = kms_resources[f"{function_id}Role"]["Properties"]
        assert {"Ref": "KmsKeyAccessPolicy"} in role["ManagedPolicyArns"]


@pytest.mark.parametrize("function_id", HANDLERS)
def test_every_function_logs_to_its_own_log_group_with_retention(
    resources: dict[str, Any], function_id: str
) -> None:
    # GIVEN a function
    logging = resources[function_id]["Properties"]["LoggingConfig"]
    # THEN it writes to an explicit log group whose retention is the template's parameter
    log_group = resources[_ref_id(logging["LogGroup"])]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert function_id in log_group["Properties"]["LogGroupName"]["Fn::Sub"]


def test_only_the_inventory_worker_may_assume_member_roles(resources: dict[str, Any]) -> None:
    # GIVEN every inline statement of every role
    assumers: dict[str, list[Any]] = {}
    for role_id, role in _of_type(resources, "AWS::IAM::Role").items():
        for statement in _role_statements(role):
            if any(a.lower() in {"sts:assumerole", "sts:*"} for a in _actions(statement)):
                assumers.setdefault(role_id, []).append(statement["Resource"])
                # only when passing the deployment's ExternalId
                assert statement["Condition"] == {
                    "StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}
                }
    # THEN only the inventory worker may assume roles, and only roles named MemberRoleName
    assert assumers == {"InventoryWorkerFunctionRole": [MEMBER_ROLE_ARN]}


def test_roles_attach_only_known_managed_policies(kms_resources: dict[str, Any]) -> None:
    # GIVEN the managed policies SAM attaches (logs, X-Ray, SQS polling) and our own (the
    # table's items, the KMS key)
    allowed = {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        json.dumps({"Ref": "TableItemsPolicy"}),
        json.dumps({"Ref": "KmsKeyAccessPolicy"}),
    }
    # THEN no role gets anything else (no *FullAccess)
    for role in _of_type(kms_resources, "AWS::IAM::Role").values():
        arns = role["Properties"].get("ManagedPolicyArns", [])
        assert {a if isinstance(a, str) else json.dumps(a) for a in arns} <= allowed


def test_no_wildcard_permissions(kms_resources: dict[str, Any]) -> None:
    # GIVEN every Allow statement in the template (roles, managed policies, queue policies)
    documents = [
        p["PolicyDocument"]
        for r in _of_type(kms_resources, "AWS::IAM::Role").values()
        for p in r["Properties"].get("Policies", [])
    ]
    documents += [
        r["Properties"]["PolicyDocument"]
        for kind in ("AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy")
        for r in _of_type(kms_resources, kind).values()
    ]
    allows = [s for d in documents for s in _statements(d) if s["Effect"] == "Allow"]
    # THEN none allows every action, nor a whole service on every resource
    assert allows
    for statement in allows:
        actions = _actions(statement)
        assert "*" not in actions
        if statement["Resource"] == "*" or statement["Resource"] == ["*"]:
            assert not [a for a in actions if a.endswith(":*")], statement


def test_job_handler_only_writes_the_table_and_sends_tasks(resources: dict[str, Any]) -> None:
    # GIVEN the job handler's role
    statements = _granted_statements(resources, "JobHandlerFunctionRole")
    actions = {a for s in statements for a in _actions(s)}
    # THEN it uses the table and sends to both task queues, and nothing else
    assert {a.split(":")[0] for a in actions} == {"dynamodb", "sqs"}
    assert {a for a in actions if a.startswith("sqs:")} == {"sqs:SendMessage"}
    (send,) = [s for s in statements if "sqs:SendMessage" in _actions(s)]
    assert send["Resource"] == [
        {"Fn::GetAtt": ["InventoryQueue", "Arn"]},
        {"Fn::GetAtt": ["ScanQueue", "Arn"]},
    ]


@pytest.mark.parametrize(("function_id", "queue_id"), WORKER_QUEUES.items())
def test_workers_may_back_off_only_their_own_queue(
    resources: dict[str, Any], function_id: str, queue_id: str
) -> None:
    statements = _role_statements(resources[f"{function_id}Role"])
    targets = [s["Resource"] for s in statements if "sqs:ChangeMessageVisibility" in _actions(s)]
    assert targets == [{"Fn::GetAtt": [queue_id, "Arn"]}]


def test_polling_service_drains_only_the_dead_letter_queue(resources: dict[str, Any]) -> None:
    statements = _role_statements(resources["PollingServiceFunctionRole"])
    sqs = [s for s in statements if any(a.startswith("sqs:") for a in _actions(s))]
    assert [s["Resource"] for s in sqs] == [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]
    assert set(_actions(sqs[0])) == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}


def test_polling_service_only_updates_jobs(resources: dict[str, Any]) -> None:
    # GIVEN the polling service's table permissions
    statements = _role_statements(resources["PollingServiceFunctionRole"])
    table = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    # THEN it can read and update items, never put new ones, scan or touch the indexes...
    (statement,) = table
    actions = set(_actions(statement))
    assert "dynamodb:PutItem" not in actions
    assert "dynamodb:Scan" not in actions
    assert statement["Resource"] == {"Fn::GetAtt": ["QrieTable", "Arn"]}
    # ... and only in the partitions of jobs, running markers and bad messages
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["JOB#*", "RUNNING", "BADMSG"]}
    }


def test_queues_refuse_requests_without_tls(resources: dict[str, Any]) -> None:
    (policy,) = _of_type(resources, "AWS::SQS::QueuePolicy").values()
    (statement,) = _statements(policy["Properties"]["PolicyDocument"])
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {_ref_id(q) for q in policy["Properties"]["Queues"]} == {
        "InventoryQueue",
        "ScanQueue",
        "DeadLetterQueue",
    }


# --- sample events ----------------------------------------------------------------------------


def _event_files() -> list[Path]:
    return sorted(EVENTS.glob("*/*.json"))


def test_every_function_has_sample_events(sam: dict[str, Any]) -> None:
    # GIVEN the events folder: one sub-folder per function logical id
    folders = {p.name for p in EVENTS.iterdir() if p.is_dir()}
    # THEN each names a function of the template, and each function has events
    assert folders == set(HANDLERS)
    for folder in folders:
        assert sam["Resources"][folder]["Type"] == "AWS::Serverless::Function"


@pytest.mark.parametrize("path", _event_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_events_have_the_lambda_shapes(sam: dict[str, Any], path: Path) -> None:
    # GIVEN a sample event
    event = json.loads(path.read_text(encoding="utf-8"))
    function_id = path.parent.name
    events = sam["Resources"][function_id]["Properties"].get("Events", {})
    kinds = {e["Type"] for e in events.values()}
    # THEN it has the shape the function's event source delivers
    if "SQS" in kinds:
        (queue_id,) = {_ref_id(e["Properties"]["Queue"]) for e in events.values()}
        assert event["Records"]
        for record in event["Records"]:
            assert set(record) == {
                "messageId",
                "receiptHandle",
                "body",
                "attributes",
                "messageAttributes",
                "md5OfBody",
                "eventSource",
                "eventSourceARN",
                "awsRegion",
            }
            assert record["eventSource"] == "aws:sqs"
            assert record["eventSourceARN"].endswith(f"-{queue_id}")
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
            assert set(record["attributes"]) >= {
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            }
    elif "Schedule" in kinds:
        assert event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events"
    else:
        assert "operation" in event


def test_worker_batches_carry_task_messages() -> None:
    # GIVEN the workers' sample batches
    for function_id, kind in (
        ("InventoryWorkerFunction", "inventory"),
        ("ScanWorkerFunction", "scan"),
    ):
        event = json.loads((EVENTS / function_id / "sqs-batch.json").read_text(encoding="utf-8"))
        bodies = [json.loads(r["body"]) for r in event["Records"]]
        # THEN each body is a version-1 task of the worker's kind
        assert len(bodies) == 2
        assert {b["v"] for b in bodies} == {1}
        assert {b["kind"] for b in bodies} == {kind}
        assert len({b["account_id"] for b in bodies}) == 2


# --- the loader and the command line ----------------------------------------------------------


def test_loader_reads_short_forms_and_keeps_dates_as_strings() -> None:
    # GIVEN YAML with short intrinsics and a date-like version string
    text = "V: 2012-10-17\nA: !GetAtt Q.Arn\nB: !Sub [x, {y: !Ref Z}]\nC: !If [c, 1, 2]\n"
    # WHEN it is loaded
    loaded = loads_template(text)
    # THEN they come out in CloudFormation's long form
    assert loaded == {
        "V": "2012-10-17",
        "A": {"Fn::GetAtt": ["Q", "Arn"]},
        "B": {"Fn::Sub": ["x", {"y": {"Ref": "Z"}}]},
        "C": {"Fn::If": ["c", 1, 2]},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate key"),
        ("a: !Bogus x\n", "unknown CloudFormation tag !Bogus"),
        ("- a\n", "must be a mapping"),
        ("a: [\n", "not a valid CloudFormation template"),
    ],
)
def test_loader_refuses_what_cloudformation_refuses(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        loads_template(text)


def test_translate_does_not_change_its_input(sam: dict[str, Any]) -> None:
    before = copy.deepcopy(sam)
    translate(sam, {"Stage": "prod"})
    assert sam == before


def test_translate_needs_no_aws_configuration(
    sam: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN no region, no credentials and a profile that does not exist
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "qrie-no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    # WHEN the template is translated for a GovCloud region
    cfn = translate(sam, region="us-gov-west-1")
    # THEN it works, and the managed policies are in that region's partition
    role = cfn["Resources"]["JobHandlerFunctionRole"]["Properties"]
    assert all(
        arn.startswith("arn:aws-us-gov:")
        for arn in role["ManagedPolicyArns"]
        if isinstance(arn, str)
    )


def test_translate_reports_sam_errors() -> None:
    # GIVEN a function without a handler's CodeUri
    broken = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": 3}}},
    }
    # THEN translation fails with the translator's reason
    with pytest.raises(TemplateError, match="SAM translation failed"):
        translate(broken)


def test_cli_writes_the_translated_template(tmp_path: Path) -> None:
    # GIVEN an output path in a folder that does not exist yet
    out = tmp_path / "lint" / "template.json"
    # WHEN the translate command runs
    code = main(["translate", str(TEMPLATE), "-o", str(out), "-p", "Stage=prod"])
    # THEN it writes plain CloudFormation JSON
    assert code == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert "AWS::Lambda::Function" in {r["Type"] for r in written["Resources"].values()}


def test_cli_fails_cleanly_on_a_missing_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["translate", str(tmp_path / "missing.yaml")])
    assert code == 1
    assert "cannot read template" in capsys.readouterr().err
