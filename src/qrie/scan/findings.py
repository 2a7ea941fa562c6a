"""Finding items: their mapping to and from the table, their state changes, and the queries.

A finding is one (account, policy, resource ARN). Item keys (see :mod:`qrie.store.keys`)::

    PK = FINDING#<account>   SK = <policy_id>#<arn>
    GSI1PK = OPEN#<policy_id>   GSI1SK = <severity>#<account>#<arn>    (only while OPEN)

GSI1 is sparse: a resolved finding drops ``GSI1PK``/``GSI1SK`` and leaves the index, so
``OPEN#<policy>`` holds exactly the policy's open findings, grouped by severity then account.

Attributes: Account, Policy, Arn, ResourceType, Scope, Region (the resource's region when it has
one: the scope of regional resources, an S3 bucket's location; absent for IAM), Service, State
(``OPEN`` | ``RESOLVED``), Severity, Title, Evidence, FirstSeen, LastSeen, ResolvedAt,
ResolvedReason (``compliant`` | ``resource-deleted``), ReopenedAt, OpenedByJob, LastJob.
Times are ISO 8601 UTC strings (``2024-05-01T12:00:00.000000Z``).

Functions here work on *records*: the item's attributes without the table keys. Records are
what the queries yield and what the exports consume; :func:`finding_item` adds the keys back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from qrie.inventory.base import GLOBAL, Resource
from qrie.policies.base import SEVERITY_ORDER, Policy, Severity
from qrie.store import keys
from qrie.store.dynamo import values
from qrie.store.table import Store

OPEN = "OPEN"
RESOLVED = "RESOLVED"
REASON_COMPLIANT = "compliant"
REASON_DELETED = "resource-deleted"
STATES = ("open", "resolved", "all")
KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")
MAX_EVIDENCE = 1000  # characters; keeps every finding item small and bounded
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
SEVERITIES: tuple[str, ...] = tuple(
    s.value for s in sorted(Severity, key=SEVERITY_ORDER.__getitem__)
)

AccountsProvider = Callable[[], Iterable[str]]


# ---------------------------------------------------------------- times
def timestamp(now: datetime) -> str:
    """``now`` as the ISO 8601 UTC text stored in items (a naive datetime is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).strftime(TIME_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The aware datetime of a stored time (also accepts other ISO 8601 forms)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------- mapping
def gsi_sk(severity: str, account_id: str, arn: str) -> str:
    return f"{severity}#{account_id}#{arn}"


def finding_item(record: Mapping[str, Any]) -> dict[str, Any]:
    """The full table item of a finding record: its keys, plus the GSI1 keys while OPEN."""
    item = {k: v for k, v in record.items() if k not in KEY_ATTRIBUTES and v is not None}
    item["PK"] = keys.finding_pk(record["Account"])
    item["SK"] = keys.finding_sk(record["Policy"], record["Arn"])
    if record.get("State") == OPEN:
        item["GSI1PK"] = keys.open_finding_gsi_pk(record["Policy"])
        item["GSI1SK"] = gsi_sk(record["Severity"], record["Account"], record["Arn"])
    return item


def record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """A finding item without its table keys."""
    return {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}


def region_of(resource: Resource) -> str | None:
    if resource.scope != GLOBAL:
        return resource.scope
    region = resource.config.get("region")  # e.g. an S3 bucket's location
    return region if isinstance(region, str) and region else None


def _evidence(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 1] + "…"


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None}


def new_finding(
    resource: Resource, policy: Policy, evidence: str, job_id: str, now: str
) -> dict[str, Any]:
    """The record of a finding opened for the first time."""
    return _clean(
        {
            "Account": resource.account_id,
            "Policy": policy.id,
            "Arn": resource.arn,
            "ResourceType": resource.type,
            "Scope": resource.scope,
            "Region": region_of(resource),
            "Service": resource.service,
            "State": OPEN,
            "Severity": policy.severity.value,
            "Title": policy.title,
            "Evidence": _evidence(evidence),
            "FirstSeen": now,
            "LastSeen": now,
            "OpenedByJob": job_id,
            "LastJob": job_id,
        }
    )


def reopened(
    prior: Mapping[str, Any], policy: Policy, evidence: str, job_id: str, now: str
) -> dict[str, Any]:
    """A RESOLVED finding that is violated again: OPEN, FirstSeen kept, ReopenedAt set."""
    record = {k: v for k, v in prior.items() if k not in ("ResolvedAt", "ResolvedReason")}
    record.update(
        State=OPEN,
        Severity=policy.severity.value,
        Title=policy.title,
        Evidence=_evidence(evidence),
        LastSeen=now,
        ReopenedAt=now,
        OpenedByJob=job_id,
        LastJob=job_id,
    )
    return record


def refreshed(
    prior: Mapping[str, Any], policy: Policy, evidence: str, job_id: str, now: str
) -> dict[str, Any]:
    """An OPEN finding seen again: LastSeen and LastJob move; evidence, severity, title follow
    the latest evaluation (unchanged inventory and policy change only LastSeen and LastJob)."""
    record = dict(prior)
    record.update(
        Severity=policy.severity.value,
        Title=policy.title,
        Evidence=_evidence(evidence),
        LastSeen=now,
        LastJob=job_id,
    )
    return record


def resolved(
    prior: Mapping[str, Any], reason: str, now: str, job_id: str | None = None
) -> dict[str, Any]:
    """An OPEN finding closed: RESOLVED with the reason; it leaves the open index."""
    record = dict(prior)
    record.update(State=RESOLVED, ResolvedAt=now, ResolvedReason=reason)
    if job_id:
        record["LastJob"] = job_id
    return record


# ---------------------------------------------------------------- queries
def _severity(severity: str | Severity | None) -> str | None:
    if severity is None:
        return None
    value = str(severity).lower()
    if value not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    return value


def iter_account_findings(
    store: Store,
    account_id: str,
    policy_id: str | None = None,
    state: str = "all",
    severity: str | Severity | None = None,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """One account's findings (Query ``FINDING#<account>``, SK prefix ``<policy>#``), with
    State and Severity applied as filters. Streams page by page."""
    if state not in STATES:
        raise ValueError(f"unknown state {state!r} (one of {', '.join(STATES)})")
    sev = _severity(severity)
    conditions: list[str] = []
    names: dict[str, str] = {}
    filter_values: dict[str, Any] = {}
    if state != "all":
        conditions.append("#state = :state")
        names["#state"] = "State"
        filter_values.update(values(state=OPEN if state == "open" else RESOLVED))
    if sev is not None:
        conditions.append("#sev = :sev")
        names["#sev"] = "Severity"
        filter_values.update(values(sev=sev))
    for item in store.db.query(
        keys.finding_pk(account_id),
        sk_prefix=f"{policy_id}#" if policy_id else None,
        names=names or None,
        filter_expression=" AND ".join(conditions) or None,
        filter_values=filter_values or None,
        page_size=page_size,
    ):
        yield record_of(item)


def iter_open_by_policy(
    store: Store,
    policy_id: str,
    severity: str | Severity | None = None,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Open findings of one policy across accounts (Query GSI1 ``OPEN#<policy>``), ordered by
    severity, account, ARN. Streams page by page."""
    sev = _severity(severity)
    for item in store.db.query(
        keys.open_finding_gsi_pk(policy_id),
        sk_prefix=f"{sev}#" if sev else None,
        index=keys.JOBS_INDEX,
        page_size=page_size,
    ):
        yield record_of(item)


def _registry() -> Mapping[str, Policy]:
    from qrie.policies.registry import all_policies  # noqa: PLC0415 - policy modules on demand

    return all_policies()


def iter_findings(
    store: Store,
    account: str | None = None,
    policy: str | None = None,
    severity: str | Severity | None = None,
    state: str = "open",
    accounts_provider: AccountsProvider | None = None,
    policies: Mapping[str, Policy] | None = None,
    page_size: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Finding records matching every given filter, streamed (never a whole list).

    - ``account`` given: Query ``FINDING#<account>`` (SK prefix ``<policy>#`` when ``policy`` is
      given; state and severity as filters);
    - open findings otherwise: GSI1 ``OPEN#<policy>`` for ``policy``, or for every policy
      (of ``severity``, when given) of ``policies`` (default: the registry); GSI1SK starts with
      the severity, so a severity is also a key condition;
    - resolved or all findings otherwise: each account of ``accounts_provider()`` (default: the
      registered accounts) in turn.
    """
    if state not in STATES:
        raise ValueError(f"unknown state {state!r} (one of {', '.join(STATES)})")
    sev = _severity(severity)
    if account is not None:
        yield from iter_account_findings(store, account, policy, state, sev, page_size)
        return
    if state == "open":
        if policy is not None:
            policy_ids = [policy]
        else:
            catalog = policies if policies is not None else _registry()
            policy_ids = [p.id for p in catalog.values() if sev is None or p.severity == sev]
        for policy_id in policy_ids:
            yield from iter_open_by_policy(store, policy_id, sev, page_size)
        return
    accounts: Iterable[str] = (
        accounts_provider() if accounts_provider is not None else _registered(store)
    )
    for account_id in accounts:
        yield from iter_account_findings(store, account_id, policy, state, sev, page_size)


def _registered(store: Store) -> list[str]:
    return [str(item["SK"]) for item in store.list_accounts()]


# ---------------------------------------------------------------- dashboard summary
def summary_counts(
    account_id: str, counts: Mapping[str, int], policies: Iterable[Policy], now: str
) -> dict[str, dict[str, Any]]:
    """The SUMMARY items of one account: open findings per policy (0 included)."""
    return {
        p.id: {
            "Account": account_id,
            "Policy": p.id,
            "Severity": p.severity.value,
            "Open": int(counts.get(p.id, 0)),
            "UpdatedAt": now,
        }
        for p in policies
    }


def summary(store: Store) -> dict[str, Any]:
    """Open findings from the SUMMARY items (one per account x policy, written by each scan)::

    {"open": total,
     "by_severity": {"critical": n, "high": n, "medium": n, "low": n},
     "by_policy": {policy: {"severity": s, "open": n, "accounts": accounts with n > 0}},
     "by_account": {account: {"open": n, "by_severity": {...}}}}
    """
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_policy: dict[str, dict[str, Any]] = {}
    by_account: dict[str, dict[str, Any]] = {}
    total = 0
    for item in store.summary():
        account_id = str(item.get("Account", ""))
        policy_id = str(item.get("Policy", ""))
        severity = str(item.get("Severity", "")).lower()
        n = int(item.get("Open", 0))
        total += n
        by_severity[severity] = by_severity.get(severity, 0) + n
        entry = by_policy.setdefault(policy_id, {"severity": severity, "open": 0, "accounts": 0})
        entry["open"] += n
        entry["accounts"] += 1 if n else 0
        acct = by_account.setdefault(
            account_id, {"open": 0, "by_severity": dict.fromkeys(SEVERITIES, 0)}
        )
        acct["open"] += n
        acct["by_severity"][severity] = acct["by_severity"].get(severity, 0) + n
    return {
        "open": total,
        "by_severity": by_severity,
        "by_policy": dict(sorted(by_policy.items())),
        "by_account": dict(sorted(by_account.items())),
    }
