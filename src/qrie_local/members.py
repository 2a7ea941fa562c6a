"""Member-account set-up on the local AWS: the onboarding step (the member role) done through
the Organizations bootstrap role, as an administrator deploys onboarding/member-role.yaml.

:func:`deploy_member_role` deploys that template in the member account as a CloudFormation stack
(``aws cloudformation deploy --stack-name qrie-member``): its role's trust policy (the hub
account, narrowed to the hub stack's inventory worker with ``aws:PrincipalArn``, and the
ExternalId) and its read-only policy are the template's, so the local stack runs against qrie's
real onboarding. :func:`trust_policy` is an account-wide trust (the hub
account with the ExternalId, any principal of it) for set-ups that assume member roles from
outside the runner's inventory worker (the benchmarks' baseline loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qrie.aws import client_config, error_code
from qrie_local.identity import STACK_NAME
from qrie_local.moto_patches import BOOTSTRAP_ROLE

__all__ = [
    "MEMBER_STACK",
    "ONBOARDING_TEMPLATE",
    "deploy_member_role",
    "member_session",
    "trust_policy",
]

ONBOARDING_TEMPLATE = Path(__file__).resolve().parents[2] / "onboarding" / "member-role.yaml"
MEMBER_STACK = "qrie-member"


def member_session(account_id: str, region: str = "us-east-1") -> boto3.Session:
    """An administrator session inside ``account_id`` (via OrganizationAccountAccessRole)."""
    sts = boto3.client("sts", region_name=region, config=client_config())
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{BOOTSTRAP_ROLE}",
        RoleSessionName="qrie-local-admin",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def trust_policy(hub_account_id: str, external_id: str) -> dict[str, Any]:
    """Any principal of the hub account that presents the ExternalId (no aws:PrincipalArn)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{hub_account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def deploy_member_role(
    account_id: str,
    role_name: str,
    external_id: str,
    hub_account_id: str,
    hub_stack_name: str = STACK_NAME,
) -> str:
    """Deploy qrie's member role (onboarding/member-role.yaml, stack ``qrie-member``) in
    ``account_id``, trusting the inventory worker of the hub stack ``hub_stack_name``; returns
    its ARN. An account onboarded before keeps its role (and its ARN is returned)."""
    cfn = member_session(account_id).client("cloudformation", config=client_config())
    parameters = {
        "RoleName": role_name,
        "ExternalId": external_id,
        "HubAccountId": hub_account_id,
        "HubStackName": hub_stack_name,
    }
    try:
        cfn.create_stack(
            StackName=MEMBER_STACK,
            TemplateBody=ONBOARDING_TEMPLATE.read_text(encoding="utf-8"),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    except ClientError as exc:
        if error_code(exc) != "AlreadyExistsException":
            raise
    [stack] = cfn.describe_stacks(StackName=MEMBER_STACK)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return str(outputs["RoleArn"])
