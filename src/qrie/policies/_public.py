"""Whether a resource policy grants public access, by AWS's own definition (S3 Block Public
Access, "the meaning of public"), not by one API's answer or a literal ``"Principal": "*"``.

An ``Allow`` statement is public when its principal is everyone -- ``"*"``, a principal value
with a wildcard (``{"AWS": "*"}``, ``arn:aws:iam::*:root``), or any ``NotPrincipal`` (everyone
but the listed) -- unless its condition pins the caller down with a fixed value of a key that
only known callers can match: ``aws:SourceIp`` ranges that leave out part of the Internet,
``aws:SourceVpc``/``aws:SourceVpce``, ``aws:SourceArn``/``aws:SourceAccount``/
``aws:SourceOwner``, ``aws:PrincipalOrgID``/``aws:PrincipalOrgPaths``/``aws:PrincipalAccount``/
``aws:PrincipalArn``, ``aws:userid``, or the bucket's KMS key (``s3:x-amz-server-side-encryption-
aws-kms-key-id``). A value is fixed when it holds no wildcard (``*``, ``?``); ``aws:userid`` may
end in ``:*`` after a role id (``AROA...:*``), as AWS allows. Operators ending in ``IfExists``
and ``ForAllValues:`` sets never restrict (a request without the key passes them), nor do the
negated ones (``StringNotEquals``, ``NotIpAddress``: everyone else is let in). Conditions on
other keys do not make a statement private. Conditions are ANDed: one restricting test suffices.

Pure: used by the S3 policies, and by the local AWS to refuse public policies where Block Public
Access forbids them, as S3 does.
"""

from __future__ import annotations

import re
from typing import Any

from qrie.policies._net import world_reach
from qrie.policies._util import as_list, policy_statements

# Condition keys whose fixed values restrict a statement to known callers.
RESTRICTING_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:userid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    }
)
SOURCE_IP = "aws:sourceip"
# Positive matching operators (a request must carry one of the listed values).
MATCHING_OPERATORS = frozenset(
    {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"}
)
ROLE_SESSION_USERID = re.compile(r"^AROA[A-Z0-9]+:\*$")


def _fixed(key: str, value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if key == "aws:userid" and ROLE_SESSION_USERID.match(value):
        return True
    return "*" not in value and "?" not in value


def _restricts(operator: str, key: str, values: list[Any]) -> bool:
    """Whether one ``operator: {key: values}`` test limits the statement to known callers."""
    op = operator.lower()
    if op.endswith("ifexists") or op.startswith("forallvalues:") or not values:
        return False
    op = op.removeprefix("foranyvalue:")
    if key == SOURCE_IP:
        if op != "ipaddress":
            return False
        ranges = [v for v in values if isinstance(v, str)]
        return bool(ranges) and world_reach(4, ranges) is None and world_reach(6, ranges) is None
    return (
        key in RESTRICTING_KEYS and op in MATCHING_OPERATORS and all(_fixed(key, v) for v in values)
    )


def restricting_condition(condition: object) -> str | None:
    """The first test of ``condition`` that limits its statement to known callers, as
    ``"<Operator> <key>"``, or None."""
    if not isinstance(condition, dict):
        return None
    for operator, tests in condition.items():
        if not isinstance(tests, dict):
            continue
        for key, value in tests.items():
            if _restricts(str(operator), str(key).lower(), as_list(value)):
                return f"{operator} {key}"
    return None


def principal_is_everyone(statement: dict[str, Any]) -> bool:
    """The statement applies to anyone: ``NotPrincipal``, ``"*"`` or a wildcard principal."""
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(
            isinstance(value, str) and ("*" in value or "?" in value)
            for values in principal.values()
            for value in as_list(values)
        )
    return False


def public_statements(document: object) -> list[str] | None:
    """The statements (Sid, or index) that make the policy public, or None when the document
    is not a JSON policy."""
    statements = policy_statements(document)
    if statements is None:
        return None
    return [
        str(statement.get("Sid") or index)
        for index, statement in enumerate(statements)
        if statement.get("Effect") == "Allow"
        and principal_is_everyone(statement)
        and restricting_condition(statement.get("Condition")) is None
    ]
