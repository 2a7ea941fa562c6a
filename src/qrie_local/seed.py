"""Demo member accounts on the local stack: reproducible, about a third non-compliant.

:func:`seed` creates ``accounts`` member accounts (12-digit ids drawn from ``seed``), onboards
each with the read-only member role (except ``unassumable`` of them, whose AssumeRole the local
AWS then refuses, as AWS would), fills each with S3 buckets, EC2 instances/volumes/security
groups and the EBS default-encryption setting in two regions, IAM users, keys, a password policy
and customer-managed policies, and registers them all in qrie's table (plus one SUSPENDED
account when ``accounts >= 5``). Resources are created through the Organizations bootstrap role
(``OrganizationAccountAccessRole``), as an administrator would.

The report counts what qrie's collectors will find per account and service, read back from the
local AWS after seeding (e.g. moto gives every instance a root volume and every region a
default security group), so an inventory can be checked exactly against it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qrie.aws import client_config, error_code
from qrie.domain import Account, AccountStatus
from qrie.store.table import Store
from qrie_local.identity import ACCOUNT_ID, STACK_NAME
from qrie_local.members import deploy_member_role, member_session
from qrie_local.stack import LOCAL_PARAMETERS, LocalStack

__all__ = ["SeedReport", "account_ids", "seed", "seed_organization"]

MEMBER_ROLE = "QrieReadOnly"
ACCOUNT_BASE = 200_000_000_000
NON_COMPLIANT_SHARE = 1 / 3
SEED_THREADS = 8
IAM_REGION = "us-east-1"
# An Amazon Linux image id moto knows. DescribeImages is not called: moto loads its whole image
# catalogue per account and region on the first call (over a second each).
DEMO_IMAGE_ID = "ami-03cf127a"
# The console password of demo users (on the local AWS only).
DEMO_PASSWORD = "Demo-Passw0rd!-not-real"  # noqa: S105 - a fake account's fake password

# boto3's default session (used by member_session for STS) is not safe to build clients from
# in several threads at once; sessions and clients are created under this lock.
_CLIENTS = threading.Lock()


@dataclass
class SeedReport:
    accounts: list[str]  # the member accounts created (ACTIVE), incl. the unassumable ones
    unassumable: list[str]  # no member role: AssumeRole is refused
    suspended: list[str]  # registered SUSPENDED, no resources
    resources: dict[str, dict[str, int]]  # account -> service -> resources the inventory finds
    non_compliant: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def active(self) -> list[str]:
        return list(self.accounts)

    @property
    def assumable(self) -> list[str]:
        return [a for a in self.accounts if a not in self.unassumable]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def account_ids(count: int, seed: int = 7, extra: int = 0) -> list[str]:
    """``count + extra`` distinct 12-digit account ids, the same for the same seed."""
    rng = random.Random(seed)
    total = count + extra
    space = max(100, total * 4)
    numbers = rng.sample(range(space), total)
    return [f"{ACCOUNT_BASE + n:012d}" for n in numbers]


def _tls_only_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _public_read_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


class _DryClient:
    """Stands in for a client when an account was seeded before: every call is skipped, so the
    seeded random choices (and the non-compliant counts) replay without creating anything."""

    def __getattr__(self, _name: str) -> Any:
        return lambda **_kwargs: {"GroupId": "sg-dry"}


class _AccountSeeder:
    def __init__(
        self, account: str, rng: random.Random, regions: Sequence[str], shared: boto3.Session
    ) -> None:
        self.account = account
        self.rng = rng
        self.regions = list(regions)
        with _CLIENTS:
            credentials = member_session(account).get_credentials()
        assert credentials is not None
        frozen = credentials.get_frozen_credentials()
        # Clients are built from one shared session with this account's credentials: a new
        # session per account would parse the service models again (~70 ms per client).
        self._shared = shared
        self._credentials = {
            "aws_access_key_id": frozen.access_key,
            "aws_secret_access_key": frozen.secret_key,
            "aws_session_token": frozen.token,
        }
        self._clients: dict[tuple[str, str], Any] = {}
        self.non_compliant: dict[str, int] = {"s3": 0, "ec2": 0, "iam": 0}
        self.dry = False

    def real_client(self, service: str, region: str = IAM_REGION) -> Any:
        key = (service, region)
        if key not in self._clients:
            with _CLIENTS:
                self._clients[key] = self._shared.client(  # type: ignore[call-overload]
                    service, region_name=region, config=client_config(), **self._credentials
                )
        return self._clients[key]

    def client(self, service: str, region: str = IAM_REGION) -> Any:
        return _DryClient() if self.dry else self.real_client(service, region)

    def seeded_before(self) -> bool:
        """Whether this account already holds the demo resources (seeding is idempotent)."""
        users = self.real_client("iam").list_users(MaxItems=1).get("Users", [])
        return bool(users)

    def bad(self) -> bool:
        return self.rng.random() < NON_COMPLIANT_SHARE

    # ------------------------------------------------------------------ S3
    def s3(self) -> None:
        for index in range(self.rng.randint(2, 6)):
            region = self.rng.choice(self.regions)
            name = f"qrie-demo-{self.account}-{index}"
            s3 = self.client("s3")  # one client: the local S3 needs no regional endpoint
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**kwargs)
            if self.bad():
                self.non_compliant["s3"] += 1
                # no public access block, no default encryption, no versioning; some public
                if self.rng.random() < 0.5:
                    policy = {"Version": "2012-10-17", "Statement": [_public_read_statement(name)]}
                    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
                continue
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            policy = {"Version": "2012-10-17", "Statement": [_tls_only_statement(name)]}
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    def s3_count(self) -> int:
        return len(self.client("s3").list_buckets().get("Buckets", []))

    # ------------------------------------------------------------------ EC2
    def ec2(self) -> None:
        for region in self.regions:
            ec2 = self.client("ec2", region)
            for _ in range(self.rng.randint(1, 3)):
                bad = self.bad()
                self.non_compliant["ec2"] += int(bad)
                ec2.run_instances(
                    ImageId=DEMO_IMAGE_ID,
                    MinCount=1,
                    MaxCount=1,
                    InstanceType="t3.micro",
                    MetadataOptions={
                        "HttpTokens": "optional" if bad else "required",
                        "HttpEndpoint": "enabled",
                    },
                )
            for _ in range(self.rng.randint(1, 2)):
                encrypted = not self.bad()
                self.non_compliant["ec2"] += int(not encrypted)
                ec2.create_volume(
                    AvailabilityZone=f"{region}a", Size=8, Encrypted=encrypted, VolumeType="gp3"
                )
            for index in range(self.rng.randint(1, 2)):
                open_ssh = self.bad()
                self.non_compliant["ec2"] += int(open_ssh)
                group = ec2.create_security_group(
                    GroupName=f"qrie-demo-{index}",
                    Description="qrie demo security group",
                )["GroupId"]
                port, cidr = (22, "0.0.0.0/0") if open_ssh else (443, "10.0.0.0/8")
                ec2.authorize_security_group_ingress(
                    GroupId=group,
                    IpPermissions=[
                        {
                            "IpProtocol": "tcp",
                            "FromPort": port,
                            "ToPort": port,
                            "IpRanges": [{"CidrIp": cidr}],
                        }
                    ],
                )
            if self.bad():
                self.non_compliant["ec2"] += 1
            else:
                ec2.enable_ebs_encryption_by_default()

    def ec2_count(self) -> int:
        total = 0
        for region in self.regions:
            ec2 = self.client("ec2", region)
            instances = sum(
                1
                for page in ec2.get_paginator("describe_instances").paginate()
                for reservation in page["Reservations"]
                for instance in reservation["Instances"]
                if instance.get("State", {}).get("Name") != "terminated"
            )
            volumes = sum(
                len(page["Volumes"]) for page in ec2.get_paginator("describe_volumes").paginate()
            )
            groups = sum(
                len(page["SecurityGroups"])
                for page in ec2.get_paginator("describe_security_groups").paginate()
            )
            total += instances + volumes + groups + 1  # + the ebs-default setting
        return total

    # ------------------------------------------------------------------ IAM
    def iam(self) -> None:
        iam = self.client("iam")
        for index in range(self.rng.randint(1, 4)):
            user = f"demo-user-{index}"
            iam.create_user(UserName=user)
            if self.bad():  # console access without MFA
                self.non_compliant["iam"] += 1
                iam.create_login_profile(UserName=user, Password=DEMO_PASSWORD)
            if self.rng.random() < 0.5:
                iam.create_access_key(UserName=user)
        choice = self.rng.random()
        if choice < NON_COMPLIANT_SHARE:
            self.non_compliant["iam"] += 1
            iam.update_account_password_policy(MinimumPasswordLength=6)
        elif choice < 0.8:
            iam.update_account_password_policy(
                MinimumPasswordLength=14,
                RequireSymbols=True,
                RequireNumbers=True,
                RequireUppercaseCharacters=True,
                RequireLowercaseCharacters=True,
                PasswordReusePrevention=24,
                MaxPasswordAge=90,
            )
        else:  # no password policy at all
            self.non_compliant["iam"] += 1
        if self.bad():
            self.non_compliant["iam"] += 1
            document = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
            iam.create_policy(PolicyName="demo-admin", PolicyDocument=json.dumps(document))
        else:
            document = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::*/*"}
                ],
            }
            iam.create_policy(PolicyName="demo-read", PolicyDocument=json.dumps(document))

    def iam_count(self) -> int:
        iam = self.client("iam")

        def count(operation: str, key: str, **kwargs: Any) -> int:
            return sum(len(page[key]) for page in iam.get_paginator(operation).paginate(**kwargs))

        users = count("list_users", "Users")
        policies = count("list_policies", "Policies", Scope="Local")
        roles = count("list_roles", "Roles")
        return users + 1 + 1 + policies + roles  # + account summary + password policy

    # ------------------------------------------------------------------ all
    def run(self) -> dict[str, int]:
        self.dry = self.seeded_before()
        self.s3()
        self.ec2()
        self.iam()
        self.dry = False
        return {"s3": self.s3_count(), "ec2": self.ec2_count(), "iam": self.iam_count()}


def _onboard_and_fill(
    members: Sequence[str],
    refused: Sequence[str],
    seed: int,
    regions: Sequence[str],
    threads: int,
    role_name: str,
    external_id: str,
    hub_stack_name: str = STACK_NAME,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Deploy the member role in ``members`` (except ``refused``) and fill them with demo
    resources: (resources per account and service, non-compliant ones)."""

    def one(account: str) -> dict[str, int]:
        if account not in refused:
            with _CLIENTS:
                try:
                    deploy_member_role(account, role_name, external_id, ACCOUNT_ID, hub_stack_name)
                except ClientError as exc:  # seeded before: the role is there
                    if error_code(exc) != "EntityAlreadyExists":
                        raise
        seeder = _AccountSeeder(account, random.Random(f"{seed}:{account}"), regions, shared)
        counts = seeder.run()
        non_compliant[account] = seeder.non_compliant
        return counts

    non_compliant: dict[str, dict[str, int]] = {}
    shared = boto3.Session()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        resources = dict(zip(members, pool.map(one, members), strict=True))
    return resources, {a: non_compliant[a] for a in members}


def seed(
    stack: LocalStack,
    accounts: int,
    seed: int = 7,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    unassumable: int = 1,
    threads: int = SEED_THREADS,
) -> SeedReport:
    """Create and register ``accounts`` demo member accounts on the local stack."""
    if accounts < 1:
        raise ValueError("accounts must be >= 1")
    started = time.monotonic()
    with_suspended = accounts >= 5
    ids = account_ids(accounts, seed, extra=1 if with_suspended else 0)
    members, suspended = sorted(ids[:accounts]), ids[accounts:]
    rng = random.Random(seed)
    refused = sorted(rng.sample(members, min(max(0, unassumable), len(members))))
    external_id = stack.parameters.get("ExternalId") or LOCAL_PARAMETERS["ExternalId"]
    role_name = stack.parameters.get("MemberRoleName", MEMBER_ROLE)
    with stack.apply_env():
        resources, non_compliant = _onboard_and_fill(
            members, refused, seed, regions, threads, role_name, external_id
        )
        store = Store(stack.table_name)
        tags = {"env": "demo", "seed": str(seed)}
        registered = [
            Account(account, AccountStatus.ACTIVE, f"demo-{index:02d}", tags=tags)
            for index, account in enumerate(members, start=1)
        ]
        registered += [
            Account(account, AccountStatus.SUSPENDED, f"demo-{len(members) + index:02d}", tags=tags)
            for index, account in enumerate(suspended, start=1)
        ]
        store.put_accounts(registered)
    return SeedReport(
        accounts=members,
        unassumable=refused,
        suspended=list(suspended),
        resources=resources,
        non_compliant=non_compliant,
        seconds=round(time.monotonic() - started, 2),
    )


def seed_organization(
    stack: LocalStack,
    accounts: int,
    role_name: str,
    external_id: str,
    hub_stack_name: str,
    seed: int = 7,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
    threads: int = SEED_THREADS,
) -> SeedReport:
    """An AWS Organization on the local AWS, as ``qrie accounts sync`` finds one: the hub
    account creates it and ``accounts`` member accounts in it (Organizations picks their ids),
    the member role (``role_name``, trusting the inventory worker of the hub stack
    ``hub_stack_name`` with ``external_id``) is deployed in every account of the organization
    -- the management account (the hub) too, as an administrator onboards it with the
    one-account command -- and the members are filled with demo resources. Nothing is
    registered in qrie's table: that is ``accounts sync``'s job. The report's ``accounts`` are
    the members, and the hub is in ``resources`` with nothing counted (its resources are the
    deployed stack's own)."""
    if accounts < 1:
        raise ValueError("accounts must be >= 1")
    started = time.monotonic()
    with stack.apply_env():
        org = boto3.client("organizations", config=client_config())
        try:
            org.create_organization(FeatureSet="ALL")
        except ClientError as exc:
            if error_code(exc) != "AlreadyInOrganizationException":
                raise
        existing = {
            str(a["Name"]): str(a["Id"])
            for page in org.get_paginator("list_accounts").paginate()
            for a in page["Accounts"]
        }
        for index in range(1, accounts + 1):
            name = f"demo-{index:02d}"
            if name not in existing:
                created = org.create_account(AccountName=name, Email=f"{name}@example.com")
                existing[name] = str(created["CreateAccountStatus"]["AccountId"])
        members = sorted(existing[f"demo-{index:02d}"] for index in range(1, accounts + 1))
        resources, non_compliant = _onboard_and_fill(
            members, (), seed, regions, threads, role_name, external_id, hub_stack_name
        )
        with _CLIENTS:
            try:
                deploy_member_role(ACCOUNT_ID, role_name, external_id, ACCOUNT_ID, hub_stack_name)
            except ClientError as exc:
                if error_code(exc) != "EntityAlreadyExists":
                    raise
    return SeedReport(
        accounts=members,
        unassumable=[],
        suspended=[],
        resources={**resources, ACCOUNT_ID: {}},
        non_compliant=non_compliant,
        seconds=round(time.monotonic() - started, 2),
    )
