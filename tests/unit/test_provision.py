"""Provisioning the local stack from template.yaml, against qrie's local AWS server (moto behind
qrie's middleware) run in a thread of this process."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from qrie_local import server
from qrie_local.functions import FunctionSpec
from qrie_local.identity import local_client
from qrie_local.provision import Provisioned, provision
from qrie_local.template import TemplateError, load_template
from tests.support import local_server

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PARAMETERS = {"ExternalId": "qrie-local-external-id", "Regions": "us-east-1,eu-west-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """qrie's local AWS (moto + middleware) on a free port, in a thread."""
    with local_server() as url:
        yield url


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def provisioned(endpoint: str, template: dict[str, Any], prefix: str) -> Provisioned:
    return provision(template, endpoint, REGION, PARAMETERS, name_prefix=prefix)


def client(service: str, endpoint: str) -> Any:
    return local_client(service, endpoint, REGION)


def queue_attributes(endpoint: str, url: str) -> dict[str, str]:
    sqs = client("sqs", endpoint)
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


# ------------------------------------------------------------------------------------ table
def test_table_is_created_as_the_template_declares_it(
    endpoint: str, provisioned: Provisioned, prefix: str
) -> None:
    # GIVEN the template provisioned on the local AWS
    ddb = client("dynamodb", endpoint)
    # WHEN the table is described
    table = ddb.describe_table(TableName=provisioned.outputs["TableName"])["Table"]
    # THEN keys, index, billing, TTL, PITR and SSE are the template's
    assert table["TableName"] == f"{prefix}QrieTable"
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert sorted(
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    ) == [
        ("GSI1PK", "S"),
        ("GSI1SK", "S"),
        ("PK", "S"),
        ("SK", "S"),
    ]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table.get("DeletionProtectionEnabled") in (False, None)
    ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ExpiresAt"}
    backups = ddb.describe_continuous_backups(TableName=table["TableName"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    assert provisioned.tables == {"QrieTable": table["TableName"]}


# ------------------------------------------------------------------------------------ queues
def test_queues_have_the_declared_attributes_and_redrive_to_the_dlq(
    endpoint: str, provisioned: Provisioned, prefix: str
) -> None:
    dlq = queue_attributes(endpoint, provisioned.outputs["DeadLetterQueueUrl"])
    assert dlq["QueueArn"].endswith(f":{prefix}DeadLetterQueue")
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert dlq["SqsManagedSseEnabled"] == "true"
    assert "RedrivePolicy" not in dlq
    for output in ("InventoryQueueUrl", "ScanQueueUrl"):
        attributes = queue_attributes(endpoint, provisioned.outputs[output])
        assert attributes["VisibilityTimeout"] == "1800"
        assert attributes["MessageRetentionPeriod"] == "345600"
        assert attributes["SqsManagedSseEnabled"] == "true"
        assert "KmsMasterKeyId" not in attributes
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 3
        # the TLS-only queue policy is applied to every queue
        policy = json.loads(attributes["Policy"])
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(provisioned.queues) == {"InventoryQueue", "ScanQueue", "DeadLetterQueue"}
    assert provisioned.queues["InventoryQueue"].visibility_timeout == 1800


# ------------------------------------------------------------------------------------ functions
def test_function_environment_is_resolved_to_what_was_created(
    endpoint: str, provisioned: Provisioned
) -> None:
    assert set(provisioned.functions) == {
        "JobHandlerFunction",
        "InventoryWorkerFunction",
        "ScanWorkerFunction",
        "PollingServiceFunction",
    }
    sqs = client("sqs", endpoint)
    for spec in provisioned.functions.values():
        env = spec.environment
        # Globals merged with the function's own variables
        assert env["TABLE_NAME"] == provisioned.outputs["TableName"]
        assert env["POWERTOOLS_SERVICE_NAME"] == "qrie"
        for name in {"INVENTORY_QUEUE_URL", "SCAN_QUEUE_URL", "DLQ_URL"} & set(env):
            # real URLs: the queue answers at each
            assert env[name].startswith(endpoint)
            sqs.get_queue_attributes(QueueUrl=env[name], AttributeNames=["QueueArn"])
        assert all(isinstance(v, str) for v in env.values())
    worker = provisioned.functions["InventoryWorkerFunction"].environment
    assert worker["EXTERNAL_ID"] == "qrie-local-external-id"
    assert worker["REGIONS"] == "us-east-1,eu-west-1"
    assert worker["MEMBER_ROLE_NAME"] == "QrieReadOnly"
    assert provisioned.functions["JobHandlerFunction"].environment["JOB_TIMEOUT_SECONDS"] == "3600"
    assert "DLQ_URL" in provisioned.functions["PollingServiceFunction"].environment


def test_function_specs_follow_globals_properties_and_events(provisioned: Provisioned) -> None:
    functions = provisioned.functions
    job = functions["JobHandlerFunction"]
    assert job.handler == "qrie.handlers.job_handler.lambda_handler"
    assert (job.timeout, job.memory) == (120, 1024)
    assert job.sqs_events == ()
    assert job.schedules == ()

    for name, queue in (("InventoryWorkerFunction", "Inventory"), ("ScanWorkerFunction", "Scan")):
        spec = functions[name]
        assert spec.timeout == 300
        (event,) = spec.sqs_events
        assert event.queue_url == provisioned.outputs[f"{queue}QueueUrl"]
        assert event.queue_arn == provisioned.queues[f"{queue}Queue"].arn
        assert event.batch_size == 10
        assert event.max_concurrency == 20  # the MaxConcurrency parameter's default
        assert event.batching_window == 1
        assert event.reports_batch_item_failures

    polling = functions["PollingServiceFunction"]
    assert (polling.timeout, polling.memory) == (110, 512)  # memory from Globals
    (schedule,) = polling.schedules
    assert schedule.expression == "rate(2 minutes)"
    assert schedule.enabled
    assert schedule.rule_arn.startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_outputs_are_resolved(provisioned: Provisioned, prefix: str) -> None:
    outputs = provisioned.outputs
    assert outputs["TableName"] == f"{prefix}QrieTable"
    assert outputs["JobHandlerFunctionName"] == "JobHandlerFunction"
    assert outputs["JobHandlerFunctionArn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:JobHandlerFunction"
    )
    # the worker's role where its RolePath puts it (the member roles trust that path)
    role_arn = (
        "arn:aws:iam::123456789012:role/qrie/qrie-local/inventory-worker/"
        f"{prefix}InventoryWorkerFunctionRole"
    )
    assert outputs["InventoryWorkerRoleArn"] == role_arn
    assert provisioned.functions["InventoryWorkerFunction"].role_arn == role_arn
    assert provisioned.functions["ScanWorkerFunction"].role_arn == (
        f"arn:aws:iam::123456789012:role/{prefix}ScanWorkerFunctionRole"
    )


def test_provisioning_again_reuses_what_exists(
    endpoint: str, template: dict[str, Any], provisioned: Provisioned, prefix: str
) -> None:
    # GIVEN a provisioned stack holding data
    ddb = client("dynamodb", endpoint)
    table = provisioned.outputs["TableName"]
    ddb.put_item(TableName=table, Item={"PK": {"S": "ACCOUNT"}, "SK": {"S": "111111111111"}})
    sqs = client("sqs", endpoint)
    sqs.send_message(QueueUrl=provisioned.outputs["InventoryQueueUrl"], MessageBody="{}")
    # WHEN it is provisioned again
    again = provision(template, endpoint, REGION, PARAMETERS, name_prefix=prefix)
    # THEN the same resources come back, data kept
    assert again.outputs == provisioned.outputs
    assert again.functions == provisioned.functions
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "ACCOUNT"}, "SK": {"S": "111111111111"}})
    assert "Item" in item
    attributes = queue_attributes(endpoint, provisioned.outputs["InventoryQueueUrl"])
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_conditions_switch_properties(endpoint: str, template: dict[str, Any], prefix: str) -> None:
    # GIVEN a customer managed key and the prod stage
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    parameters = {**PARAMETERS, "KmsKeyArn": key, "Stage": "prod", "MaxConcurrency": "7"}
    # WHEN provisioned
    result = provision(template, endpoint, REGION, parameters, name_prefix=prefix)
    # THEN the KMS branch of every Fn::If applies and AWS::NoValue removes the other
    attributes = queue_attributes(endpoint, result.outputs["InventoryQueueUrl"])
    assert attributes["KmsMasterKeyId"] == key
    assert attributes["KmsDataKeyReusePeriodSeconds"] == "300"
    ddb = client("dynamodb", endpoint)
    table = ddb.describe_table(TableName=result.outputs["TableName"])["Table"]
    assert table["DeletionProtectionEnabled"] is True
    assert result.functions["ScanWorkerFunction"].sqs_events[0].max_concurrency == 7
    ddb.update_table(TableName=table["TableName"], DeletionProtectionEnabled=False)


def test_intrinsics_are_resolved(endpoint: str, prefix: str) -> None:
    template = {
        "Parameters": {
            "Names": {"Type": "CommaDelimitedList", "Default": "a,b,c"},
            "Stage": {"Type": "String", "Default": "dev"},
        },
        "Conditions": {
            "IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]},
            "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Not": [{"Condition": "IsDev"}]}]},
            "Either": {"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "Both"}]},
        },
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 40}},
            "Skipped": {
                "Type": "AWS::SQS::Queue",
                "Condition": "Both",
                "Properties": {},
            },
        },
        "Outputs": {
            "Sub": {"Value": {"Fn::Sub": "${AWS::StackName}/${Queue.QueueName}/${!Literal}"}},
            "SubVars": {"Value": {"Fn::Sub": ["${X}-${AWS::Region}", {"X": {"Ref": "Stage"}}]}},
            "Join": {"Value": {"Fn::Join": ["+", {"Ref": "Names"}]}},
            "Select": {"Value": {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}},
            "If": {"Value": {"Fn::If": ["Either", "yes", "no"]}},
            "Arn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
            "Account": {"Value": {"Fn::Sub": "${AWS::AccountId}:${AWS::Partition}"}},
            "Hidden": {"Condition": "Both", "Value": "never"},
        },
    }
    result = provision(template, endpoint, REGION, {}, name_prefix=prefix)
    assert result.outputs == {
        "Sub": f"qrie-local/{prefix}Queue/${{Literal}}",
        "SubVars": "dev-us-east-1",
        "Join": "a+b+c",
        "Select": "y",
        "If": "yes",
        "Arn": f"arn:aws:sqs:us-east-1:123456789012:{prefix}Queue",
        "Account": "123456789012:aws",
    }
    assert set(result.queues) == {"Queue"}  # the Condition kept "Skipped" out


def test_parameters_are_checked(endpoint: str, template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="ExternalId has no Default"):
        provision(template, endpoint, REGION, {})
    with pytest.raises(TemplateError, match="unknown template parameter"):
        provision(template, endpoint, REGION, {**PARAMETERS, "Nope": "1"})
    with pytest.raises(TemplateError, match="Stage"):
        provision(template, endpoint, REGION, {**PARAMETERS, "Stage": "qa"})


def test_provisioned_round_trips_through_json(provisioned: Provisioned) -> None:
    data = json.loads(json.dumps(provisioned.to_dict()))
    assert Provisioned.from_dict(data) == provisioned
    spec = provisioned.functions["InventoryWorkerFunction"]
    assert FunctionSpec.from_dict(spec.to_dict()) == spec


# ------------------------------------------------------------------------------------ server
def stats(endpoint: str) -> dict[str, Any]:
    url = f"{endpoint}{server.STATS_PATH}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local http URL
        data: dict[str, Any] = json.loads(response.read())
    return data


def test_server_counts_requests_by_operation(endpoint: str, provisioned: Provisioned) -> None:
    before = stats(endpoint)
    sqs = client("sqs", endpoint)
    sqs.get_queue_attributes(QueueUrl=provisioned.outputs["ScanQueueUrl"], AttributeNames=["All"])
    boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).get_caller_identity()
    after = stats(endpoint)
    assert after["requests"] == before["requests"] + 2
    for key in ("sqs.GetQueueAttributes", "sts.GetCallerIdentity"):
        assert after["by_operation"][key] == before["by_operation"].get(key, 0) + 1


def test_middleware_hooks_can_answer_and_delay() -> None:
    # GIVEN a middleware in front of an app, with a delay and a throttling hook
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"moto"]

    def throttle(info: server.RequestInfo) -> server.Reply | None:
        if info.operation == "ReceiveMessage":
            return server.Reply(400, b'{"__type":"ThrottlingException"}')
        return None

    middleware = server.QrieMiddleware(app, [server.latency_hook(30), throttle])
    statuses: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
        statuses.append(status)

    def environ(target: str) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "HTTP_X_AMZ_TARGET": target,
            "HTTP_AUTHORIZATION": (
                "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sqs/aws4_request, x"
            ),
        }

    # WHEN two requests pass
    started = time.monotonic()
    first = middleware(environ("AmazonSQS.SendMessage"), start_response)
    second = middleware(environ("AmazonSQS.ReceiveMessage"), start_response)
    # THEN both were delayed, the hook answered the second, moto the first
    assert time.monotonic() - started >= 0.06
    assert list(first) == [b"moto"]
    assert list(second) == [b'{"__type":"ThrottlingException"}']
    assert statuses == ["200 OK", "400 Bad Request"]
    assert calls == ["/"]
    counts = middleware.stats()
    assert counts["requests"] == 2
    assert counts["by_operation"] == {"sqs.SendMessage": 1, "sqs.ReceiveMessage": 1}
    assert set(counts["seconds_by_operation"]) == {"sqs.SendMessage"}  # moto answered one
