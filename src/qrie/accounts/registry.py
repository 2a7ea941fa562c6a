"""Account registry: the member accounts jobs run over.

One item per account (``PK=ACCOUNT``, ``SK=<account id>``; see :mod:`qrie.store.keys`) holding
``AccountId``, ``Name``, ``Status`` (``ACTIVE`` or ``SUSPENDED``), optional ``Tags`` and where it
came from (``Source``: ``manual`` or ``organizations``). Jobs over ``"*"`` run the ACTIVE accounts
and list the others as skipped with a reason (``JobService.resolve_accounts``).

:func:`sync_from_organizations` reads AWS Organizations ``ListAccounts`` (every page) and maps the
organization's account state to the registry's status:

==================================================  ==========
Organizations ``State`` (or the older ``Status``)   registry
==================================================  ==========
ACTIVE                                              ACTIVE
SUSPENDED, PENDING_CLOSURE, CLOSED                  SUSPENDED
PENDING_ACTIVATION (invited, not yet usable)        SUSPENDED
==================================================  ==========

A name already in the registry is kept (someone chose it); an account without one takes its
Organizations name. Accounts registered earlier but absent from the organization are reported,
never deleted: removing an account is an explicit decision (``qrie accounts remove``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from qrie.domain import Account, AccountStatus, now_iso
from qrie.domain.accounts import SOURCE_MANUAL, SOURCE_ORGANIZATIONS
from qrie.domain.findings import REASON_ACCOUNT_REMOVED
from qrie.errors import ValidationError
from qrie.models import ACCOUNT_RE
from qrie.scan.engine import resolve_deleted
from qrie.store.table import Store

ACTIVE = AccountStatus.ACTIVE
SUSPENDED = AccountStatus.SUSPENDED

# Organizations account state -> registry status (anything unknown is not runnable).
ORG_STATUS: Mapping[str, AccountStatus] = {
    "ACTIVE": ACTIVE,
    "SUSPENDED": SUSPENDED,
    "PENDING_CLOSURE": SUSPENDED,
    "CLOSED": SUSPENDED,
    "PENDING_ACTIVATION": SUSPENDED,
}

MAX_NAME = 256
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


# ---------------------------------------------------------------------------- validation
def validate_account_id(value: str) -> str:
    """``value`` stripped, or ValidationError saying an account id is 12 digits."""
    account_id = str(value).strip()
    if not ACCOUNT_RE.fullmatch(account_id):
        raise ValidationError(
            f"account id must be 12 digits (e.g. 123456789012), got {value!r}", field="account_id"
        )
    return account_id


def parse_account_list(value: str) -> list[str]:
    """A comma-separated list of 12-digit account ids, validated and de-duplicated in order."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise ValidationError(
            'accounts: give 12-digit account ids separated by commas, or "*"', field="accounts"
        )
    bad = [p for p in parts if not ACCOUNT_RE.fullmatch(p)]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5])
        raise ValidationError(f"accounts: account ids must be 12 digits: {shown}", field="accounts")
    return list(dict.fromkeys(parts))


def parse_tags(pairs: Iterable[str]) -> dict[str, str]:
    """``["team=sec", "env=prod"]`` -> ``{"team": "sec", "env": "prod"}``, or ValidationError."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"tag: expected key=value, got {pair!r}", field="tags")
        if len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise ValidationError(
                f"tag: key at most {MAX_TAG_KEY} and value at most {MAX_TAG_VALUE} characters: "
                f"{pair[:40]!r}",
                field="tags",
            )
        tags[key] = value.strip()
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"tags: at most {MAX_TAGS} tags, got {len(tags)}", field="tags")
    return tags


# ---------------------------------------------------------------------------- manual registry
def list_accounts(store: Store) -> list[Account]:
    """Every registered account, by id."""
    return sorted(store.list_accounts(), key=lambda a: a.account_id)


def add_account(
    store: Store,
    account_id: str,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Account:
    """Register ``account_id`` as ACTIVE (or update it: a new name replaces the old one, new tags
    are merged into the old ones). Returns the stored account."""
    account_id = validate_account_id(account_id)
    if name is not None and len(name) > MAX_NAME:
        raise ValidationError(f"name: at most {MAX_NAME} characters", field="name")
    existing = store.get_account(account_id) or Account(account_id, source=SOURCE_MANUAL)
    now = now_iso()
    account = replace(
        existing,
        status=ACTIVE,
        name=name.strip() if name is not None else existing.name,
        tags={**existing.tags, **(tags or {})},
        added_at=existing.added_at or now,
        updated_at=now,
    )
    store.put_accounts([account])
    return account


def remove_account(store: Store, account_id: str) -> bool:
    """Deregister ``account_id``; False if it was not registered. Its open findings are closed
    with reason ``account-removed`` (qrie no longer looks at the account: they can be neither
    confirmed nor fixed); its inventory stays until swept."""
    account_id = validate_account_id(account_id)
    removed = store.remove_account(account_id)
    if removed:
        resolve_deleted(store, account_id, None, datetime.now(UTC), reason=REASON_ACCOUNT_REMOVED)
    return removed


# ---------------------------------------------------------------------------- Organizations
@dataclass(frozen=True)
class OrgAccount:
    """One account as AWS Organizations lists it."""

    account_id: str
    name: str
    status: AccountStatus  # registry status: ACTIVE | SUSPENDED
    org_status: str  # the organization's own state, e.g. PENDING_CLOSURE


def org_accounts(page: Mapping[str, Any]) -> list[OrgAccount]:
    """The accounts of one ``ListAccounts`` page, with their registry status. ``State`` (the
    newer field, which knows CLOSED and PENDING_ACTIVATION) wins over ``Status``."""
    found = []
    for raw in page.get("Accounts", []):
        account_id = str(raw.get("Id", ""))
        if not ACCOUNT_RE.fullmatch(account_id):
            continue  # never register something that cannot be an account
        org_status = str(raw.get("State") or raw.get("Status") or "UNKNOWN").upper()
        found.append(
            OrgAccount(
                account_id=account_id,
                name=str(raw.get("Name", "")),
                status=ORG_STATUS.get(org_status, SUSPENDED),
                org_status=org_status,
            )
        )
    return found


def iter_org_accounts(org_client: Any, page_size: int | None = None) -> Iterator[OrgAccount]:
    """Every account of the organization, page by page (``ListAccounts`` is paginated)."""
    config: dict[str, Any] = {"PageSize": page_size} if page_size else {}
    for page in org_client.get_paginator("list_accounts").paginate(PaginationConfig=config):
        yield from org_accounts(page)


@dataclass
class SyncReport:
    """What a sync changed. ``not_in_org``: registered accounts Organizations did not list
    (kept, not deleted)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # status, name or org state changed
    unchanged: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    not_in_org: list[str] = field(default_factory=list)
    org_statuses: dict[str, str] = field(default_factory=dict)  # non-ACTIVE ones: id -> state

    @property
    def seen(self) -> int:
        return len(self.active) + len(self.suspended)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "added": self.added,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "active": len(self.active),
            "suspended": self.suspended,
            "org_statuses": self.org_statuses,
            "not_in_org": self.not_in_org,
        }


def sync_from_organizations(
    store: Store, org_client: Any, page_size: int | None = None, dry_run: bool = False
) -> SyncReport:
    """Register every account of the organization with its status (see the module docstring).
    ``dry_run`` reports what would change without writing."""
    registered = {a.account_id: a for a in store.list_accounts()}
    report = SyncReport()
    now = now_iso()
    writes: list[Account] = []
    listed: set[str] = set()
    for acct in iter_org_accounts(org_client, page_size):
        if acct.account_id in listed:
            continue
        listed.add(acct.account_id)
        (report.active if acct.status is ACTIVE else report.suspended).append(acct.account_id)
        if acct.org_status != ACTIVE:
            report.org_statuses[acct.account_id] = acct.org_status
        old = registered.get(acct.account_id)
        name = (old.name or acct.name) if old else acct.name
        if old is None:
            report.added.append(acct.account_id)
        elif (old.status, old.name, old.org_status) != (acct.status, name, acct.org_status):
            report.updated.append(acct.account_id)
        else:
            report.unchanged.append(acct.account_id)
            continue
        base = old or Account(acct.account_id, source=SOURCE_ORGANIZATIONS, added_at=now)
        writes.append(
            replace(base, name=name, status=acct.status, org_status=acct.org_status, updated_at=now)
        )
    report.not_in_org = sorted(set(registered) - listed)
    if writes and not dry_run:
        store.put_accounts(writes)
    return report
