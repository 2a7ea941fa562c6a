"""The policy contract: metadata plus a pure ``evaluate(resource, now) -> Verdict``.

A policy is declared where its evaluator is written::

    @policy(
        id="s3.versioning",
        resource_types=BUCKET,
        title="S3 bucket versioning is not enabled",
        severity=Severity.MEDIUM,
        remediation="Enable versioning on the bucket (...).",
    )
    def versioning(resource: Resource, now: datetime) -> Verdict | None: ...

The decorator turns the function into a :class:`Policy` record (the function is its
``evaluate``); :mod:`qrie.policies.registry` finds every record of the package's modules.
Which framework controls a policy answers is data, not code: :mod:`qrie.policies.frameworks`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from qrie.domain import Resource, Severity

POLICY_ID = re.compile(r"^(?P<service>[a-z0-9]+)\.[a-z][a-z0-9_]*$")


class Outcome(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    UNKNOWN = "unknown"  # an attribute the policy needs could not be read


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    evidence: str  # names the attribute that decided, e.g. "versioning='Suspended'"

    @classmethod
    def compliant(cls, evidence: str) -> Verdict:
        return cls(Outcome.COMPLIANT, evidence)

    @classmethod
    def violation(cls, evidence: str) -> Verdict:
        return cls(Outcome.NON_COMPLIANT, evidence)

    @classmethod
    def unknown(cls, attribute: str, reason: str) -> Verdict:
        return cls(Outcome.UNKNOWN, f"{attribute} could not be read: {reason}")


Evaluator = Callable[[Resource, datetime], Verdict | None]


def _not_applicable(_resource: Resource, _now: datetime) -> Verdict | None:
    return None


RATIONALE = "Rationale:"


@dataclass(frozen=True)
class Policy:
    """``evaluate`` returns None when the policy does not apply to the resource (e.g. the
    default-security-group policy on another group, IMDSv2 on a terminated instance)."""

    id: str  # "<service>.<name>"
    service: str
    resource_types: frozenset[str]
    title: str
    severity: Severity
    remediation: str = ""
    evaluate: Evaluator = field(default=_not_applicable, repr=False, compare=False)

    def applies_to(self, resource: Resource) -> bool:
        return resource.type in self.resource_types

    def cis_ids(self) -> list[str]:
        """The framework requirements this policy answers, e.g. ``["CIS v3.0 2.1.4",
        "CIS v5.0 2.1.4"]`` (from the shipped framework files)."""
        from qrie.policies.frameworks import load_frameworks  # noqa: PLC0415 - data on demand

        return load_frameworks().requirements(self.id)

    @property
    def description(self) -> str:
        """What decides the verdict, in the evaluator's own words (its docstring)."""
        return inspect.getdoc(self.evaluate) or ""

    @property
    def rationale(self) -> str:
        """Why the check matters: the docstring's paragraph that starts with ``Rationale:``
        (every shipped policy has one; a test says so), as one sentence-case line, or ""."""
        for paragraph in self.description.split("\n\n"):
            if paragraph.startswith(RATIONALE):
                text = " ".join(paragraph[len(RATIONALE) :].split())
                return text[:1].upper() + text[1:]
        return ""


def policy(
    *,
    id: str,
    resource_types: str | Iterable[str],
    title: str,
    severity: Severity,
    remediation: str,
) -> Callable[[Evaluator], Policy]:
    """Declare the decorated evaluator a policy: returns its :class:`Policy` record.

    ``id`` is ``<service>.<snake_case name>`` and names the service; ``resource_types`` (one or
    several) must be types of that service. A malformed declaration fails at import time.
    """
    match = POLICY_ID.match(id)
    if match is None:
        raise ValueError(f"policy id {id!r} is not '<service>.<snake_case name>'")
    service = match["service"]
    types = frozenset([resource_types] if isinstance(resource_types, str) else resource_types)
    foreign = sorted(t for t in types if not t.startswith(f"{service}."))
    if not types or foreign:
        raise ValueError(f"policy {id}: resource types must be {service}.* types, got {foreign}")
    if not title.strip() or not remediation.strip():
        raise ValueError(f"policy {id}: title and remediation must not be empty")

    def declare(evaluate: Evaluator) -> Policy:
        return Policy(id, service, types, title, Severity(severity), remediation, evaluate)

    return declare


def needs(resource: Resource, *attributes: str) -> Verdict | None:
    """An ``unknown`` verdict if any of ``attributes`` could not be read, else None."""
    for attribute in attributes:
        reason = resource.unknown(attribute)
        if reason is not None:
            return Verdict.unknown(attribute, reason)
        if attribute not in resource.config:
            return Verdict.unknown(attribute, "not collected")
    return None
