"""Permissions declared where the calls are made: each collector's ``CALLS`` against the calls it
really makes (the local AWS, a botocore hook on every client it gets), against the onboarding
role's read-only policy, and against botocore's own models."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from qrie.aws import AccountSession, AccountSessions
from qrie.domain import SERVICES
from qrie.inventory.calls import AwsCall
from qrie.inventory.registry import all_collectors
from qrie_local.template import load_template
from tests.unit.collectors_support import ACCOUNT_A, HookedSession

ROOT = Path(__file__).resolve().parents[2]
MEMBER_ROLE = ROOT / "onboarding" / "member-role.yaml"
REGION = "us-east-1"
# Actions the member role may hold beyond what the collectors declare, each with its reason.
# None today: the role allows exactly what qrie calls.
EXTRA_ROLE_ACTIONS: dict[str, str] = {}
# Operations (botocore service, operation) whose IAM action is not named after the operation
# (AWS Service Authorization Reference, "Actions defined by Amazon S3"); every other action is
# "<prefix>:<operation>". A collector may call several APIs (s3control's GetPublicAccessBlock
# needs s3:GetAccountPublicAccessBlock): such names go here too.
ACTION_NAMES = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
}
DECLARED: list[tuple[str, AwsCall]] = [
    (service, call) for service, c in all_collectors().items() for call in c.calls.calls
]


def declared_actions() -> set[str]:
    return {call.action for _, call in DECLARED}


def role_statements() -> list[dict[str, Any]]:
    """The Allow statements of the member role's inline policies (not its trust policy)."""
    template = load_template(MEMBER_ROLE)
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 1
    properties = roles[0]["Properties"]
    assert "ManagedPolicyArns" not in properties, "no managed policy: every action is listed"
    return [
        statement
        for inline in properties["Policies"]
        for statement in inline["PolicyDocument"]["Statement"]
    ]


# ---- the role, the declarations and botocore ----------------------------------------------------
def test_the_member_role_allows_exactly_the_declared_actions() -> None:
    # GIVEN the onboarding role's read-only policy
    statements = role_statements()
    actions = [
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    # THEN it only allows, on "*", actions without wildcards, each listed once
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in statements)
    assert not [a for a in actions if "*" in a or "?" in a]
    assert len(actions) == len(set(actions))
    # AND those are the collectors' declared actions, plus only the listed extras
    assert set(actions) - declared_actions() == set(EXTRA_ROLE_ACTIONS)
    assert declared_actions() - set(actions) == set(), "add these to onboarding/member-role.yaml"


def test_extra_role_actions_are_explained() -> None:
    # THEN every extra action the role keeps says why
    assert all(reason.strip() for reason in EXTRA_ROLE_ACTIONS.values())


@pytest.mark.parametrize(
    ("service", "call"), DECLARED, ids=[f"{s}.{c.operation}" for s, c in DECLARED]
)
def test_each_declared_call_is_a_real_operation_with_its_action(
    service: str, call: AwsCall
) -> None:
    # GIVEN a declared call of a collector
    assert service in all_collectors()
    # THEN botocore knows its API (AwsCall.client names it where the IAM prefix differs from
    # botocore's name) and the operation: a typo cannot pass
    model = botocore.session.get_session().get_service_model(call.service)
    assert call.operation in model.operation_names
    # AND the action is "<prefix>:<operation>", or the documented name where AWS differs
    prefix = call.action.split(":", 1)[0]
    expected = ACTION_NAMES.get((call.service, call.operation), f"{prefix}:{call.operation}")
    assert call.action == expected


def test_each_collector_declares_each_call_once() -> None:
    for service, collector in all_collectors().items():
        operations = [(c.service, c.operation) for c in collector.calls.calls]
        assert len(operations) == len(set(operations)), service


# ---- the calls really made ----------------------------------------------------------------------
class CallRecorder:
    """Records (service, operation) of every request made on the clients it is hooked to."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.add((model.service_model.service_name, model.name))


def without_bucket_region(parsed: dict[str, Any], **_: Any) -> None:
    """ListBuckets entries as S3 answers without MaxBuckets: no BucketRegion, so the collector
    asks GetBucketLocation (the local AWS leaves it out today; AWS sends it, and so may a later
    moto)."""
    for bucket in parsed.get("Buckets", []):
        bucket.pop("BucketRegion", None)


def seed_s3(session: AccountSession) -> dict[str, Callable[..., Any]]:
    client = session.client("s3", REGION)
    client.create_bucket(Bucket="plain")
    client.create_bucket(Bucket="with-policy")
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::with-policy/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    client.put_bucket_policy(
        Bucket="with-policy",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    return {"after-call.s3.ListBuckets": without_bucket_region}


def seed_ec2(session: AccountSession) -> dict[str, Callable[..., Any]]:
    client = session.client("ec2", REGION)
    client.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    client.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    return {}


def seed_iam(session: AccountSession) -> dict[str, Callable[..., Any]]:
    client = session.client("iam", REGION)
    client.create_user(UserName="alice")
    client.create_login_profile(UserName="alice", Password="a-Long-password-1")
    client.create_access_key(UserName="alice")
    client.create_policy(
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    client.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    return {}


# Resources that make each collector take every path it has (a bucket policy, a region to look
# up, a user with a console password and a key, a customer policy, a role, an instance ...).
SEEDS: dict[str, Callable[[AccountSession], dict[str, Callable[..., Any]]]] = {
    "s3": seed_s3,
    "ec2": seed_ec2,
    "iam": seed_iam,
}


def test_every_service_has_a_seed() -> None:
    assert set(SEEDS) == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_calls_a_collector_makes_are_exactly_its_declared_calls(
    sessions: AccountSessions, service: str
) -> None:
    # GIVEN a member account whose resources take every path of the collector
    member = sessions.for_account(ACCOUNT_A)
    extra_hooks = SEEDS[service](member)
    recorder = CallRecorder()
    hooked = HookedSession(member, {"before-call": recorder, **extra_hooks})
    collector = all_collectors()[service]

    # WHEN the collector inventories it, as the engine runs it (scopes, then each scope)
    for scope in collector.scopes(hooked, [REGION]):
        assert list(collector.collect(hooked, scope))

    # THEN every operation it called is declared (so the role allows it and the doc lists it)
    declared = {(call.service, call.operation) for call in collector.calls.calls}
    assert recorder.calls - declared == set(), "declare these calls in the collector's CALLS"
    # AND every declared operation was called (no stale declaration keeps an action alive)
    assert declared - recorder.calls == set()
