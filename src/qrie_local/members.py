"""Member-account set-up on the local AWS: the onboarding step (the member role) done through
the Organizations bootstrap role, as an administrator would deploy onboarding/member-role.yaml.

:func:`deploy_member_role` deploys the role that template declares -- its trust policy (the hub
account, narrowed to the hub stack's inventory worker with ``aws:PrincipalArn``, and the
ExternalId) and its read-only policy -- resolved for the given parameters, so the local stack
runs against qrie's real onboarding. :func:`trust_policy` is an account-wide trust (the hub
account with the ExternalId, any principal of it) for set-ups that assume member roles from
outside the runner's inventory worker (the benchmarks' baseline loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from qrie.aws import client_config
from qrie_local.cfn import Resolver, parameter_values
from qrie_local.identity import STACK_NAME
from qrie_local.moto_patches import BOOTSTRAP_ROLE
from qrie_local.template import load_template

__all__ = [
    "ONBOARDING_TEMPLATE",
    "deploy_member_role",
    "member_role",
    "member_session",
    "trust_policy",
]

ONBOARDING_TEMPLATE = Path(__file__).resolve().parents[2] / "onboarding" / "member-role.yaml"
MEMBER_ROLE_RESOURCE = "QrieMemberRole"


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


def member_role(
    role_name: str,
    external_id: str,
    hub_account_id: str,
    hub_stack_name: str = STACK_NAME,
    template: Path = ONBOARDING_TEMPLATE,
) -> dict[str, Any]:
    """The member role's properties as onboarding/member-role.yaml declares them, resolved for
    these parameters (RoleName, AssumeRolePolicyDocument, Policies, ...)."""
    loaded = load_template(template)
    values = parameter_values(
        loaded,
        {
            "RoleName": role_name,
            "ExternalId": external_id,
            "HubAccountId": hub_account_id,
            "HubStackName": hub_stack_name,
        },
    )
    resolver = Resolver(loaded, values, "us-east-1", prefix="")
    resource = (loaded.get("Resources") or {})[MEMBER_ROLE_RESOURCE]
    properties: dict[str, Any] = resolver.resolve(resource.get("Properties") or {})
    return properties


def deploy_member_role(
    account_id: str,
    role_name: str,
    external_id: str,
    hub_account_id: str,
    hub_stack_name: str = STACK_NAME,
) -> str:
    """Create qrie's member role (onboarding/member-role.yaml) in ``account_id``, trusting the
    inventory worker of the hub stack ``hub_stack_name``; returns its ARN."""
    props = member_role(role_name, external_id, hub_account_id, hub_stack_name)
    iam = member_session(account_id).client("iam", config=client_config())
    role = iam.create_role(
        RoleName=props["RoleName"],
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        Description=props.get("Description", ""),
        MaxSessionDuration=int(props.get("MaxSessionDuration", 3600)),
    )
    for policy in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=props["RoleName"],
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    return str(role["Role"]["Arn"])
