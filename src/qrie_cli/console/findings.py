"""The findings page: filters, the orders the table can serve, and keyset pagination.

DynamoDB has no OFFSET and no ORDER BY: a page that sorted every finding in memory would read
all of them first (10,000 findings: 28 s on the local stack, whose every Query costs a pass
over the table). So a page reads only what it shows, in the order the keys give:

* open findings across accounts come from the open index, one partition per policy, ordered by
  severity, account and ARN: sorted by **severity** (then policy) or by **policy**, policy
  partitions are read one after the other in that order;
* one account's findings are one partition ordered by policy id and ARN (by severity: its
  policies' prefixes one after the other);
* every other listing (sorted by account, or resolved findings across accounts) reads the
  accounts' partitions in account order.

A page is a list of :class:`Segment` reads (a partition, or a key prefix of one) in the chosen
order; the link to the next page carries the last finding shown (account, policy, ARN,
severity) as an opaque cursor, from which the store resumes the segment holding it
(``ExclusiveStartKey``). The previous page reads the same plan backwards from the first
finding shown. Open findings have an exact total (the dashboard's counts, per account and
policy), which also skips partitions holding none; other states show no total.

A finding state the table gains later (e.g. muted) is listed as soon as
:class:`qrie.domain.FindingState` has it: every state but OPEN is read per account.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from qrie.domain import Finding, FindingState, PolicyTally, Severity
from qrie.errors import ValidationError
from qrie.policies.base import Policy
from qrie.store.table import Store

SORTS = ("severity", "policy", "account")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_CHARS = 2048
UNKNOWN_RANK = 9


def state_choices() -> list[str]:
    """``open``, ``resolved``, … (every FindingState), then ``all``."""
    return [s.value.lower() for s in FindingState] + ["all"]


def _severity_rank(policies: Mapping[str, Policy], policy_id: str) -> int:
    policy = policies.get(policy_id)
    return policy.severity.rank if policy is not None else UNKNOWN_RANK


@dataclass(frozen=True)
class FindingFilter:
    """What the findings page lists (every field comes from the query string)."""

    account: str | None = None
    policy: str | None = None  # a policy id, "<service>.*", or None for every policy
    severity: Severity | None = None
    state: str = "open"
    sort: str = "severity"
    descending: bool = False
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str], policies: Mapping[str, Policy]) -> FindingFilter:
        """A filter from query parameters; ValidationError naming the bad one."""
        from qrie.accounts.registry import validate_account_id  # noqa: PLC0415

        account = (params.get("account") or "").strip() or None
        if account is not None:
            account = validate_account_id(account)
        policy = (params.get("policy") or "").strip() or None
        if policy in {"*", "all"}:
            policy = None
        if policy is not None and policy not in policies:
            services = {p.service for p in policies.values()}
            if not (policy.endswith(".*") and policy[:-2] in services):
                raise ValidationError(f"policy: unknown policy {policy[:60]!r}", field="policy")
        severity_text = (params.get("severity") or "").strip()
        try:
            severity = Severity.parse(severity_text) if severity_text else None
        except ValueError as exc:
            raise ValidationError(f"severity: {exc}", field="severity") from None
        state = (params.get("state") or "open").strip().lower()
        if state not in state_choices():
            raise ValidationError(
                f"state: {state[:40]!r} is not one of {', '.join(state_choices())}", field="state"
            )
        sort = (params.get("sort") or "severity").strip()
        if sort not in SORTS:
            raise ValidationError(f"sort: one of {', '.join(SORTS)}", field="sort")
        size_text = params.get("size") or str(DEFAULT_PAGE_SIZE)
        if not size_text.isdigit() or int(size_text) not in PAGE_SIZES:
            raise ValidationError(f"size: one of {', '.join(map(str, PAGE_SIZES))}", field="size")
        return cls(
            account=account,
            policy=policy,
            severity=severity,
            state=state,
            sort=sort,
            descending=params.get("order") == "desc",
            size=int(size_text),
        )

    @property
    def wanted_state(self) -> FindingState | None:
        return None if self.state == "all" else FindingState(self.state.upper())

    def params(self) -> dict[str, str]:
        """The query parameters of this filter (defaults left out)."""
        values = {
            "account": self.account or "",
            "policy": self.policy or "",
            "severity": self.severity.value if self.severity else "",
            "state": "" if self.state == "open" else self.state,
            "sort": "" if self.sort == "severity" else self.sort,
            "order": "desc" if self.descending else "",
            "size": "" if self.size == DEFAULT_PAGE_SIZE else str(self.size),
        }
        return {k: v for k, v in values.items() if v}

    def query(self, **extra: str | int | None) -> str:
        values: dict[str, str] = self.params()
        values.update({k: str(v) for k, v in extra.items() if v not in {None, ""}})
        return urlencode(values)

    def selected(self, policies: Mapping[str, Policy]) -> list[Policy]:
        """The policies this filter covers (the severity filter narrows them, as the open
        index is read per policy)."""
        if self.policy is None:
            chosen = list(policies.values())
        elif self.policy.endswith(".*"):
            chosen = [p for p in policies.values() if p.service == self.policy[:-2]]
        else:
            chosen = [policies[self.policy]] if self.policy in policies else []
        return [p for p in chosen if self.severity is None or p.severity is self.severity]

    def prefix(self) -> str:
        """The key prefix of this filter's policies inside an account's partition."""
        if self.policy is None:
            return ""
        if self.policy.endswith(".*"):
            return self.policy[:-1]  # "<service>." : policy ids are "<service>.<name>"
        return f"{self.policy}#"


# ---------------------------------------------------------------------------- cursors
def encode_cursor(finding: Finding) -> str:
    raw = json.dumps(
        [finding.account_id, finding.policy_id, finding.arn, finding.severity.value],
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Finding:
    """The position a cursor names (as a finding: account, policy, ARN, severity); a
    ValidationError for anything that is not a cursor this console made."""
    bad = ValidationError("cursor: this page link is not valid (start from the first page)")
    if len(text) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad from None
    if not (
        isinstance(values, list) and len(values) == 4 and all(isinstance(v, str) for v in values)
    ):
        raise bad
    account, policy, arn, severity = values
    try:
        return Finding(account, policy, arn, FindingState.OPEN, Severity.parse(severity))
    except ValueError:
        raise bad from None


# ---------------------------------------------------------------------------- the plan
SegmentKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Segment:
    """One key-ordered read: an account's partition under a key prefix, or (``account`` None)
    the open index of the policy ``prefix``."""

    account: str | None
    prefix: str
    key: SegmentKey

    def read(
        self,
        store: Store,
        flt: FindingFilter,
        after: Finding | None,
        descending: bool,
        page_size: int | None,
    ) -> Iterator[Finding]:
        if self.account is None:
            return store.iter_open_findings_after(
                self.prefix, flt.severity, after, descending, page_size
            )
        return store.iter_findings_after(
            self.account, self.prefix, flt.wanted_state, flt.severity, after, descending, page_size
        )


@dataclass
class Plan:
    """The segments of a listing in order, how to rank a finding among them, and a note when
    the order asked for could not be served."""

    segments: list[Segment]
    key_of: Callable[[Finding], SegmentKey]
    note: str = ""
    total: int | None = None

    def reversed(self) -> Plan:
        return replace(self, segments=self.segments[::-1])


def _open_counts(
    counts: Iterable[PolicyTally], flt: FindingFilter, policy_ids: set[str]
) -> dict[tuple[str, str], int]:
    return {
        (c.account_id, c.policy_id): c.open
        for c in counts
        if c.policy_id in policy_ids and (flt.account is None or c.account_id == flt.account)
    }


def make_plan(
    flt: FindingFilter,
    policies: Mapping[str, Policy],
    accounts: Sequence[str],
    counts: Iterable[PolicyTally],
) -> Plan:
    """The segments to read for ``flt`` (see the module docstring). ``accounts``: the
    registered ones; ``counts``: the dashboard's open counts (account x policy)."""
    chosen = flt.selected(policies)
    ids = {p.id for p in chosen}
    is_open = flt.wanted_state is FindingState.OPEN
    per_pair = _open_counts(counts, flt, ids) if is_open else {}
    total = sum(per_pair.values()) if is_open else None

    def rank(policy_id: str) -> SegmentKey:
        if flt.sort == "severity":
            return (_severity_rank(policies, policy_id), policy_id)
        return (policy_id,)

    def policy_has_open(policy_id: str) -> bool:
        return any(n for (_, p), n in per_pair.items() if p == policy_id)

    ordered = sorted(ids, key=rank)
    note = ""
    if flt.account is not None:
        account = flt.account
        if flt.sort == "severity" and len(ordered) > 1:
            keep = [p for p in ordered if not is_open or per_pair.get((account, p))]
            segments = [Segment(account, f"{p}#", rank(p)) for p in keep]
            return Plan(segments, lambda f: rank(f.policy_id), note, total)
        segments = [Segment(account, flt.prefix(), ())] if ids else []
        return Plan(segments, lambda f: (), note, total)
    if is_open and flt.sort in {"severity", "policy"}:
        segments = [Segment(None, p, rank(p)) for p in ordered if policy_has_open(p)]
        return Plan(segments, lambda f: rank(f.policy_id), note, total)
    if flt.sort != "account":
        note = (
            f"Sorted by account: {flt.state} findings are kept per account, so only open "
            "findings can be listed by severity or policy across accounts. Choose an account "
            "to sort its findings by severity."
        )
    every = sorted(set(accounts) | {a for a, _ in per_pair})
    if is_open:
        every = [a for a in every if any(n for (acct, _), n in per_pair.items() if acct == a)]
    segments = [Segment(a, flt.prefix(), (a,)) for a in every] if ids else []
    return Plan(segments, lambda f: (f.account_id,), note, total)


# ---------------------------------------------------------------------------- pages
@dataclass
class Page:
    rows: list[Finding]
    filter: FindingFilter
    start: int  # 1-based position of the first row
    total: int | None
    note: str
    next_cursor: str | None = None
    prev_cursor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _walk(
    store: Store,
    plan: Plan,
    flt: FindingFilter,
    after: Finding | None,
    descending: bool,
    limit: int | None,
) -> Iterator[Finding]:
    """Findings of ``plan`` in its order from just after ``after``, at most ``limit``."""
    cursor_key = plan.key_of(after) if after is not None else None
    produced = 0
    for segment in plan.segments:
        resume = None
        if cursor_key is not None:
            # segments before the cursor's are done; its own resumes after it
            if (segment.key < cursor_key) != descending and segment.key != cursor_key:
                continue
            if segment.key == cursor_key:
                resume = after
        page_size = None if limit is None else min(1000, limit - produced + 1)
        for finding in segment.read(store, flt, resume, descending, page_size):
            yield finding
            produced += 1
            if limit is not None and produced >= limit:
                return
        cursor_key = None


def iter_plan(store: Store, plan: Plan, flt: FindingFilter) -> Iterator[Finding]:
    """Every finding of the listing, in its order (exports)."""
    ordered = plan.reversed() if flt.descending else plan
    return _walk(store, ordered, flt, None, flt.descending, None)


def read_page(
    store: Store,
    plan: Plan,
    flt: FindingFilter,
    after: Finding | None = None,
    before: Finding | None = None,
    start: int = 1,
) -> Page:
    """One page of ``flt`` after ``after`` (next) or before ``before`` (previous)."""
    size = flt.size
    if before is not None:
        backwards = plan if flt.descending else plan.reversed()
        found = list(_walk(store, backwards, flt, before, not flt.descending, size + 1))
        rows = found[:size][::-1]
        more_before = len(found) > size
        start = max(1, start - len(rows)) if more_before else 1
        page = Page(rows, flt, start, plan.total, plan.note)
        page.prev_cursor = encode_cursor(rows[0]) if more_before and rows else None
        page.next_cursor = encode_cursor(rows[-1]) if rows else None
        return page
    forwards = plan.reversed() if flt.descending else plan
    found = list(_walk(store, forwards, flt, after, flt.descending, size + 1))
    rows = found[:size]
    page = Page(rows, flt, start if after is not None else 1, plan.total, plan.note)
    page.next_cursor = encode_cursor(rows[-1]) if len(found) > size else None
    page.prev_cursor = encode_cursor(rows[0]) if after is not None and rows else None
    return page
