"""qrie's member role (onboarding/member-role.yaml, deployed in a moto account) trusts only the
hub stack's inventory worker presenting the ExternalId, and the local AWS enforces it as AWS does
(qrie_local.trust behind moto's AssumeRole)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qrie_local.roles import assume_execution_role
from qrie_local.trust import Caller, allows
from tests.support import EXTERNAL_ID, HUB_ACCOUNT, REGION, ROLE, WORKER_ROLE_ARN, onboard

MEMBER = "210000000009"
MEMBER_ROLE_ARN = f"arn:aws:iam::{MEMBER}:role/{ROLE}"


def session_of(role_arn: str) -> boto3.Session:
    """A session of a hub role (created where its ARN says, trusted by the hub account)."""
    iam, sts = (boto3.client(s, region_name=REGION) for s in ("iam", "sts"))
    credentials = assume_execution_role(iam, sts, role_arn, "test")
    return boto3.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def assume(session: boto3.Session, **kwargs: Any) -> str:
    """The outcome of AssumeRole of the member role: "ok" or the error code."""
    try:
        session.client("sts").assume_role(RoleArn=MEMBER_ROLE_ARN, RoleSessionName="qrie", **kwargs)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_only_the_hub_stacks_inventory_worker_may_assume_the_member_role(
    mocked_aws: None,
) -> None:
    # GIVEN qrie's member role, deployed from onboarding/member-role.yaml for hub stack qrie-test
    onboard([MEMBER])
    worker = session_of(WORKER_ROLE_ARN)
    scan_worker = session_of(f"arn:aws:iam::{HUB_ACCOUNT}:role/qrie-test-ScanWorkerFunctionRole")
    other_stack = session_of(
        f"arn:aws:iam::{HUB_ACCOUNT}:role/qrie/qrie-other/inventory-worker/"
        "qrie-other-InventoryWorkerFunctionRole"
    )
    hub_user = boto3.Session(region_name=REGION)  # the hub account's default principal
    # WHEN each principal of the hub account asks for it
    # THEN only the worker presenting the ExternalId gets it
    assert assume(worker, ExternalId=EXTERNAL_ID) == "ok"
    assert assume(worker, ExternalId="wrong-external-id") == "AccessDenied"
    assert assume(worker) == "AccessDenied"
    for other in (scan_worker, other_stack, hub_user):
        assert assume(other, ExternalId=EXTERNAL_ID) == "AccessDenied"


# ------------------------------------------------------------------- trust policy evaluation
WORKER = Caller(WORKER_ROLE_ARN, HUB_ACCOUNT, EXTERNAL_ID)


def statement(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{HUB_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        **({"Condition": condition} if condition else {}),
        **extra,
    }


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}, True),
        ({"StringEquals": {"STS:EXTERNALID": [EXTERNAL_ID, "other"]}}, True),  # keys: any case
        ({"StringEquals": {"sts:ExternalId": "other"}}, False),
        ({"StringNotEquals": {"sts:ExternalId": EXTERNAL_ID}}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/qrie/*/inventory-worker/*"}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/ops/*"}}, False),
        ({"ArnEquals": {"aws:PrincipalArn": WORKER_ROLE_ARN}}, True),
        ({"StringEquals": {"aws:PrincipalAccount": HUB_ACCOUNT}}, True),
        ({"StringEquals": {"aws:SourceIp": "10.0.0.1"}}, False),  # not evaluated: refused
        ({"NumericLessThan": {"sts:ExternalId": "3"}}, False),  # not evaluated: refused
    ],
)
def test_trust_conditions_are_evaluated(condition: dict[str, Any], expected: bool) -> None:
    assert allows(policy(statement(condition)), WORKER) is expected


def test_trust_principals_ifexists_and_deny() -> None:
    no_id = Caller(WORKER_ROLE_ARN, HUB_ACCOUNT, None)
    # a missing key fails a positive condition, not its IfExists form
    assert not allows(policy(statement({"StringEquals": {"sts:ExternalId": "x"}})), no_id)
    assert allows(policy(statement({"StringEqualsIfExists": {"sts:ExternalId": "x"}})), no_id)
    # principals: the account by id or root ARN, the caller's ARN, "*"; not another account
    for principal in (HUB_ACCOUNT, WORKER_ROLE_ARN, "*"):
        assert allows(policy(statement(Principal={"AWS": principal})), WORKER)
    assert allows(policy(statement(Principal="*")), WORKER)
    assert not allows(policy(statement(Principal={"AWS": "999999999999"})), WORKER)
    assert not allows(policy(statement(Principal={"Service": "lambda.amazonaws.com"})), WORKER)
    # another action does not allow AssumeRole; a matching Deny wins over an Allow
    assert not allows(policy(statement(Action="sts:TagSession")), WORKER)
    assert not allows(policy(statement(), statement(Effect="Deny")), WORKER)
    # IAM's stored form (URL-encoded JSON text) reads the same
    assert allows('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]}', WORKER)
