"""The closed sets of qrie's vocabulary. Each is a ``StrEnum``: a member is its text, so it
compares equal to, serializes as and is stored as that text."""

from __future__ import annotations

from enum import StrEnum

# The AWS services qrie inventories and scans: one task per (account, service). A collector
# (qrie.inventory) and policies (qrie.policies) exist for each; a unit test holds them together.
SERVICES: tuple[str, ...] = ("s3", "ec2", "iam")


class JobStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"  # every task succeeded
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"  # some failed, some succeeded
    FAILED = "FAILED"  # every task failed
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self is not JobStatus.IN_PROGRESS


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class TaskKind(StrEnum):
    """What a task (and a job: its operation) does."""

    INVENTORY = "inventory"
    SCAN = "scan"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for the most severe; sorts findings most severe first."""
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, value: object) -> Severity:
        """A severity from its text in any case, or ValueError naming the valid ones."""
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"unknown severity {str(value)[:40]!r} (one of {', '.join(SEVERITIES)})"
            ) from None


_SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}
SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, key=_SEVERITY_RANK.__getitem__))


class FindingState(StrEnum):
    OPEN = "OPEN"
    MUTED = "MUTED"  # still failing, accepted for a while by a mute (with its reason, expiry)
    RESOLVED = "RESOLVED"


# what a reader may filter findings by: one state (lower case) or all of them
FINDING_STATE_FILTERS: tuple[str, ...] = (*(s.value.lower() for s in FindingState), "all")


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"  # jobs over "*" run it
    SUSPENDED = "SUSPENDED"  # listed as skipped, with the reason
