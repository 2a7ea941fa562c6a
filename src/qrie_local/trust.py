"""A role's trust policy as AWS evaluates it for ``sts:AssumeRole``, for the local AWS
(:mod:`qrie_local.moto_patches` refuses an AssumeRole it does not allow; moto alone allows any).

A statement allows the call when its Effect is Allow, its Action covers ``sts:AssumeRole``, its
Principal names the caller -- ``*``, the caller's account (``<id>`` or ``arn:...:root``) or the
caller's own ARN; for an AWS service (Lambda assuming a function's execution role), its
``Service`` -- and every one of its conditions holds; an Allow that is not denied by a Deny
statement allows the call. Conditions on ``sts:ExternalId``, ``aws:PrincipalArn`` (a role
session's is its role's ARN, path included) and ``aws:PrincipalAccount`` are evaluated with the
String and Arn operators (Equals, NotEquals, EqualsIgnoreCase, Like, NotLike, their IfExists
forms); any other condition cannot be evaluated here and does not hold, so the call is refused
rather than allowed on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qrie.inventory.iam import parse_policy_document

__all__ = ["Caller", "allows"]

_ROOT = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")
_ACTIONS = frozenset({"sts:assumerole", "sts:*", "*"})


@dataclass(frozen=True)
class Caller:
    """Who calls AssumeRole, and with which ExternalId (None: none given)."""

    principal_arn: str  # for a role session: the role's ARN
    account_id: str
    external_id: str | None = None
    service: str | None = None  # an AWS service principal (lambda.amazonaws.com) calling

    def context(self) -> dict[str, str | None]:
        return {
            "sts:externalid": self.external_id,
            "aws:principalarn": self.principal_arn,
            "aws:principalaccount": self.account_id,
        }


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _names_caller(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if caller.service is not None:
        return caller.service in {str(v) for v in _listed(principal.get("Service", []))}
    for value in _listed(principal.get("AWS", [])):
        root = _ROOT.match(str(value))
        if value == "*" or value in {caller.account_id, caller.principal_arn}:
            return True
        if root is not None and root.group(1) == caller.account_id:
            return True
    return False


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _test(operator: str, pattern: Any, value: str) -> bool | None:
    """Whether ``value`` matches one pattern under ``operator`` (its positive form); None for an
    operator this module does not evaluate."""
    if operator in {"StringEquals", "ArnEquals"}:
        return str(pattern) == value
    if operator == "StringEqualsIgnoreCase":
        return str(pattern).lower() == value.lower()
    if operator in {"StringLike", "ArnLike"}:
        return _like(str(pattern), value)
    return None


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _holds(operator: str, block: Any, context: Mapping[str, str | None]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if not isinstance(block, Mapping):
        return False
    for key, patterns in block.items():
        lowered = str(key).lower()
        if lowered not in context:
            return False  # a condition the local AWS cannot evaluate: not allowed on a guess
        value = context[lowered]
        if value is None:
            if if_exists or negated:
                continue
            return False
        matches = [_test(positive, p, value) for p in _listed(patterns)]
        if None in matches:
            return False
        if any(matches) == negated:
            return False
    return True


def _applies(statement: Mapping[str, Any], caller: Caller) -> bool:
    actions = {str(a).lower() for a in _listed(statement.get("Action", []))}
    if not actions & _ACTIONS or not _names_caller(statement.get("Principal"), caller):
        return False
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, Mapping):
        return False
    context = caller.context()
    return all(_holds(str(op), block, context) for op, block in conditions.items())


def allows(trust_policy: Any, caller: Caller) -> bool:
    """Whether the trust policy (a dict, or JSON text as IAM stores it) lets ``caller`` assume
    the role."""
    document = parse_policy_document(trust_policy) or {}
    statements = [s for s in _listed(document.get("Statement", [])) if isinstance(s, Mapping)]
    if any(s.get("Effect") == "Deny" and _applies(s, caller) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _applies(s, caller) for s in statements)
