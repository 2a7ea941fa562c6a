"""``python -m bench.iam_calls``: the IAM inventory's AWS calls per account against its size.

For each size (default 10, 1,000 and 5,000 users), one account of the in-process local AWS
(moto with qrie's patches, as the unit tests run it) is seeded with that many users -- half
with an access key, one in ten with a second key, one in four with a console password --
plus 20 customer-managed policies, 20 roles and 5 groups. The IAM collector then inventories
it exactly as the inventory engine does (``scopes``, then ``collect`` per scope, one region),
and a botocore hook on every client counts the calls by operation. With ``--latency-ms`` each call
also waits that long before it is sent (a network round trip: the wall time then shows what the
calls cost, not how fast moto answers).

Writes ``bench/results-iam-calls.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT

ACCOUNT = "123456789012"  # moto's default account: no AssumeRole in the way
REGIONS = ["us-east-1"]
POLICIES = 20
ROLES = 20
GROUPS = 5
RESULTS = ROOT / "bench" / "results-iam-calls.json"
PASSWORD = "Bench-password-123!"  # noqa: S105 - a local account's fake password
DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class CountingSession:
    """A member-account session whose clients count their calls (and may add latency)."""

    def __init__(self, latency_ms: float) -> None:
        import boto3

        self.account_id = ACCOUNT
        self.calls: Counter[str] = Counter()
        self._session = boto3.session.Session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._latency = latency_ms / 1000.0

    def client(self, service: str, region: str = "us-east-1") -> Any:
        from qrie.aws import client_config

        with self._lock:
            key = (service, region)
            if key not in self._clients:
                client = self._session.client(  # type: ignore[call-overload]
                    service, region_name=region, config=client_config()
                )
                client.meta.events.register("before-send", self._count)
                self._clients[key] = client
            return self._clients[key]

    def _count(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.calls[event_name.rsplit(".", maxsplit=1)[-1]] += 1
        if self._latency:
            time.sleep(self._latency)


def seed(users: int, rng: random.Random) -> dict[str, int]:
    """The account's IAM resources (see the module doc); what was created."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    keys = passwords = 0
    for index in range(users):
        name = f"bench-user-{index:05d}"
        iam.create_user(UserName=name)
        draw = rng.random()
        if draw < 0.5:
            iam.create_access_key(UserName=name)
            keys += 1
            if draw < 0.1:
                iam.create_access_key(UserName=name)
                keys += 1
        if rng.random() < 0.25:
            iam.create_login_profile(UserName=name, Password=PASSWORD)
            passwords += 1
    for index in range(GROUPS):
        iam.create_group(GroupName=f"bench-group-{index}")
    for index in range(POLICIES):
        iam.create_policy(PolicyName=f"bench-policy-{index}", PolicyDocument=json.dumps(DOCUMENT))
    for index in range(ROLES):
        iam.create_role(RoleName=f"bench-role-{index}", AssumeRolePolicyDocument=json.dumps(TRUST))
    return {"users": users, "access_keys": keys, "console_passwords": passwords}


def measure(users: int, latency_ms: float, seed_value: int = 7) -> dict[str, Any]:
    """One account of ``users`` users, inventoried once: calls by operation and wall time."""
    import boto3
    from moto import mock_aws

    from qrie.inventory.registry import get_collector
    from qrie_local import moto_patches

    moto_patches.apply()
    with mock_aws():
        seeded = seed(users, random.Random(seed_value))
        # moto builds the account's EC2 region (default VPC ...) on its first EC2 call, ~2 s of
        # the local AWS's own work: done before the timed run, as bench.seeding does
        boto3.client("ec2", region_name=REGIONS[0]).describe_regions()
        session = CountingSession(latency_ms)
        collector = get_collector("iam")
        started = time.perf_counter()
        resources: Counter[str] = Counter()
        for scope in collector.scopes(session, REGIONS):  # type: ignore[arg-type]
            for resource in collector.collect(session, scope):  # type: ignore[arg-type]
                resources[resource.type] += 1
        wall = time.perf_counter() - started
    return {
        "seeded": seeded,
        "calls": sum(session.calls.values()),
        "calls_by_operation": dict(sorted(session.calls.items())),
        "resources": dict(sorted(resources.items())),
        "seconds": round(wall, 2),
        "latency_ms": latency_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10,1000,5000", help="comma-separated sizes")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    results = []
    for users in (int(u) for u in args.users.split(",")):
        result = measure(users, args.latency_ms)
        results.append(result)
        print(
            f"{users:>6} users: {result['calls']:>6} calls in {result['seconds']:>7.2f} s  "
            f"{result['calls_by_operation']}"
        )
    args.output.write_text(json.dumps({"runs": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
