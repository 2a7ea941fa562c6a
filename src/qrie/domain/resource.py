"""An inventoried resource: what collectors yield, the store keeps and policies judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GLOBAL = "global"  # the scope of resources that live in no region (IAM, S3's bucket list)


@dataclass(frozen=True)
class Resource:
    """One inventoried resource. ``scope`` is the region it lives in, or ``global``.

    ``config`` is normalized, JSON-safe and small (its shape per type:
    :mod:`qrie.inventory.schema`). An attribute that could not be read is ``None`` with its
    reason in ``config["unknown"][<attribute>]``: policies turn that into an ``unknown``
    verdict, never into a silent pass.
    """

    arn: str
    account_id: str
    service: str
    type: str  # e.g. "s3.bucket", "ec2.instance", "iam.user"
    scope: str
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def region(self) -> str | None:
        """The region the resource lives in: its scope, or for a global resource the region
        its config names (an S3 bucket's location); None for IAM."""
        if self.scope != GLOBAL:
            return self.scope
        region = self.config.get("region")
        return region if isinstance(region, str) and region else None

    def unknown(self, attribute: str) -> str | None:
        """The reason ``attribute`` could not be read, or None if it was read."""
        reasons = self.config.get("unknown") or {}
        value = reasons.get(attribute) if isinstance(reasons, dict) else None
        return str(value) if value is not None else None
