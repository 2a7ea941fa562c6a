"""The mute list: add and remove mutes, and apply them to the findings at once.

A scan applies the mutes in force to what it evaluates (:func:`qrie.scan.engine.scan_account`);
adding or removing a mute also applies it right away to the failing findings it matches, so a
team sees the effect without waiting for the next scan. Findings are never deleted: a muted
failure is MUTED, with the mute's id, reason and expiry.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from qrie.domain import Finding, FindingState, Mute, now_iso, timestamp
from qrie.domain.mutes import MAX_MUTE_REASON, mute_for
from qrie.errors import ValidationError
from qrie.models import ACCOUNT_RE, POLICY_SPEC_RE, excerpt
from qrie.store.table import Store

MAX_MUTE_DAYS = 366  # a mute always expires: accepted risks are reviewed at least yearly
MAX_PATTERN = 512


def new_mute(
    policy: str,
    account: str,
    resource: str,
    reason: str,
    days: int,
    now: datetime | None = None,
) -> Mute:
    """A validated mute (refused with a bounded message naming the field)."""
    now = now or datetime.now(UTC)
    if not POLICY_SPEC_RE.fullmatch(policy):
        raise ValidationError(
            f"policy: {excerpt(policy)} is not a policy id, <service>.* or *", field="policy"
        )
    if account != "*" and not ACCOUNT_RE.fullmatch(account):
        raise ValidationError(
            f"account: {excerpt(account)} is not a 12-digit account id or *", field="account"
        )
    if not resource or len(resource) > MAX_PATTERN:
        raise ValidationError(
            f"resource: give an ARN pattern of 1 to {MAX_PATTERN} characters", field="resource"
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_MUTE_REASON:
        raise ValidationError(
            f"reason: say why, in 1 to {MAX_MUTE_REASON} characters", field="reason"
        )
    if not 1 <= days <= MAX_MUTE_DAYS:
        raise ValidationError(
            f"days: a mute lasts 1 to {MAX_MUTE_DAYS} days, got {days}", field="days"
        )
    return Mute(
        mute_id=f"mute-{secrets.token_hex(4)}",
        policy=policy,
        account=account,
        resource=resource,
        reason=reason,
        expires_at=timestamp(now + timedelta(days=days)),
        created_at=timestamp(now),
    )


def add_mute(store: Store, mute: Mute) -> int:
    """Keep ``mute`` and mute the OPEN findings it matches now; returns how many."""
    store.put_mute(mute)
    return apply_mutes(store, _accounts(store, mute))


def remove_mute(store: Store, mute_id: str) -> int:
    """Remove a mute; the findings it muted open again (unless another mute still matches).
    Returns how many opened; raises ValidationError for an unknown mute."""
    mutes = {m.mute_id: m for m in store.list_mutes()}
    mute = mutes.get(mute_id)
    if mute is None or not store.delete_mute(mute_id):
        raise ValidationError(f"mute_id: no mute {excerpt(mute_id)}", field="mute_id")
    return apply_mutes(store, _accounts(store, mute))


def apply_mutes(store: Store, accounts: list[str]) -> int:
    """Bring the failing findings of ``accounts`` in line with the mutes in force now (MUTED
    when one matches, OPEN when none does); returns how many changed."""
    now = now_iso()
    active = [m for m in store.list_mutes() if m.active(now)]
    changed: list[Finding] = []
    for account_id in accounts:
        for finding in store.iter_findings(account_id):
            if finding.state is FindingState.RESOLVED:
                continue
            mute = mute_for(active, account_id, finding.policy_id, finding.arn, now)
            if mute is not None and finding.muted_by != mute.mute_id:
                changed.append(finding.unmuted().muted(mute))
            elif mute is None and finding.is_muted:
                changed.append(finding.unmuted())
    if changed:
        store.put_findings(changed)
        _recount(store, {(f.account_id, f.policy_id) for f in changed})
    return len(changed)


def _accounts(store: Store, mute: Mute) -> list[str]:
    if mute.account != "*":
        return [mute.account]
    return [a.account_id for a in store.list_accounts()]


def _recount(store: Store, pairs: set[tuple[str, str]]) -> None:
    """The open and muted counts of the tallies concerned (the rest of each tally unchanged)."""
    for account_id in sorted({a for a, _p in pairs}):
        tallies = {t.policy_id: t for t in store.account_summary(account_id)}
        counts: dict[str, list[int]] = {}
        for finding in store.iter_findings(account_id):
            open_muted = counts.setdefault(finding.policy_id, [0, 0])
            open_muted[0] += int(finding.is_open)
            open_muted[1] += int(finding.is_muted)
        store.put_summary(
            replace(tally, open=counts.get(p, [0, 0])[0], muted=counts.get(p, [0, 0])[1])
            for p, tally in tallies.items()
            if (account_id, p) in pairs
        )
