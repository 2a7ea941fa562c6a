"""A registered member account: what jobs over ``"*"`` run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qrie.domain.vocabulary import AccountStatus

SOURCE_MANUAL = "manual"
SOURCE_ORGANIZATIONS = "organizations"


@dataclass(frozen=True)
class Account:
    account_id: str
    status: AccountStatus = AccountStatus.ACTIVE
    name: str = ""
    source: str = SOURCE_MANUAL  # manual | organizations
    tags: Mapping[str, str] = field(default_factory=dict)
    org_status: str | None = None  # the organization's own state, e.g. PENDING_CLOSURE
    added_at: str | None = None
    updated_at: str | None = None

    @property
    def active(self) -> bool:
        return self.status is AccountStatus.ACTIVE

    def to_dict(self) -> dict[str, Any]:
        data = {
            "account_id": self.account_id,
            "name": self.name,
            "status": self.status.value,
            "source": self.source,
            "tags": dict(self.tags),
            "org_status": self.org_status,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
        }
        return {k: v for k, v in data.items() if v is not None}
