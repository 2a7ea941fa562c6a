"""The Overview's CIS score per section, and the CIS ids of each policy per benchmark version.

Scores come from :func:`qrie.scan.compliance.compliance_report` (the per-policy tallies each scan
writes and each account's coverage), one report per CIS AWS Foundations version, summed per
top-level section over the registered accounts: a control is pass, fail, unknown or not assessed
in each account, and a section's score is pass / (pass + fail + unknown). Before any account was
inventoried and scanned there is nothing to score and the Overview says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qrie.policies.base import Policy
from qrie.store.table import Store


@dataclass(frozen=True)
class SectionScore:
    framework: str  # "CIS v3.0"
    section: str  # "1"
    title: str  # "Identity and Access Management"
    passed: int
    failed: int
    unknown: int
    not_assessed: int
    ratio: float | None  # pass / (pass + fail + unknown)

    @property
    def score(self) -> int | None:
        """The score in percent (None before anything was assessed)."""
        return None if self.ratio is None else round(100 * self.ratio)


def cis_scores(store: Store, policies: Mapping[str, Policy]) -> list[SectionScore]:
    """Every CIS version's sections with their counts over the registered accounts; [] when no
    control was assessed anywhere yet."""
    from qrie.policies.frameworks import load_frameworks  # noqa: PLC0415
    from qrie.scan.compliance import (  # noqa: PLC0415
        FRAMEWORKS,
        compliance_report,
        framework,
        framework_controls,
    )

    frameworks = load_frameworks()
    scores: list[SectionScore] = []
    for name in FRAMEWORKS:
        version = framework(name, frameworks)
        report = compliance_report(
            store, name, framework_controls(name, policies, frameworks), policies
        )
        for section, counts in report.by_section().items():
            scores.append(
                SectionScore(
                    framework=version.label,
                    section=section,
                    title=version.sections.get(section, ""),
                    passed=counts.get("pass", 0),
                    failed=counts.get("fail", 0),
                    unknown=counts.get("unknown", 0),
                    not_assessed=counts.get("not_assessed", 0),
                    ratio=counts.get("score"),
                )
            )
    if not any(s.passed + s.failed + s.unknown for s in scores):
        return []
    return scores


def cis_ids(policies: Mapping[str, Policy]) -> tuple[list[str], dict[str, dict[str, list[str]]]]:
    """The CIS versions (labels, e.g. "CIS v3.0") and, per policy, the control ids it answers
    in each (from the framework files)."""
    from qrie.policies.frameworks import load_frameworks  # noqa: PLC0415

    versions = [f for f in load_frameworks() if f.abbreviation == "CIS"]
    return [f.label for f in versions], {
        policy_id: {f.label: [c.id for c in f.controls_of(policy_id)] for f in versions}
        for policy_id in policies
    }
