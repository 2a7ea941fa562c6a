"""Provisioning the local stack: template.yaml deployed as a CloudFormation stack onto qrie's
local AWS server (moto behind qrie's middleware, with qrie's patches) run in a thread of this
process, and read back from its APIs."""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from qrie_local import server
from qrie_local.functions import FunctionSpec
from qrie_local.identity import local_client
from qrie_local.provision import PACKAGES_BUCKET, Provisioned, ProvisionError, package, provision
from qrie_local.template import load_template
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
def stack_name() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def deploy(
    endpoint: str, template: dict[str, Any], stack_name: str, parameters: dict[str, str]
) -> Provisioned:
    return provision(template, endpoint, REGION, parameters, stack_name=stack_name, base_dir=ROOT)


@pytest.fixture
def provisioned(endpoint: str, template: dict[str, Any], stack_name: str) -> Provisioned:
    return deploy(endpoint, template, stack_name, PARAMETERS)


def client(service: str, endpoint: str) -> Any:
    return local_client(service, endpoint, REGION)


def queue_attributes(endpoint: str, url: str) -> dict[str, str]:
    sqs = client("sqs", endpoint)
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


# ------------------------------------------------------------------------------------ table
def test_table_is_created_as_the_template_declares_it(
    endpoint: str, provisioned: Provisioned, stack_name: str
) -> None:
    # GIVEN the template deployed on the local AWS
    ddb = client("dynamodb", endpoint)
    # WHEN the table is described
    table = ddb.describe_table(TableName=provisioned.outputs["TableName"])["Table"]
    # THEN keys, index, billing, TTL, PITR and SSE are the template's
    assert table["TableName"].startswith(f"{stack_name}-QrieTable-")
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
    assert provisioned.stack_name == stack_name


# ------------------------------------------------------------------------------------ queues
def test_queues_have_the_declared_attributes_and_redrive_to_the_dlq(
    endpoint: str, provisioned: Provisioned, stack_name: str
) -> None:
    dlq = queue_attributes(endpoint, provisioned.outputs["DeadLetterQueueUrl"])
    assert f":{stack_name}-DeadLetterQueue-" in dlq["QueueArn"]
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
    assert job.code_dir == ""  # without a code root: this checkout's code

    for name, queue in (("InventoryWorkerFunction", "Inventory"), ("ScanWorkerFunction", "Scan")):
        spec = functions[name]
        assert spec.timeout == 300
        (event,) = spec.sqs_events
        assert event.queue_arn == provisioned.queues[f"{queue}Queue"].arn
        assert event.queue_url.endswith("/" + provisioned.queues[f"{queue}Queue"].name)
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


def test_outputs_are_resolved(provisioned: Provisioned, stack_name: str) -> None:
    outputs = provisioned.outputs
    functions = provisioned.functions
    assert outputs["TableName"] == provisioned.tables["QrieTable"]
    assert outputs["JobHandlerFunctionName"] == functions["JobHandlerFunction"].name
    assert outputs["JobHandlerFunctionArn"] == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{functions['JobHandlerFunction'].name}"
    )
    # the worker's role where its RolePath puts it (the member roles trust that path)
    role_arn = outputs["InventoryWorkerRoleArn"]
    assert role_arn.startswith(
        f"arn:aws:iam::123456789012:role/qrie/{stack_name}/inventory-worker/"
        f"{stack_name}-InventoryWorkerFunctionRole-"
    )
    assert provisioned.functions["InventoryWorkerFunction"].role_arn == role_arn
    assert provisioned.functions["ScanWorkerFunction"].role_arn.startswith(
        f"arn:aws:iam::123456789012:role/{stack_name}-ScanWorkerFunctionRole-"
    )


def test_provisioning_again_reuses_what_exists(
    endpoint: str, template: dict[str, Any], provisioned: Provisioned, stack_name: str
) -> None:
    # GIVEN a provisioned stack holding data
    ddb = client("dynamodb", endpoint)
    table = provisioned.outputs["TableName"]
    ddb.put_item(TableName=table, Item={"PK": {"S": "ACCOUNT"}, "SK": {"S": "111111111111"}})
    sqs = client("sqs", endpoint)
    sqs.send_message(QueueUrl=provisioned.outputs["InventoryQueueUrl"], MessageBody="{}")
    # WHEN it is provisioned again
    again = deploy(endpoint, template, stack_name, PARAMETERS)
    # THEN the same resources come back, data kept
    assert again.outputs == provisioned.outputs
    assert again.functions == provisioned.functions
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "ACCOUNT"}, "SK": {"S": "111111111111"}})
    assert "Item" in item
    attributes = queue_attributes(endpoint, provisioned.outputs["InventoryQueueUrl"])
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_conditions_switch_properties(
    endpoint: str, template: dict[str, Any], stack_name: str
) -> None:
    # GIVEN a customer managed key and the prod stage
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    parameters = {**PARAMETERS, "KmsKeyArn": key, "Stage": "prod", "MaxConcurrency": "7"}
    # WHEN provisioned
    result = deploy(endpoint, template, stack_name, parameters)
    # THEN the KMS branch of every Fn::If applies and AWS::NoValue removes the other
    attributes = queue_attributes(endpoint, result.outputs["InventoryQueueUrl"])
    assert attributes["KmsMasterKeyId"] == key
    assert attributes["KmsDataKeyReusePeriodSeconds"] == "300"
    ddb = client("dynamodb", endpoint)
    table = ddb.describe_table(TableName=result.outputs["TableName"])["Table"]
    assert table["DeletionProtectionEnabled"] is True
    assert result.functions["ScanWorkerFunction"].sqs_events[0].max_concurrency == 7
    ddb.update_table(TableName=table["TableName"], DeletionProtectionEnabled=False)


def test_intrinsics_are_resolved(endpoint: str, stack_name: str) -> None:
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
            "Sub": {"Value": {"Fn::Sub": "${AWS::StackName}/${Queue.QueueName}"}},
            "SubVars": {"Value": {"Fn::Sub": ["${X}-${AWS::Region}", {"X": {"Ref": "Stage"}}]}},
            "Join": {"Value": {"Fn::Join": ["+", {"Ref": "Names"}]}},
            "Select": {"Value": {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}},
            "If": {"Value": {"Fn::If": ["Either", "yes", "no"]}},
            "Arn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
            "Account": {"Value": {"Fn::Sub": "${AWS::AccountId}:${AWS::Partition}"}},
            "Hidden": {"Condition": "Both", "Value": "never"},
        },
    }
    result = deploy(endpoint, template, stack_name, {})
    queue = result.queues["Queue"].name
    assert result.outputs == {
        "Sub": f"{stack_name}/{queue}",
        "SubVars": "dev-us-east-1",
        "Join": "a+b+c",
        "Select": "y",
        "If": "yes",
        "Arn": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
        "Account": "123456789012:aws",
    }
    assert set(result.queues) == {"Queue"}  # the Condition kept "Skipped" out


def test_parameters_are_checked(endpoint: str, template: dict[str, Any]) -> None:
    with pytest.raises(ProvisionError, match=r"Parameters: \[ExternalId\] must have values"):
        deploy(endpoint, template, "checked", {})
    with pytest.raises(ProvisionError, match=r"Parameters: \[Nope\] do not exist"):
        deploy(endpoint, template, "checked", {**PARAMETERS, "Nope": "1"})
    with pytest.raises(ProvisionError, match="Parameter 'Stage' must be one of AllowedValues"):
        deploy(endpoint, template, "checked", {**PARAMETERS, "Stage": "qa"})


def test_provisioned_round_trips_through_json(provisioned: Provisioned) -> None:
    data = json.loads(json.dumps(provisioned.to_dict()))
    assert Provisioned.from_dict(data) == provisioned
    spec = provisioned.functions["InventoryWorkerFunction"]
    assert FunctionSpec.from_dict(spec.to_dict()) == spec


# ------------------------------------------------------------------------------------ code
def test_code_folders_are_uploaded_as_sam_deploy_would(endpoint: str, tmp_path: Path) -> None:
    # GIVEN a function whose CodeUri is a local folder with caches in it
    code = tmp_path / "code"
    (code / "app" / "__pycache__").mkdir(parents=True)
    (code / "app" / "handler.py").write_text("def main(event, context):\n    return event\n")
    (code / "app" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"cache")
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "code",
                    "Runtime": "python3.13",
                    "Handler": "app.handler.main",
                },
            }
        },
    }
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=PACKAGES_BUCKET)
    # WHEN it is packaged twice
    first = package(template, tmp_path, s3)
    again = package(template, tmp_path, s3)
    # THEN the folder is one zip in S3 (the same bytes each time), without the caches
    uri = first["Resources"]["Fn"]["Properties"]["CodeUri"]
    assert uri == again["Resources"]["Fn"]["Properties"]["CodeUri"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert key == f"{hashlib.sha256(body).hexdigest()}.zip"
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["app/handler.py"]
    assert template["Resources"]["Fn"]["Properties"]["CodeUri"] == "code"  # not modified


def test_with_a_code_root_the_functions_run_their_packages(
    endpoint: str, template: dict[str, Any], stack_name: str, tmp_path: Path
) -> None:
    result = provision(
        template,
        endpoint,
        REGION,
        PARAMETERS,
        stack_name=stack_name,
        base_dir=ROOT,
        code_root=tmp_path,
    )
    for spec in result.functions.values():
        module = spec.handler.rsplit(".", 1)[0].replace(".", "/")
        assert Path(spec.code_dir).parent == tmp_path
        assert (Path(spec.code_dir) / f"{module}.py").is_file()


def test_a_missing_code_folder_is_refused(endpoint: str, tmp_path: Path) -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "nope"}}
        }
    }
    with pytest.raises(ProvisionError, match="CodeUri 'nope': no folder"):
        provision(template, endpoint, REGION, {}, stack_name="missing", base_dir=tmp_path)


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
