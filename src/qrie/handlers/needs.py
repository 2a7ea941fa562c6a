"""What a function needs from template.yaml: the environment variables its handler reads and,
per resource of the template, the IAM actions it calls. Each handler declares its ``NEEDS`` next
to its code; tests/unit/test_template.py holds the template to them (no more, no less), and
tests/unit/test_events.py runs every handler with only its template environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MEMBER_ROLES",
    "TABLE_ITEMS",
    "Needs",
]

# The member accounts' roles (the stack's MemberRoleName, in every account).
MEMBER_ROLES = "MemberRoles"
# The table as qrie's store uses it (src/qrie/store/): GetItem; Query, on the table and its
# index; UpdateItem and DeleteItem, alone or in TransactWriteItems; BatchWriteItem.
TABLE_ITEMS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
)


@dataclass(frozen=True)
class Needs:
    """A function's environment (besides Powertools' ``POWERTOOLS_*``) and its access: template
    logical id (or :data:`MEMBER_ROLES`) -> IAM actions."""

    environment: frozenset[str]
    access: Mapping[str, frozenset[str]]
