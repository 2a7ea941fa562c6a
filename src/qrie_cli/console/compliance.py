"""The Overview's CIS score per section, once the table keeps compliance verdicts.

qrie records failures (findings) today, not passes, so there is no score to show: the
Overview says "no compliance data yet". The compliance work (per-control pass / fail / unknown /
not assessed verdicts) gives the store a read of the counts per framework section; this module
is the one place the console asks for it:

    store.compliance_sections() -> Iterable[SectionScore-like]

each with ``framework`` ("CIS v3.0"), ``section`` ("1"), ``title``, ``passed``, ``failed``,
``unknown`` and ``not_assessed`` (attributes or mapping keys). Until the store has that method
(or while it returns nothing) :func:`cis_scores` returns an empty list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

READ_METHOD = "compliance_sections"
FIELDS = ("framework", "section", "title", "passed", "failed", "unknown", "not_assessed")


@dataclass(frozen=True)
class SectionScore:
    framework: str
    section: str
    title: str
    passed: int
    failed: int
    unknown: int
    not_assessed: int

    @property
    def assessed(self) -> int:
        return self.passed + self.failed

    @property
    def score(self) -> int | None:
        """Passed over pass + fail, in percent (None before anything was assessed)."""
        return round(100 * self.passed / self.assessed) if self.assessed else None

    @classmethod
    def of(cls, record: Any) -> SectionScore:
        def get(name: str) -> Any:
            if isinstance(record, Mapping):
                return record.get(name)
            return getattr(record, name, None)

        counts = {name: int(get(name) or 0) for name in FIELDS[3:]}
        return cls(
            framework=str(get("framework") or ""),
            section=str(get("section") or ""),
            title=str(get("title") or ""),
            **counts,
        )


def cis_scores(store: Any) -> list[SectionScore]:
    """The compliance counts per framework and section, or [] when there are none yet."""
    read = getattr(store, READ_METHOD, None)
    if not callable(read):
        return []
    scores = [SectionScore.of(record) for record in read()]
    return sorted(scores, key=lambda s: (s.framework, _section_key(s.section)))


def _section_key(section: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in section.split("."))
