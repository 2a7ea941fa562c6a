"""Findings: one (account, policy, resource) that a policy judged non-compliant, and its life.

==============================  ============================================================
change                          effect
==============================  ============================================================
:meth:`Finding.open`            a new finding: OPEN, FirstSeen = LastSeen = now
:meth:`Finding.refreshed`       OPEN and seen again: LastSeen, LastJob, evidence follow
:meth:`Finding.reopened`        RESOLVED and violated again: OPEN, FirstSeen kept, ReopenedAt
:meth:`Finding.resolved`        closed with a reason: ``compliant``, ``resource-deleted``, …
:meth:`Finding.muted`           still failing, accepted by a mute: MUTED with its reason
:meth:`Finding.unmuted`         the mute expired or was removed: OPEN again
==============================  ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from qrie.domain.mutes import Mute
from qrie.domain.resource import Resource
from qrie.domain.vocabulary import FindingState, Severity

MAX_EVIDENCE = 1000  # characters: keeps every finding small and bounded

REASON_COMPLIANT = "compliant"
REASON_DELETED = "resource-deleted"
REASON_ACCOUNT_REMOVED = "account-removed"


def bounded_evidence(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 1] + "…"


@dataclass(frozen=True)
class Finding:
    account_id: str
    policy_id: str
    arn: str
    state: FindingState
    severity: Severity
    title: str = ""
    evidence: str = ""
    resource_type: str = ""
    scope: str = ""
    region: str | None = None  # the resource's region; None for global resources (IAM)
    service: str = ""
    first_seen: str = ""
    last_seen: str = ""
    resolved_at: str | None = None
    resolved_reason: str | None = None
    reopened_at: str | None = None
    opened_by_job: str | None = None
    last_job: str | None = None
    muted_by: str | None = None  # the mute's id, while MUTED
    muted_reason: str | None = None
    muted_until: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state is FindingState.OPEN

    @property
    def is_muted(self) -> bool:
        return self.state is FindingState.MUTED

    @property
    def is_failing(self) -> bool:
        """The resource fails the policy (OPEN or MUTED)."""
        return self.state is not FindingState.RESOLVED

    @property
    def key(self) -> tuple[str, str]:
        """(policy id, arn): unique within an account."""
        return (self.policy_id, self.arn)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(
        cls,
        resource: Resource,
        policy_id: str,
        severity: Severity,
        title: str,
        evidence: str,
        job_id: str,
        now: str,
    ) -> Finding:
        return cls(
            account_id=resource.account_id,
            policy_id=policy_id,
            arn=resource.arn,
            state=FindingState.OPEN,
            severity=severity,
            title=title,
            evidence=bounded_evidence(evidence),
            resource_type=resource.type,
            scope=resource.scope,
            region=resource.region,
            service=resource.service,
            first_seen=now,
            last_seen=now,
            opened_by_job=job_id,
            last_job=job_id,
        )

    def refreshed(
        self, severity: Severity, title: str, evidence: str, job_id: str, now: str
    ) -> Finding:
        """Seen again while OPEN: LastSeen and LastJob move; evidence, severity and title follow
        the latest evaluation."""
        return replace(
            self,
            severity=severity,
            title=title,
            evidence=bounded_evidence(evidence),
            last_seen=now,
            last_job=job_id,
        )

    def reopened(
        self, severity: Severity, title: str, evidence: str, job_id: str, now: str
    ) -> Finding:
        """Violated again after it was resolved: OPEN, FirstSeen kept, ReopenedAt set."""
        return replace(
            self.refreshed(severity, title, evidence, job_id, now),
            state=FindingState.OPEN,
            resolved_at=None,
            resolved_reason=None,
            reopened_at=now,
            opened_by_job=job_id,
        )

    def resolved(self, reason: str, now: str, job_id: str | None = None) -> Finding:
        return replace(
            self,
            state=FindingState.RESOLVED,
            resolved_at=now,
            resolved_reason=reason,
            last_job=job_id or self.last_job,
            muted_by=None,
            muted_reason=None,
            muted_until=None,
        )

    def muted(self, mute: Mute) -> Finding:
        return replace(
            self,
            state=FindingState.MUTED,
            muted_by=mute.mute_id,
            muted_reason=mute.reason,
            muted_until=mute.expires_at,
        )

    def unmuted(self) -> Finding:
        return replace(
            self, state=FindingState.OPEN, muted_by=None, muted_reason=None, muted_until=None
        )

    def to_dict(self) -> dict[str, Any]:
        """The finding in the JSON vocabulary of the API, scripts and exports (None dropped)."""
        data = {
            "account_id": self.account_id,
            "policy_id": self.policy_id,
            "resource_arn": self.arn,
            "resource_type": self.resource_type,
            "service": self.service,
            "scope": self.scope,
            "region": self.region,
            "state": self.state.value,
            "severity": self.severity.value,
            "title": self.title,
            "evidence": self.evidence,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "resolved_at": self.resolved_at,
            "resolved_reason": self.resolved_reason,
            "reopened_at": self.reopened_at,
            "opened_by_job": self.opened_by_job,
            "last_job": self.last_job,
            "muted_by": self.muted_by,
            "muted_reason": self.muted_reason,
            "muted_until": self.muted_until,
        }
        return {k: v for k, v in data.items() if v is not None}
