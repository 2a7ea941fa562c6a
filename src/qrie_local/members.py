"""Member-account set-up on the local AWS: the onboarding step (the member role) done through
the Organizations bootstrap role, as an administrator would deploy onboarding/member-role.yaml."""

from __future__ import annotations

import json
from typing import Any

import boto3

from qrie.aws import client_config
from qrie_local.moto_patches import BOOTSTRAP_ROLE


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
    account_id: str, role_name: str, external_id: str, hub_account_id: str
) -> str:
    """Create the read-only member role in ``account_id``; returns its ARN."""
    iam = member_session(account_id).client("iam", config=client_config())
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps(trust_policy(hub_account_id, external_id)),
        Description="qrie read-only inventory role",
    )
    return str(role["Role"]["Arn"])
