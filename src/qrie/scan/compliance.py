"""Compliance with a framework (CIS AWS Foundations), per control and per account.

A control is judged in an account from the tallies of the qrie policies that implement it
(written by each scan) and the account's coverage (what qrie could look at):

=========================  ==================================================================
status                     when
=========================  ==================================================================
``fail``                   some resource fails one of the control's policies (muted ones too:
                           a mute is a decision about a finding, not a pass)
``unknown``                nothing fails, but some verdict could not be reached (an attribute
                           could not be read)
``pass``                   every resource in scope passes (or none is in scope)
``not_assessed``           a service the control needs has no successful inventory, or was not
                           scanned with the control's policies since: never counted as a pass
=========================  ==================================================================

A control no qrie policy implements (a manual one) is listed, never scored. Scores are
``pass / (pass + fail + unknown)`` over assessed controls, per account and per section. The
manifest says what happened to every requested account: assessed, partly assessed, not
assessed (with the reason, e.g. the inventory's AssumeRole error), or skipped (suspended, not
registered).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from qrie.domain import Coverage, PolicyTally, ResultStatus, TaskKind, parse_timestamp
from qrie.policies.base import Policy
from qrie.policies.frameworks import Framework, Frameworks, load_frameworks
from qrie.scan.export import csv_cell, csv_writer
from qrie.store.table import Store

SCORED = (ResultStatus.PASS, ResultStatus.FAIL, ResultStatus.UNKNOWN)


@dataclass(frozen=True)
class Control:
    """One control of a framework version and the qrie policies that implement it."""

    control_id: str
    title: str
    section: str
    policy_ids: tuple[str, ...] = ()
    automated: bool = True

    @property
    def covered(self) -> bool:
        return bool(self.policy_ids)


@dataclass(frozen=True)
class ControlResult:
    control_id: str
    account_id: str
    status: ResultStatus
    passed: int = 0
    failed: int = 0
    unknown: int = 0
    not_applicable: int = 0
    muted: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "account_id": self.account_id,
            "status": self.status.value,
            "passed": self.passed,
            "failed": self.failed,
            "unknown": self.unknown,
            "not_applicable": self.not_applicable,
            "muted": self.muted,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ManifestEntry:
    account_id: str
    state: str  # assessed | partly-assessed | not-assessed | skipped
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"account_id": self.account_id, "state": self.state, "reason": self.reason}


@dataclass
class ComplianceReport:
    framework: str
    controls: list[Control]
    results: list[ControlResult] = field(default_factory=list)
    manifest: list[ManifestEntry] = field(default_factory=list)

    def counts(self, results: Iterable[ControlResult] | None = None) -> dict[str, int]:
        tally: dict[str, int] = dict.fromkeys((s.value for s in ResultStatus), 0)
        for result in self.results if results is None else results:
            tally[result.status.value] += 1
        tally.pop(ResultStatus.NOT_APPLICABLE.value, None)
        return tally

    def score(self, results: Iterable[ControlResult]) -> float | None:
        scored = [r for r in results if r.status in SCORED]
        if not scored:
            return None
        return round(sum(r.status is ResultStatus.PASS for r in scored) / len(scored), 4)

    def by_account(self) -> dict[str, dict[str, Any]]:
        grouped: dict[str, list[ControlResult]] = defaultdict(list)
        for result in self.results:
            grouped[result.account_id].append(result)
        return {
            account: {**self.counts(results), "score": self.score(results)}
            for account, results in sorted(grouped.items())
        }

    def by_section(self) -> dict[str, dict[str, Any]]:
        section_of = {c.control_id: c.section for c in self.controls}
        grouped: dict[str, list[ControlResult]] = defaultdict(list)
        for result in self.results:
            grouped[section_of[result.control_id]].append(result)
        return {
            section: {**self.counts(results), "score": self.score(results)}
            for section, results in sorted(grouped.items(), key=lambda kv: _natural(kv[0]))
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "controls": [
                {
                    "control_id": c.control_id,
                    "title": c.title,
                    "section": c.section,
                    "policy_ids": list(c.policy_ids),
                    "automated": c.automated,
                    "covered": c.covered,
                }
                for c in self.controls
            ],
            "results": [r.to_dict() for r in self.results],
            "by_account": self.by_account(),
            "by_section": self.by_section(),
            "totals": {**self.counts(), "score": self.score(self.results)},
            "manifest": [m.to_dict() for m in self.manifest],
        }


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in text.replace(".", " ").split())


# ---------------------------------------------------------------- judging
def judge(
    control: Control,
    account_id: str,
    tallies: Mapping[str, PolicyTally],
    scanned: Mapping[str, Coverage],
    inventoried: Mapping[str, Coverage],
    services: Mapping[str, str],
) -> ControlResult:
    """One covered control in one account (see the module doc for the rules)."""
    reasons: list[str] = []
    parts: list[PolicyTally] = []
    for policy_id in control.policy_ids:
        service = services[policy_id]
        inventory = inventoried.get(service)
        if inventory is None or not inventory.succeeded:
            why = inventory.failure if inventory is not None and inventory.failure else None
            reasons.append(f"{service}: no successful inventory" + (f" ({why})" if why else ""))
            continue
        tally = tallies.get(policy_id)
        scan = scanned.get(service)
        if tally is None or scan is None or not scan.succeeded:
            reasons.append(f"{service}: not scanned with {policy_id}")
            continue
        parts.append(tally)
    sums = {
        name: sum(getattr(t, name) for t in parts)
        for name in ("passed", "failed", "unknown", "not_applicable", "muted")
    }
    if sums["failed"]:
        status = ResultStatus.FAIL
    elif reasons:
        status = ResultStatus.NOT_ASSESSED
    elif sums["unknown"]:
        status = ResultStatus.UNKNOWN
    else:
        status = ResultStatus.PASS
    return ControlResult(control.control_id, account_id, status, reason="; ".join(reasons), **sums)


def compliance_report(
    store: Store,
    framework: str,
    controls: Sequence[Control],
    policies: Mapping[str, Policy],
    accounts: Sequence[str] | None = None,
) -> ComplianceReport:
    """The report of ``controls`` over ``accounts`` (default: every registered account)."""
    report = ComplianceReport(framework, list(controls))
    registered = {a.account_id: a for a in store.list_accounts()}
    wanted = list(accounts) if accounts is not None else sorted(registered)
    services = {p.id: p.service for p in policies.values()}
    covered = [c for c in controls if c.covered]
    needed = {services[p] for c in covered for p in c.policy_ids if p in services}
    tallies: dict[str, dict[str, PolicyTally]] = defaultdict(dict)
    for tally in store.summary():
        tallies[tally.account_id][tally.policy_id] = tally
    for account_id in wanted:
        account = registered.get(account_id)
        if account is None:
            report.manifest.append(ManifestEntry(account_id, "skipped", "not registered"))
            continue
        if not account.active:
            report.manifest.append(
                ManifestEntry(account_id, "skipped", f"account is {account.status.value}")
            )
            continue
        coverage = list(store.iter_coverage(account_id))
        inventoried = {c.service: c for c in coverage if c.kind is TaskKind.INVENTORY}
        scanned = {c.service: c for c in coverage if c.kind is TaskKind.SCAN}
        results = [
            judge(c, account_id, tallies[account_id], scanned, inventoried, services)
            for c in covered
        ]
        report.results += results
        report.manifest.append(_manifest(account_id, results, needed, inventoried))
    return report


def _manifest(
    account_id: str,
    results: Sequence[ControlResult],
    needed: set[str],
    inventoried: Mapping[str, Coverage],
) -> ManifestEntry:
    unassessed = [r for r in results if r.status is ResultStatus.NOT_ASSESSED]
    if not unassessed:
        return ManifestEntry(account_id, "assessed")
    by_failure: dict[str, list[str]] = defaultdict(list)
    for service in sorted(needed):
        coverage = inventoried.get(service)
        if coverage is not None and coverage.failing and coverage.failure:
            # the same error for several services (a denied role) is said once
            by_failure[coverage.failure.replace(f"{service} ", "", 1)].append(service)
    failures = [f"{', '.join(services)}: {failure}" for failure, services in by_failure.items()]
    reason = "; ".join(failures) or unassessed[0].reason
    state = "not-assessed" if len(unassessed) == len(results) else "partly-assessed"
    return ManifestEntry(account_id, state, reason)


# ---------------------------------------------------------------- the framework's controls
# The names reports take (--framework) and the framework files they read
# (qrie.policies.frameworks).
FRAMEWORKS = {"cis-3.0": "cis-aws-3.0", "cis-5.0": "cis-aws-5.0"}


def framework(name: str, frameworks: Frameworks | None = None) -> Framework:
    """The framework version ``name`` (``cis-3.0``) names, or ValueError naming the valid ones."""
    if name not in FRAMEWORKS:
        raise ValueError(f"unknown framework {name[:40]!r} (one of {', '.join(FRAMEWORKS)})")
    return (frameworks if frameworks is not None else load_frameworks()).get(FRAMEWORKS[name])


def framework_controls(
    name: str, policies: Mapping[str, Policy], frameworks: Frameworks | None = None
) -> list[Control]:
    """Every control of the framework file, in the benchmark's order, with those of
    ``policies`` that implement it (a control none implements is listed, never scored). A
    control's section is its top-level section ("2" for 2.1.4)."""
    return [
        Control(
            control.id,
            control.title,
            control.id.split(".", 1)[0],
            tuple(p for p in control.policies if p in policies),
            control.automated,
        )
        for control in framework(name, frameworks).controls
    ]


# ---------------------------------------------------------------- exports
REPORT_FORMATS = ("json", "csv", "ocsf")
CSV_COLUMNS = (
    "framework",
    "control_id",
    "section",
    "title",
    "account_id",
    "status",
    "passed",
    "failed",
    "unknown",
    "not_applicable",
    "muted",
    "reason",
)
OCSF_COMPLIANCE = {  # compliance.status_id of OCSF 1.1.0
    ResultStatus.PASS: (1, "Pass"),
    ResultStatus.FAIL: (3, "Fail"),
    ResultStatus.UNKNOWN: (0, "Unknown"),
    ResultStatus.NOT_ASSESSED: (0, "Unknown"),
}


def write_report(
    report: ComplianceReport,
    fmt: str,
    out: TextIO,
    store: Store,
    policies: Mapping[str, Policy],
) -> int:
    """Write ``report`` as json (the whole report), csv (a row per control and account) or
    ocsf (a Compliance Finding per control and resource -- passes included -- and per control
    not assessed in an account). Returns the rows or events written."""
    if fmt == "json":
        json.dump(report.to_dict(), out, indent=1, sort_keys=True)
        out.write("\n")
        return len(report.results)
    if fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(CSV_COLUMNS)
        controls = {c.control_id: c for c in report.controls}
        for result in report.results:
            control = controls[result.control_id]
            writer.writerow(
                [
                    csv_cell(v)
                    for v in (
                        report.framework,
                        control.control_id,
                        control.section,
                        control.title,
                        result.account_id,
                        result.status.value,
                        result.passed,
                        result.failed,
                        result.unknown,
                        result.not_applicable,
                        result.muted,
                        result.reason,
                    )
                ]
            )
        return len(report.results)
    if fmt == "ocsf":
        return _json_lines(ocsf_events(report, store, policies), out)
    raise ValueError(f"unknown format {fmt[:20]!r} (one of {', '.join(REPORT_FORMATS)})")


def _json_lines(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    out.write("[")
    written = 0
    for event in events:
        out.write(",\n" if written else "\n")
        out.write(json.dumps(event, sort_keys=True))
        written += 1
    out.write("\n]\n")
    return written


def ocsf_events(
    report: ComplianceReport, store: Store, policies: Mapping[str, Policy]
) -> Iterable[dict[str, Any]]:
    """OCSF 1.1.0 Compliance Findings (class 2003) of the report, streamed: one per (control,
    resource verdict) with compliance status Pass / Fail / Unknown, and one per (control,
    account) not assessed (status Unknown, the reason as detail)."""
    controls = {c.control_id: c for c in report.controls}
    known = report.framework in FRAMEWORKS
    version = framework(report.framework).version if known else report.framework
    by_account: dict[str, list[ControlResult]] = defaultdict(list)
    for result in report.results:
        by_account[result.account_id].append(result)
    for account_id, results in by_account.items():
        assessed = {r.control_id for r in results if r.status is not ResultStatus.NOT_ASSESSED}
        policy_controls: dict[str, list[Control]] = defaultdict(list)
        for control_id in assessed:
            for policy_id in controls[control_id].policy_ids:
                policy_controls[policy_id].append(controls[control_id])
        for evaluation in store.iter_evaluations(account_id):
            if evaluation.status is ResultStatus.NOT_APPLICABLE:
                continue
            policy = policies.get(evaluation.policy_id)
            for control in policy_controls.get(evaluation.policy_id, ()):
                yield _ocsf(
                    control,
                    version,
                    account_id,
                    evaluation.status,
                    evaluation.evidence,
                    evaluation.arn,
                    evaluation.region,
                    policy,
                    evaluation.since,
                )
        for result in results:
            if result.status is ResultStatus.NOT_ASSESSED:
                yield _ocsf(
                    controls[result.control_id],
                    version,
                    account_id,
                    result.status,
                    result.reason,
                    None,
                    None,
                    None,
                    "",
                )


def _ocsf(
    control: Control,
    version: str,
    account_id: str,
    status: ResultStatus,
    detail: str,
    arn: str | None,
    region: str | None,
    policy: Policy | None,
    since: str,
) -> dict[str, Any]:
    status_id, status_name = OCSF_COMPLIANCE[status]
    severity = policy.severity.value if policy is not None else ""
    time_ms = int(parse_timestamp(since).timestamp() * 1000) if since else 0
    event: dict[str, Any] = {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "type_uid": 200301,
        "type_name": "Compliance Finding: Create",
        "severity_id": {"low": 2, "medium": 3, "high": 4, "critical": 5}.get(severity, 1),
        "severity": severity.capitalize() if severity else "Informational",
        "status_id": 1,
        "status": "New",
        "time": time_ms,
        "message": control.title,
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "qrie", "vendor_name": "qrie"},
            "profiles": ["cloud"],
        },
        "finding_info": {
            "uid": f"qrie/{account_id}/{control.control_id}/{arn or 'account'}",
            "title": f"{control.control_id} {control.title}",
            "desc": detail,
        },
        "compliance": {
            "control": control.control_id,
            "standards": [f"CIS AWS Foundations Benchmark {version}"],
            "requirements": [f"CIS {version} {control.control_id}"],
            "status": status_name,
            "status_id": status_id,
            "status_detail": detail,
        },
        "cloud": {"provider": "AWS", "account": {"uid": account_id}},
    }
    if arn is not None:
        event["resource"] = {"uid": arn, **({"region": region} if region else {})}
    if region:
        event["cloud"]["region"] = region
    return event
