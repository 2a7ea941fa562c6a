"""Mutes: a team's decision to accept a failing check for a while, with its reason.

A mute names a policy (an id, ``<service>.*`` or ``*``), an account (an id or ``*``) and a
resource pattern (shell-style on the ARN, ``*`` for all), a reason and an expiry. A failing
resource it matches keeps its finding, in state MUTED (visible, never deleted); when the mute
expires or is removed, the next scan (or the mute's removal) opens the finding again.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

MAX_MUTE_REASON = 500


@dataclass(frozen=True)
class Mute:
    mute_id: str
    policy: str  # a policy id, "<service>.*" or "*"
    account: str  # a 12-digit account id or "*"
    resource: str  # a shell-style pattern on the resource ARN ("*": every resource)
    reason: str
    expires_at: str  # the stored time format; a mute always expires
    created_at: str = ""

    def active(self, now: str) -> bool:
        """Still in force at ``now`` (both in the stored time format, which sorts as time)."""
        return now < self.expires_at

    def matches(self, account_id: str, policy_id: str, arn: str) -> bool:
        if self.account not in ("*", account_id):
            return False
        if self.policy not in ("*", policy_id):
            service = policy_id.split(".", 1)[0]
            if self.policy != f"{service}.*":
                return False
        return fnmatch.fnmatchcase(arn, self.resource)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mute_id": self.mute_id,
            "policy": self.policy,
            "account": self.account,
            "resource": self.resource,
            "reason": self.reason,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
        }


def mute_for(mutes: list[Mute], account_id: str, policy_id: str, arn: str, now: str) -> Mute | None:
    """The first active mute that matches, or None."""
    for mute in mutes:
        if mute.active(now) and mute.matches(account_id, policy_id, arn):
            return mute
    return None
