"""Finding queries across accounts and policies, and the dashboard summary.

A finding is one (account, policy, resource ARN) (:class:`qrie.domain.Finding`); the store keeps
them per account, with a sparse index of the open ones per policy (see :mod:`qrie.store.keys`).
Everything here streams: a generator of findings is consumed page by page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from qrie.domain import FINDING_STATE_FILTERS, SEVERITIES, Finding, FindingState, Severity
from qrie.policies.base import Policy
from qrie.store.table import Store

AccountsProvider = Callable[[], Iterable[str]]


def parse_state(state: str) -> FindingState | None:
    """``open`` / ``muted`` / ``resolved`` / ``all`` (None), or ValueError naming the valid
    ones."""
    if state not in FINDING_STATE_FILTERS:
        choices = ", ".join(FINDING_STATE_FILTERS)
        raise ValueError(f"unknown state {state[:40]!r} (one of {choices})")
    return None if state == "all" else FindingState(state.upper())


def _severity(severity: str | Severity | None) -> Severity | None:
    return None if severity is None else Severity.parse(severity)


def _catalog() -> Mapping[str, Policy]:
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
) -> Iterator[Finding]:
    """Findings matching every given filter, streamed (never a whole list).

    - ``account`` given: that account's findings (of ``policy``), state and severity filtered;
    - open findings otherwise: the open index of ``policy``, or of every policy (of
      ``severity``, when given) of ``policies`` (default: the registry);
    - resolved or all findings otherwise: each account of ``accounts_provider()`` (default: the
      registered accounts) in turn.
    """
    wanted = parse_state(state)
    sev = _severity(severity)
    if account is not None:
        yield from store.iter_findings(account, policy, wanted, sev, page_size)
        return
    if wanted is FindingState.OPEN:
        if policy is not None:
            policy_ids = [policy]
        else:
            catalog = policies if policies is not None else _catalog()
            policy_ids = [p.id for p in catalog.values() if sev is None or p.severity is sev]
        for policy_id in policy_ids:
            yield from store.iter_open_findings(policy_id, sev, page_size)
        return
    accounts: Iterable[str] = (
        accounts_provider()
        if accounts_provider is not None
        else [a.account_id for a in store.list_accounts()]
    )
    for account_id in accounts:
        yield from store.iter_findings(account_id, policy, wanted, sev, page_size)


def summary(store: Store) -> dict[str, Any]:
    """Open findings from the dashboard counts (one per account x policy, written by each
    scan)::

    {"open": total,
     "by_severity": {"critical": n, "high": n, "medium": n, "low": n},
     "by_policy": {policy: {"severity": s, "open": n, "accounts": accounts with n > 0}},
     "by_account": {account: {"open": n, "by_severity": {...}}}}
    """
    names = [s.value for s in SEVERITIES]
    by_severity = dict.fromkeys(names, 0)
    by_policy: dict[str, dict[str, Any]] = {}
    by_account: dict[str, dict[str, Any]] = {}
    total = 0
    for count in store.summary():
        n = count.open
        severity = count.severity.value
        total += n
        by_severity[severity] += n
        entry = by_policy.setdefault(
            count.policy_id, {"severity": severity, "open": 0, "accounts": 0}
        )
        entry["open"] += n
        entry["accounts"] += 1 if n else 0
        acct = by_account.setdefault(
            count.account_id, {"open": 0, "by_severity": dict.fromkeys(names, 0)}
        )
        acct["open"] += n
        acct["by_severity"][severity] += n
    return {
        "open": total,
        "by_severity": by_severity,
        "by_policy": dict(sorted(by_policy.items())),
        "by_account": dict(sorted(by_account.items())),
    }


def open_at_least(
    store: Store,
    severity: str | Severity,
    accounts: Iterable[str] | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> int:
    """How many OPEN findings (muted ones excluded) have ``severity`` or a worse one, over
    ``accounts`` (default: all): what a pipeline's ``--fail-on`` checks."""
    threshold = Severity.parse(severity)
    worse = [s for s in SEVERITIES if s.rank <= threshold.rank]
    total = 0
    for level in worse:
        if accounts is None:
            total += sum(1 for _ in iter_findings(store, severity=level, policies=policies))
        else:
            for account in accounts:
                total += sum(
                    1 for _ in iter_findings(store, account=account, severity=level, state="open")
                )
    return total
