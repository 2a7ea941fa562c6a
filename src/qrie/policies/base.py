"""The policy contract: metadata plus a pure ``evaluate(resource, now) -> Verdict``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from qrie.domain import Resource, Severity


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


@dataclass(frozen=True)
class Policy:
    """``evaluate`` returns None when the policy does not apply to the resource (e.g. MFA
    delete on an unversioned bucket, IMDSv2 on a stopped instance)."""

    id: str  # "<service>.<name>"
    service: str
    resource_types: frozenset[str]
    title: str
    severity: Severity
    cis: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"v3.0": ("2.1.1",), ...}
    remediation: str = ""
    evaluate: Evaluator = field(default=lambda _r, _n: None, repr=False, compare=False)

    def applies_to(self, resource: Resource) -> bool:
        return resource.type in self.resource_types

    def cis_ids(self) -> list[str]:
        return [f"CIS {version} {cid}" for version, ids in sorted(self.cis.items()) for cid in ids]


def needs(resource: Resource, *attributes: str) -> Verdict | None:
    """An ``unknown`` verdict if any of ``attributes`` could not be read, else None."""
    for attribute in attributes:
        reason = resource.unknown(attribute)
        if reason is not None:
            return Verdict.unknown(attribute, reason)
        if attribute not in resource.config:
            return Verdict.unknown(attribute, "not collected")
    return None
