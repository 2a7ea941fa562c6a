"""Demo member accounts on the local stack: reproducible, about a third non-compliant.

:func:`seed` creates ``accounts`` member accounts (12-digit ids drawn from ``seed``), onboards
each with the read-only member role (except ``unassumable`` of them, whose AssumeRole the local
AWS then refuses, as AWS would), fills each with S3 buckets (some public through a policy or an
ACL, some with MFA delete), account-level Block Public Access in some, a CloudTrail trail with
or without S3 data events; in two regions EC2 instances (some stopped), volumes, security groups
(SSH/RDP/CIFS open to the world in some, over IPv4, IPv6 or ranges that add up to it), the
default security group and network ACL (hardened in some), VPC flow logs, the EBS
default-encryption and instance metadata defaults; IAM users (console passwords, keys, a group
or policies of their own), a password policy, customer-managed policies, now and then an expired
server certificate, IAM Access Analyzer per region; and registers them all in qrie's table
(plus one SUSPENDED account when ``accounts >= 5``). Resources are created through the
Organizations bootstrap role (``OrganizationAccountAccessRole``), as an administrator would; the
local AWS behaves as AWS does (new buckets blocked from the public, Block Public Access refusing
public policies), so a public bucket is made the way it is on AWS: its Block Public Access
turned off first.

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
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qrie.aws import client_config, error_code
from qrie.domain import Account, AccountStatus
from qrie.store.table import Store
from qrie_local import endpoints
from qrie_local.certificates import pem_certificate
from qrie_local.identity import ACCOUNT_ID, STACK_NAME
from qrie_local.members import deploy_member_role, member_session
from qrie_local.stack import LOCAL_PARAMETERS, LocalStack

__all__ = ["SeedReport", "account_ids", "ec2_resources", "seed", "seed_organization"]

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
EXPIRED_CERTIFICATE = datetime(2024, 1, 31, tzinfo=UTC)  # a demo server certificate's end
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::*/*"}],
}

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


def ec2_resources(ec2: Any) -> int:
    """What qrie's EC2 collector finds in one region, read with an admin client: instances
    (not terminated), volumes, security groups, network ACLs, VPCs, and the EBS and IMDS
    default settings."""

    def pages(operation: str, key: str) -> int:
        return sum(len(page[key]) for page in ec2.get_paginator(operation).paginate())

    instances = sum(
        1
        for page in ec2.get_paginator("describe_instances").paginate()
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
        if instance.get("State", {}).get("Name") != "terminated"
    )
    listed = sum(
        pages(operation, key)
        for operation, key in (
            ("describe_volumes", "Volumes"),
            ("describe_security_groups", "SecurityGroups"),
            ("describe_network_acls", "NetworkAcls"),
            ("describe_vpcs", "Vpcs"),
        )
    )
    return instances + listed + 2


def _public_acl_bucket(s3: Any, name: str) -> None:
    """Make ``name`` public-read through its ACL, as one must on AWS: ACLs enabled (Object
    Ownership), Block Public Access off, then the ACL."""
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket=name, ACL="public-read")


# What a _DryClient answers: the keys the seeder reads from the calls whose results it uses.
_DRY_ANSWER: dict[str, Any] = {
    "GroupId": "sg-dry",
    "Vpcs": [{"VpcId": "vpc-dry"}],
    "NetworkAcls": [{"NetworkAclId": "acl-dry"}],
    "SecurityGroups": [{"GroupId": "sg-dry", "IpPermissionsEgress": []}],
    "Instances": [{"InstanceId": "i-dry"}],
}
# S3 data events for every bucket, read and write: the console's "Log all events" template.
LOG_ALL_S3_EVENTS = [
    {
        "Name": "All S3 object events",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        ],
    }
]
ADMIN_DENIES = [(protocol, port) for port in (22, 3389) for protocol in ("6", "17")]
DEMO_MFA = "arn:aws:iam::{account}:mfa/root-account-mfa-device 123456"


class _DryClient:
    """Stands in for a client when an account was seeded before: every call is skipped, so the
    seeded random choices (and the non-compliant counts) replay without creating anything."""

    def __getattr__(self, _name: str) -> Any:
        return lambda **_kwargs: _DRY_ANSWER


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
        s3 = self.client("s3")  # one client: the local S3 needs no regional endpoint
        for index in range(self.rng.randint(2, 6)):
            region = self.rng.choice(self.regions)
            name = f"qrie-demo-{self.account}-{index}"
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**kwargs)  # encrypted, blocked from the public, ACLs disabled
            if self.bad():
                self.non_compliant["s3"] += 1
                # Block Public Access off, no versioning, no TLS-only policy; some public
                s3.delete_public_access_block(Bucket=name)
                exposure = self.rng.random()
                if exposure < 0.4:
                    policy = {"Version": "2012-10-17", "Statement": [_public_read_statement(name)]}
                    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
                elif exposure < 0.8:
                    _public_acl_bucket(s3, name)
                continue
            versioning: dict[str, Any] = {"Status": "Enabled"}
            if self.rng.random() < 0.3:  # MFA delete, set by the root user with its device
                versioning["MFADelete"] = "Enabled"
                s3.put_bucket_versioning(
                    Bucket=name,
                    VersioningConfiguration=versioning,
                    MFA=DEMO_MFA.format(account=self.account),
                )
            else:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
            policy = {"Version": "2012-10-17", "Statement": [_tls_only_statement(name)]}
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        self.trail(s3)
        if self.rng.random() < 0.5:
            # account-level Block Public Access: every bucket protected, whatever its own
            self.client("s3control").put_public_access_block(
                AccountId=self.account,
                PublicAccessBlockConfiguration=dict.fromkeys(
                    (
                        "BlockPublicAcls",
                        "IgnorePublicAcls",
                        "BlockPublicPolicy",
                        "RestrictPublicBuckets",
                    ),
                    True,
                ),
            )

    def trail(self, s3: Any) -> None:
        """A multi-region trail logging every S3 object event, only writes, or none; or no
        trail at all."""
        choice = self.rng.random()
        if choice < 0.2:
            self.non_compliant["s3"] += 1
            return
        bucket = f"qrie-demo-{self.account}-trail"
        s3.create_bucket(Bucket=bucket)
        cloudtrail = self.client("cloudtrail")
        cloudtrail.create_trail(Name="demo-trail", S3BucketName=bucket, IsMultiRegionTrail=True)
        cloudtrail.start_logging(Name="demo-trail")
        if choice < 0.4:
            self.non_compliant["s3"] += 1  # management events only
        elif choice < 0.6:
            self.non_compliant["s3"] += 1  # writes only: reads go unlogged
            selector = {
                "ReadWriteType": "WriteOnly",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
            cloudtrail.put_event_selectors(TrailName="demo-trail", EventSelectors=[selector])
        else:
            cloudtrail.put_event_selectors(
                TrailName="demo-trail", AdvancedEventSelectors=LOG_ALL_S3_EVENTS
            )

    def s3_count(self) -> int:
        # the buckets, and the account's own S3 settings (one s3.account resource)
        return len(self.client("s3").list_buckets().get("Buckets", [])) + 1

    # ------------------------------------------------------------------ EC2
    def ec2(self) -> None:
        for region in self.regions:
            ec2 = self.client("ec2", region)
            if self.rng.random() < 0.5:
                ec2.modify_instance_metadata_defaults(HttpTokens="required")
            else:
                self.non_compliant["ec2"] += 1
            self.instances(ec2)
            for _ in range(self.rng.randint(1, 2)):
                encrypted = not self.bad()
                self.non_compliant["ec2"] += int(not encrypted)
                ec2.create_volume(
                    AvailabilityZone=f"{region}a", Size=8, Encrypted=encrypted, VolumeType="gp3"
                )
            for index in range(self.rng.randint(1, 2)):
                self.security_group(ec2, index)
            self.network(ec2)
            if self.bad():
                self.non_compliant["ec2"] += 1
            else:
                ec2.enable_ebs_encryption_by_default()

    def instances(self, ec2: Any) -> None:
        for _ in range(self.rng.randint(1, 3)):
            bad = self.bad()
            self.non_compliant["ec2"] += int(bad)
            launched = ec2.run_instances(
                ImageId=DEMO_IMAGE_ID,
                MinCount=1,
                MaxCount=1,
                InstanceType="t3.micro",
                MetadataOptions={
                    "HttpTokens": "optional" if bad else "required",
                    "HttpEndpoint": "enabled",
                },
            )
            if bad and self.rng.random() < 0.5:  # stopped: it starts again with IMDSv1
                ec2.stop_instances(InstanceIds=[launched["Instances"][0]["InstanceId"]])

    def security_group(self, ec2: Any, index: int) -> None:
        """A group open to the world on SSH (IPv4), RDP (IPv6), CIFS, or SSH from two halves of
        the Internet (the same as 0.0.0.0/0); or open to a private range only."""
        group = ec2.create_security_group(
            GroupName=f"qrie-demo-{index}", Description="qrie demo security group"
        )["GroupId"]
        permission: dict[str, Any] = {"IpProtocol": "tcp"}
        if self.bad():
            self.non_compliant["ec2"] += 1
            port, ranges = self.rng.choice(
                [
                    (22, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
                    (3389, {"Ipv6Ranges": [{"CidrIpv6": "::/0"}]}),
                    (445, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
                    (22, {"IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}),
                ]
            )
        else:
            port, ranges = 443, {"IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        permission.update({"FromPort": port, "ToPort": port, **ranges})
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])

    def network(self, ec2: Any) -> None:
        """The default VPC: a flow log, the default network ACL denying SSH/RDP before it
        allows everything, the default security group without rules -- each in some regions
        (AWS creates all three open, and no flow log)."""
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        vpc_id = vpc["VpcId"]
        if self.bad():
            self.non_compliant["ec2"] += 1
        else:
            ec2.create_flow_logs(
                ResourceIds=[vpc_id],
                ResourceType="VPC",
                TrafficType="REJECT",
                LogDestinationType="s3",
                LogDestination=f"arn:aws:s3:::qrie-demo-{self.account}-0",
            )
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]}]
        if self.rng.random() < 0.5:
            acl = ec2.describe_network_acls(Filters=filters)["NetworkAcls"][0]
            for number, (protocol, port) in enumerate(ADMIN_DENIES, start=10):
                ec2.create_network_acl_entry(
                    NetworkAclId=acl["NetworkAclId"],
                    RuleNumber=number,
                    Protocol=protocol,
                    RuleAction="deny",
                    Egress=False,
                    CidrBlock="0.0.0.0/0",
                    PortRange={"From": port, "To": port},
                )
        else:
            self.non_compliant["ec2"] += 1
        if self.rng.random() < 0.5:
            group = ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc_id]},
                    {"Name": "group-name", "Values": ["default"]},
                ]
            )["SecurityGroups"][0]
            if group["IpPermissionsEgress"]:
                ec2.revoke_security_group_egress(
                    GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
                )
        else:
            self.non_compliant["ec2"] += 1

    def ec2_count(self) -> int:
        return sum(ec2_resources(self.client("ec2", region)) for region in self.regions)

    # ------------------------------------------------------------------ IAM
    def iam(self) -> None:
        iam = self.client("iam")
        iam.create_group(GroupName="demo-ops")
        read = iam.create_policy(PolicyName="demo-read", PolicyDocument=json.dumps(READ_ONLY))
        read_arn = read.get("Policy", {}).get("Arn", "")
        iam.attach_group_policy(GroupName="demo-ops", PolicyArn=read_arn)
        for index in range(self.rng.randint(1, 4)):
            user = f"demo-user-{index}"
            iam.create_user(UserName=user)
            if self.bad():  # console access without MFA
                self.non_compliant["iam"] += 1
                iam.create_login_profile(UserName=user, Password=DEMO_PASSWORD)
            draw = self.rng.random()
            if draw < 0.5:
                iam.create_access_key(UserName=user)
                if draw < 0.1:  # two active keys
                    self.non_compliant["iam"] += 1
                    iam.create_access_key(UserName=user)
            if self.bad():  # permissions on the user itself, not through a group
                self.non_compliant["iam"] += 1
                iam.attach_user_policy(UserName=user, PolicyArn=read_arn)
            else:
                iam.add_user_to_group(GroupName="demo-ops", UserName=user)
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
            admin = iam.create_policy(PolicyName="demo-admin", PolicyDocument=json.dumps(document))
            iam.attach_group_policy(
                GroupName="demo-ops", PolicyArn=admin.get("Policy", {}).get("Arn", "")
            )
        if self.rng.random() < 0.25:  # a certificate left behind after it expired
            self.non_compliant["iam"] += 1
            iam.upload_server_certificate(
                ServerCertificateName="demo-legacy-tls",
                CertificateBody=pem_certificate(EXPIRED_CERTIFICATE, "legacy.demo.test"),
                PrivateKey="-",
            )
        for region in self.regions:  # IAM Access Analyzer, per region
            if self.bad():
                self.non_compliant["iam"] += 1
                continue
            self.client("accessanalyzer", region).create_analyzer(
                analyzerName="demo-external-access", type="ACCOUNT"
            )

    def iam_count(self) -> int:
        iam = self.client("iam")

        def count(operation: str, key: str, **kwargs: Any) -> int:
            return sum(len(page[key]) for page in iam.get_paginator(operation).paginate(**kwargs))

        users = count("list_users", "Users")
        policies = count("list_policies", "Policies", Scope="Local")
        in_use = count("list_policies", "Policies", Scope="AWS", OnlyAttached=True)
        roles = count("list_roles", "Roles")
        certificates = len(iam.list_server_certificates()["ServerCertificateMetadataList"])
        # + account, password policy, and one Access Analyzer listing per region
        return users + 1 + 1 + policies + in_use + roles + certificates + len(self.regions)

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
    endpoints.install()  # S3 Control's account host label on the loopback
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
