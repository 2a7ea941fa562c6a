"""The functions' execution roles on the local AWS: each execution environment runs as its
function's role, as on Lambda, so what a member role's trust says of the hub's principals
(``aws:PrincipalArn``: only the inventory worker's role) is what the local stack enforces.

:func:`lambda_session` runs inside the local AWS: it assumes a deployed function's role as the
Lambda service does (the runner asks for it through the server's control path; the role a
stack deploys trusts ``lambda.amazonaws.com``, not the hub account).

:func:`assume_execution_role` creates the role in the hub account where the template puts it
(SAM's generated ``<Function>Role``, with the function's RolePath) if it is not there yet,
trusted by Lambda and by the hub account (the local runner plays Lambda), and returns the
credentials of a session of it as environment variables. moto does not enforce the role's
permissions; the template's are checked against each handler's needs by the tests.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from qrie_local.identity import ACCOUNT_ID, partition

__all__ = [
    "LAMBDA_SERVICE",
    "ExecutionRoleError",
    "assume_execution_role",
    "execution_trust_policy",
    "lambda_session",
    "split_role_arn",
]

LAMBDA_SERVICE = "lambda.amazonaws.com"
SESSION_SECONDS = 12 * 3600  # a runner's execution environments live long


def execution_trust_policy(region: str = "us-east-1") -> dict[str, Any]:
    """Lambda's service principal, and the hub account: the local runner assumes the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": "lambda.amazonaws.com",
                    "AWS": f"arn:{partition(region)}:iam::{ACCOUNT_ID}:root",
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }


def split_role_arn(role_arn: str) -> tuple[str, str]:
    """(path, name) of ``arn:aws:iam::<account>:role/<path>/<name>`` (path ``/`` when none)."""
    resource = role_arn.split(":", 5)[-1]
    if not resource.startswith("role/"):
        raise ValueError(f"not a role ARN: {role_arn!r}")
    path, _, name = resource[len("role") :].rpartition("/")
    return f"{path}/", name


def assume_execution_role(iam: Any, sts: Any, role_arn: str, session_name: str) -> dict[str, str]:
    """Create the role (if missing) and assume it; its session's credentials as the variables
    boto3 reads (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``)."""
    path, name = split_role_arn(role_arn)
    try:
        iam.create_role(
            RoleName=name,
            Path=path,
            AssumeRolePolicyDocument=json.dumps(execution_trust_policy(sts.meta.region_name)),
            Description="qrie local: a function's execution role",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])[
        "Credentials"
    ]
    return {
        "AWS_ACCESS_KEY_ID": str(credentials["AccessKeyId"]),
        "AWS_SECRET_ACCESS_KEY": str(credentials["SecretAccessKey"]),
        "AWS_SESSION_TOKEN": str(credentials["SessionToken"]),
    }


class ExecutionRoleError(Exception):
    """Lambda cannot assume the function's role (missing, or its trust does not allow Lambda)."""


def lambda_session(role_arn: str, session_name: str, region: str = "us-east-1") -> dict[str, str]:
    """Inside the local AWS: Lambda assumes a function's execution role, as the
    ``lambda.amazonaws.com`` service principal -- the role must exist and its trust policy must
    allow that service (the role a deployed stack made trusts Lambda, not the hub account).
    The session's credentials as the variables boto3 reads."""
    from moto.iam.models import iam_backends  # noqa: PLC0415
    from moto.sts.models import sts_backends  # noqa: PLC0415

    from qrie_local.trust import Caller, allows  # noqa: PLC0415

    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        raise ExecutionRoleError(f"not a role ARN: {role_arn!r}")
    try:
        role = iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
    except Exception as exc:
        raise ExecutionRoleError(f"no role {role_arn}") from exc
    if not allows(role.assume_role_policy_document, Caller("", "", service=LAMBDA_SERVICE)):
        raise ExecutionRoleError(f"the trust policy of {role_arn} does not allow {LAMBDA_SERVICE}")
    session = sts_backends[parts[4]][parts[1]].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=SESSION_SECONDS,
        external_id="",
    )
    return {
        "AWS_ACCESS_KEY_ID": str(session.access_key_id),
        "AWS_SECRET_ACCESS_KEY": str(session.secret_access_key),
        "AWS_SESSION_TOKEN": str(session.session_token),
    }
