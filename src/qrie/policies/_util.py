"""Small pure helpers shared by the policy modules (no I/O, no clock)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from qrie.domain import Resource
from qrie.policies.base import Verdict, needs


def require(resource: Resource, *attributes: str) -> Verdict | None:
    """Like :func:`needs`, and also ``unknown`` when an attribute holds None without a reason.

    Use it for attributes where None is not a meaningful value (e.g. ``encrypted``); use plain
    ``needs`` where None is data (e.g. ``policy`` is None when a bucket has no policy).
    """
    missing = needs(resource, *attributes)
    if missing is not None:
        return missing
    for attribute in attributes:
        if resource.config.get(attribute) is None:
            return Verdict.unknown(attribute, "no value recorded")
    return None


def expect_flag(resource: Resource, attribute: str, expected: bool, where: str = "") -> Verdict:
    """Compliant when ``config[attribute]`` is ``expected`` (exactly True or False), otherwise a
    violation; the evidence is ``<attribute>=<value><where>``. Unknown when it was not read."""
    if missing := require(resource, attribute):
        return missing
    value = resource.config[attribute]
    evidence = f"{attribute}={value!r}{where}"
    return Verdict.compliant(evidence) if value is expected else Verdict.violation(evidence)


def as_list(value: object) -> list[Any]:
    """IAM-style "string or list of strings" as a list (None -> [])."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def policy_statements(document: object) -> list[dict[str, Any]] | None:
    """The statements of a policy document (dict or JSON text), or None if it is malformed."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None
    if not isinstance(document, dict):
        return None
    raw = document.get("Statement")
    if raw is None:
        return []
    return [s for s in as_list(raw) if isinstance(s, dict)]


def wildcard_match(pattern: str, value: str) -> bool:
    """IAM wildcard matching: ``*`` is any run of characters, ``?`` any one character."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or offset; naive means UTC) as an aware datetime, or None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def age(value: object, now: datetime) -> timedelta | None:
    """How long before ``now`` the timestamp ``value`` lies, or None if it is not a timestamp."""
    then = parse_time(value)
    if then is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now - then


def statements_dropped(resource: Resource, attribute: str) -> int:
    """How many statements the collector dropped from an over-size document at ``attribute``
    (``config["<attribute>_statements_dropped"]``; 0 when the document is complete)."""
    dropped = resource.config.get(f"{attribute}_statements_dropped")
    return dropped if isinstance(dropped, int) and dropped > 0 else 0
