"""Member accounts for the benchmarks, created fast on the local AWS.

``small_accounts``: N accounts, each onboarded (the read-only member role) and holding a small,
fixed set of resources (by default 1 bucket, 1 IAM user; EC2 has the default VPC's security
group and the EBS default-encryption setting), registered in qrie's table. ``big_account``: one
account with many buckets and users (the memory benchmark). Both create through the
Organizations bootstrap role, as ``qrie_local.seed`` does, with many threads.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3

from qrie.aws import client_config
from qrie.domain import Account
from qrie.store.table import Store
from qrie_local.identity import ACCOUNT_ID
from qrie_local.members import trust_policy
from qrie_local.moto_patches import BOOTSTRAP_ROLE
from qrie_local.stack import LOCAL_PARAMETERS, LocalStack

MEMBER_ROLE = "QrieReadOnly"
_LOCK = threading.Lock()  # building clients from one session is not thread-safe


@dataclass
class Seeded:
    accounts: list[str]
    seconds: float
    per_account: dict[str, int]  # buckets and users created in each account

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": len(self.accounts),
            "seconds": round(self.seconds, 2),
            "per_account": self.per_account,
        }


def account_id(base: int, index: int) -> str:
    return f"{base + index:012d}"


class _Admin:
    """Administrator clients inside member accounts, from one shared session."""

    def __init__(self) -> None:
        self.session = boto3.Session()
        with _LOCK:
            self.sts = self.session.client("sts", config=client_config())

    def clients(self, account: str, *services: str) -> list[Any]:
        creds = self.sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{BOOTSTRAP_ROLE}",
            RoleSessionName="qrie-bench-admin",
        )["Credentials"]
        with _LOCK:
            return [
                self.session.client(  # type: ignore[call-overload]
                    service,
                    config=client_config(pool=64),
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
                for service in services
            ]


def _external_id(stack: LocalStack) -> str:
    return stack.parameters.get("ExternalId") or LOCAL_PARAMETERS["ExternalId"]


def _onboard(iam: Any, stack: LocalStack) -> None:
    iam.create_role(
        RoleName=MEMBER_ROLE,
        AssumeRolePolicyDocument=json.dumps(trust_policy(ACCOUNT_ID, _external_id(stack))),
        Description="qrie read-only inventory role",
    )


def small_accounts(
    stack: LocalStack,
    count: int,
    base: int = 210_000_000_000,
    buckets: int = 1,
    users: int = 1,
    threads: int = 32,
) -> Seeded:
    """``count`` onboarded accounts with ``buckets`` buckets and ``users`` users each,
    registered ACTIVE in the table. Call inside ``stack.apply_env()``."""
    started = time.perf_counter()
    admin = _Admin()
    ids = [account_id(base, i) for i in range(count)]

    def one(account: str) -> None:
        iam, s3, ec2 = admin.clients(account, "iam", "s3", "ec2")
        _onboard(iam, stack)
        for i in range(buckets):
            s3.create_bucket(Bucket=f"qrie-bench-{account}-{i}")
        for i in range(users):
            iam.create_user(UserName=f"bench-user-{i}")
        # the account's EC2 backend is created now, not during the timed inventory
        ec2.get_ebs_encryption_by_default()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, ids))
    Store(stack.table_name).put_accounts(
        Account(a, name=f"bench-{i:04d}", tags={"env": "bench"}) for i, a in enumerate(ids)
    )
    return Seeded(ids, time.perf_counter() - started, {"buckets": buckets, "users": users})


def big_account(
    stack: LocalStack, account: str, buckets: int, users: int, threads: int = 32
) -> Seeded:
    """One onboarded account with ``buckets`` buckets and ``users`` IAM users."""
    started = time.perf_counter()
    admin = _Admin()
    iam, s3, ec2 = admin.clients(account, "iam", "s3", "ec2")
    _onboard(iam, stack)
    ec2.get_ebs_encryption_by_default()
    work = [("b", i) for i in range(buckets)] + [("u", i) for i in range(users)]

    def one(unit: tuple[str, int]) -> None:
        kind, i = unit
        if kind == "b":
            s3.create_bucket(Bucket=f"qrie-mem-{account}-{i}")
        else:
            iam.create_user(UserName=f"mem-user-{i:05d}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, work))
    Store(stack.table_name).put_accounts([Account(account, name=f"mem-{buckets}")])
    return Seeded([account], time.perf_counter() - started, {"buckets": buckets, "users": users})
