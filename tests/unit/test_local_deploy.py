"""The local AWS deploys a SAM-built stack as AWS does (moto_patches, ``sam deploy`` section).

Each test names the AWS behaviour a patch restores; each fails on plain moto.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from qrie_local.moto_patches import _s3_location
from tests.support import REGION

BUCKET = "deploy-artifacts"
CODE_KEY = "code.zip"
LAYER_KEY = "layer.zip"
LAMBDA_PRINCIPAL = {"Service": "lambda.amazonaws.com"}
ROLE_TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": LAMBDA_PRINCIPAL, "Action": "sts:AssumeRole"}]
}


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


CODE = _zip({"app/handler.py": "def main(event, context):\n    return event\n"})


@pytest.fixture
def artifacts(mocked_aws: None) -> Any:
    """A bucket holding a function package and a layer package, as ``sam deploy`` uploads."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=CODE)
    s3.put_object(Bucket=BUCKET, Key=LAYER_KEY, Body=_zip({"python/lib.py": "X = 1\n"}))
    return s3


def sam_template(**function: Any) -> dict[str, Any]:
    """A SAM template: a queue feeding a function with a layer, a schedule and a table."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "deploy test",
        "Parameters": {"Concurrency": {"Type": "Number", "Default": 5}},
        "Resources": {
            "Work": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
            "Deps": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {
                    "LayerName": {"Fn::Sub": "${AWS::StackName}-deps"},
                    "ContentUri": f"s3://{BUCKET}/{LAYER_KEY}",
                    "CompatibleRuntimes": ["python3.13"],
                    "CompatibleArchitectures": ["arm64"],
                },
            },
            "Worker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": f"s3://{BUCKET}/{CODE_KEY}",
                    "Handler": "app.handler.main",
                    "Runtime": "python3.13",
                    "Architectures": ["arm64"],
                    "Tracing": "Active",
                    "Timeout": 42,
                    "Layers": [{"Ref": "Deps"}],
                    "Environment": {
                        "Variables": {"QUEUE_URL": {"Ref": "Work"}, "SLOTS": {"Ref": "Concurrency"}}
                    },
                    "Events": {
                        "Tasks": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {"Fn::GetAtt": ["Work", "Arn"]},
                                "BatchSize": 7,
                                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                                "ScalingConfig": {"MaximumConcurrency": {"Ref": "Concurrency"}},
                            },
                        },
                        "Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(2 minutes)"}},
                    },
                    **function,
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
                    "TimeToLiveSpecification": {"AttributeName": "ExpiresAt", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                },
            },
            "TlsOnly": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Work"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "sqs:*",
                                "Resource": {"Fn::GetAtt": ["Work", "Arn"]},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    },
                },
            },
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Work"}, "Description": "the queue"},
            "WorkerName": {"Value": {"Ref": "Worker"}},
        },
    }


def deploy(template: dict[str, Any], stack: str = "app") -> tuple[Any, dict[str, Any]]:
    """``sam deploy``'s calls: a CREATE change set, executed; the stack as DescribeStacks has it."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    change_set = cfn.create_change_set(
        StackName=stack,
        ChangeSetName="deploy1",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": "Concurrency", "ParameterValue": "3"}],
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    return cfn, cfn.describe_stacks(StackName=stack)["Stacks"][0]


def outputs(described: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


# ----------------------------------------------------------------------------- CloudFormation
def test_an_executed_change_set_gives_its_stack_the_templates_outputs(artifacts: Any) -> None:
    # GIVEN a template with Outputs, created through a CREATE change set (as sam deploy does)
    # WHEN the change set is executed
    _, described = deploy(sam_template())
    # THEN the stack is complete and DescribeStacks answers its Outputs, resolved
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert described["Description"] == "deploy test"
    found = outputs(described)
    assert found["QueueUrl"].endswith("/app-Work-" + found["QueueUrl"].rsplit("-", 1)[-1])
    assert found["WorkerName"].startswith("app-Worker-")


def test_a_change_set_that_fails_leaves_the_stack_failed_with_the_reason(artifacts: Any) -> None:
    # GIVEN a template whose function uses a layer that does not exist
    missing = f"arn:aws:lambda:{REGION}:123456789012:layer:missing:1"
    template = sam_template(Layers=[missing])
    # WHEN its change set is executed
    cfn, described = deploy(template)
    # THEN ExecuteChangeSet succeeded, and the stack is CREATE_FAILED with the reason in its events
    assert described["StackStatus"] == "CREATE_FAILED"
    events = cfn.describe_stack_events(StackName="app")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events]
    assert any(missing in reason for reason in reasons)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:5000/bucket/dir/key.template", ("bucket", "dir/key.template", None)),
        ("http://localhost:4566/bucket/key?versionId=v1", ("bucket", "key", "v1")),
        ("https://s3.amazonaws.com/bucket/key", ("bucket", "key", None)),
        ("https://s3.eu-west-1.amazonaws.com/bucket/a/b", ("bucket", "a/b", None)),
        ("https://bucket.s3.eu-west-1.amazonaws.com/a/b", ("bucket", "a/b", None)),
        ("https://bucket.s3.amazonaws.com/key%20x", ("bucket", "key x", None)),
    ],
)
def test_s3_locations_of_template_urls(url: str, expected: tuple[str, str, str | None]) -> None:
    assert _s3_location(url) == expected


def test_a_template_url_on_the_callers_endpoint_is_read(artifacts: Any) -> None:
    # GIVEN a template uploaded to S3, named by a path-style URL of a local endpoint (SAM CLI's)
    artifacts.put_object(Bucket=BUCKET, Key="app.template", Body=json.dumps(sam_template()))
    cfn = boto3.client("cloudformation", region_name=REGION)
    # WHEN a stack is created from that TemplateURL
    cfn.create_stack(
        StackName="from-url",
        TemplateURL=f"http://127.0.0.1:5000/{BUCKET}/app.template",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    # THEN CloudFormation read the template from that bucket and key
    described = cfn.describe_stacks(StackName="from-url")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert "WorkerName" in outputs(described)


def test_the_serverless_transform_creates_functions_mappings_and_schedules(
    artifacts: Any,
) -> None:
    # GIVEN a SAM template (Transform: AWS::Serverless-2016-10-31)
    # WHEN it is deployed
    _, described = deploy(sam_template())
    name = outputs(described)["WorkerName"]
    # THEN the function, its SQS event source mapping (with the parameter's value) and its
    # schedule exist, as the SAM translator declares them
    lam = boto3.client("lambda", region_name=REGION)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Handler"] == "app.handler.main"
    assert config["Timeout"] == 42
    variables = config["Environment"]["Variables"]
    assert variables == {"QUEUE_URL": outputs(described)["QueueUrl"], "SLOTS": "3"}
    [mapping] = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert mapping["BatchSize"] == 7
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    events = boto3.client("events", region_name=REGION)
    [rule] = events.list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "rate(2 minutes)"
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == config["FunctionArn"]


# ----------------------------------------------------------------------------- Lambda
def test_a_function_has_the_templates_architecture_layers_tracing_and_text_variables(
    artifacts: Any,
) -> None:
    # GIVEN a SAM function on arm64 with a layer of the same stack and active tracing
    # WHEN it is deployed
    _, described = deploy(sam_template())
    # THEN Lambda has it so, the layer under its declared name and its version's ARN
    lam = boto3.client("lambda", region_name=REGION)
    config = lam.get_function_configuration(FunctionName=outputs(described)["WorkerName"])
    assert config["Architectures"] == ["arm64"]
    assert config["TracingConfig"] == {"Mode": "Active"}
    [layer] = config["Layers"]
    assert layer["Arn"] == f"arn:aws:lambda:{REGION}:123456789012:layer:app-deps:1"
    [listed] = lam.list_layers()["Layers"]
    assert listed["LayerName"] == "app-deps"
    assert listed["LatestMatchingVersion"]["CompatibleArchitectures"] == ["arm64"]


def test_a_functions_code_location_downloads_its_package(artifacts: Any) -> None:
    # GIVEN a function created from a package in S3
    lam = boto3.client("lambda", region_name=REGION)
    role = boto3.client("iam").create_role(
        RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST)
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.13",
        Role=role,
        Handler="app.handler.main",
        Code={"S3Bucket": BUCKET, "S3Key": CODE_KEY},
    )
    # WHEN GetFunction is asked for it
    location = urlparse(lam.get_function(FunctionName="fn")["Code"]["Location"])
    # THEN Code.Location is an S3 URL of that package: its bytes are the function's code
    bucket, _, key = location.path.lstrip("/").partition("/")
    body = artifacts.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == CODE


# ----------------------------------------------------------------------------- DynamoDB, SQS
def test_a_table_has_the_templates_ttl_and_point_in_time_recovery(artifacts: Any) -> None:
    # GIVEN a table declaring TTL on ExpiresAt and PITR
    # WHEN it is deployed
    cfn, _ = deploy(sam_template())
    [table] = [
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName="app")["StackResourceSummaries"]
        if r["LogicalResourceId"] == "Table"
    ]
    # THEN DynamoDB has both on
    ddb = boto3.client("dynamodb", region_name=REGION)
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ExpiresAt"}
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_queue_policy_sets_its_queues_policy(artifacts: Any) -> None:
    # GIVEN a queue and an AWS::SQS::QueuePolicy naming it
    # WHEN they are deployed
    _, described = deploy(sam_template())
    # THEN the queue's Policy attribute is the policy document
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs(described)["QueueUrl"], AttributeNames=["Policy"]
    )["Attributes"]
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_sending_to_a_queue_with_an_event_source_mapping_only_stores_the_message(
    artifacts: Any,
) -> None:
    # GIVEN a queue with a dead-letter queue (3 receives) that feeds a function
    _, described = deploy(sam_template())
    url = outputs(described)["QueueUrl"]
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive)})
    # WHEN 10 messages are sent, one by one and in a batch
    for index in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"one-{index}")
    entries = [{"Id": str(i), "MessageBody": f"batch-{i}"} for i in range(5)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    # THEN the mapping's poller receives each of them for the first time; none was dead-lettered
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    counts = [m["Attributes"]["ApproximateReceiveCount"] for m in received["Messages"]]
    assert counts == ["1"] * 10
    dead = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"


@pytest.mark.parametrize(
    ("parameters", "refusal"),
    [
        ({"Nope": "1"}, r"Parameters: \[Nope\] do not exist in the template"),
        ({}, r"Parameters: \[Id\] must have values"),
        ({"Id": "abc", "Stage": "qa"}, "Parameter 'Stage' must be one of AllowedValues"),
        ({"Id": "a b c"}, "Parameter 'Id' must match pattern"),
        ({"Id": "ab"}, "Parameter 'Id' must contain at least 3 characters"),
        ({"Id": "abc", "Size": "0"}, "Parameter 'Size' must be a number not less than 1"),
    ],
)
def test_parameter_values_the_template_refuses_are_refused(
    mocked_aws: None, parameters: dict[str, str], refusal: str
) -> None:
    # GIVEN a template declaring constrained parameters
    template = {
        "Parameters": {
            "Id": {"Type": "String", "MinLength": 3, "AllowedPattern": "[a-z]+"},
            "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
            "Size": {"Type": "Number", "Default": 2, "MinValue": 1, "MaxValue": 9},
        },
        "Resources": {"Work": {"Type": "AWS::SQS::Queue"}},
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    # WHEN a change set is created with values it does not accept
    # THEN CloudFormation refuses it, naming the parameter and the rule
    with pytest.raises(cfn.exceptions.ClientError, match=refusal):
        cfn.create_change_set(
            StackName="checked",
            ChangeSetName="c1",
            ChangeSetType="CREATE",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )
    # and with values it accepts, the stack is made
    cfn.create_stack(
        StackName="accepted",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Id", "ParameterValue": "abc"}],
    )
    assert (
        cfn.describe_stacks(StackName="accepted")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    )
