"""Policy registry: every policy by id, and selection by "<id>", "<service>.*" or "*"."""

from __future__ import annotations

import importlib
from functools import cache

from qrie.policies.base import Policy

# Each module defines ``POLICIES: list[Policy]``.
POLICY_MODULES: tuple[str, ...] = ("qrie.policies.s3", "qrie.policies.ec2", "qrie.policies.iam")


@cache
def all_policies() -> dict[str, Policy]:
    policies: dict[str, Policy] = {}
    for name in POLICY_MODULES:
        module = importlib.import_module(name)
        for policy in module.POLICIES:
            if policy.id in policies:
                raise RuntimeError(f"duplicate policy id {policy.id}")
            policies[policy.id] = policy
    return policies


def get_policy(policy_id: str) -> Policy:
    policies = all_policies()
    if policy_id not in policies:
        raise KeyError(policy_id)
    return policies[policy_id]


def select(spec: str) -> list[Policy]:
    """Policies matching "<id>", "<service>.*" or "*" (empty list when nothing matches)."""
    policies = all_policies()
    if spec == "*":
        return list(policies.values())
    if spec.endswith(".*"):
        service = spec[:-2]
        return [p for p in policies.values() if p.service == service]
    return [policies[spec]] if spec in policies else []


def services_of(policies: list[Policy]) -> list[str]:
    """The services the given policies cover, in a stable order."""
    return sorted({p.service for p in policies})
