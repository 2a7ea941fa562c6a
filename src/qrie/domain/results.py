"""Verdicts as recorded: every (policy, resource) a scan judged, not only the failures.

A scan records one :class:`Evaluation` per (account, policy, resource) it evaluated, with its
status and evidence, and one :class:`PolicyTally` per (account, policy): how many resources
passed, failed, were unknown or not applicable, and how many findings are open or muted. A
control of a framework (CIS) is judged from the tallies of the policies that implement it; an
(account, service) without a successful inventory and scan is *not assessed* -- never passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from qrie.domain.vocabulary import Severity


class ResultStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"  # the policy does not apply to this resource
    UNKNOWN = "unknown"  # an attribute the policy needs could not be read
    NOT_ASSESSED = "not_assessed"  # no successful inventory (or scan) of the account's service


@dataclass(frozen=True)
class Evaluation:
    """One policy's verdict on one resource, as of the latest scan; ``since`` is when it took
    this status."""

    account_id: str
    policy_id: str
    arn: str
    status: ResultStatus
    evidence: str
    resource_type: str = ""
    region: str | None = None
    since: str = ""
    last_job: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.policy_id, self.arn)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "account_id": self.account_id,
            "policy_id": self.policy_id,
            "resource_arn": self.arn,
            "resource_type": self.resource_type,
            "region": self.region,
            "status": self.status.value,
            "evidence": self.evidence,
            "since": self.since,
            "last_job": self.last_job,
        }
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class PolicyTally:
    """One account's results for one policy after its latest scan (zeros included)."""

    account_id: str
    policy_id: str
    severity: Severity
    open: int  # open findings
    updated_at: str
    passed: int = 0
    failed: int = 0
    unknown: int = 0
    not_applicable: int = 0
    muted: int = 0  # failing resources whose finding is muted (counted in failed too)

    @property
    def evaluated(self) -> int:
        return self.passed + self.failed + self.unknown + self.not_applicable

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "policy_id": self.policy_id,
            "severity": self.severity.value,
            "open": self.open,
            "passed": self.passed,
            "failed": self.failed,
            "unknown": self.unknown,
            "not_applicable": self.not_applicable,
            "muted": self.muted,
            "updated_at": self.updated_at,
        }
