"""The compliance report: per control and account pass / fail / unknown / not assessed, scores,
the manifest of every requested account, and its exports (OCSF with passes)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pytest

from qrie.domain import (
    Account,
    AccountStatus,
    Coverage,
    PolicyTally,
    Resource,
    ResultStatus,
    Severity,
    TaskKind,
    timestamp,
)
from qrie.policies.base import Policy, Verdict
from qrie.policies.frameworks import Frameworks, parse_framework
from qrie.policies.registry import all_policies
from qrie.scan.compliance import (
    ComplianceReport,
    Control,
    ControlResult,
    ManifestEntry,
    compliance_report,
    framework,
    framework_controls,
    judge,
    write_report,
)
from qrie.scan.engine import scan_account
from qrie.store.table import Store
from tests.unit.test_scan_engine import create_table

NO_STORE = cast(Store, None)  # json and csv exports read nothing from the store
A1, A2, A3, A4, A5 = (f"44444444444{i}" for i in range(1, 6))
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = timestamp(T0)


def flag(attribute: str) -> Policy:
    def evaluate(resource: Resource, _now: datetime) -> Verdict | None:
        value = resource.config.get(attribute, "absent")
        if value == "absent":
            return None
        if value is None:
            return Verdict.unknown(attribute, "AccessDenied")
        return Verdict.compliant(f"{attribute}=True") if value else Verdict.violation("no")

    return Policy(
        f"s3.{attribute}",
        "s3",
        frozenset({"s3.bucket"}),
        f"Bucket {attribute}",
        Severity.HIGH,
        evaluate=evaluate,
    )


ENCRYPTED, VERSIONED = flag("encrypted"), flag("versioned")
ROOT = Policy("iam.root", "iam", frozenset({"iam.account"}), "Root MFA", Severity.CRITICAL)
POLICIES = {p.id: p for p in (ENCRYPTED, VERSIONED, ROOT)}
CONTROLS = [
    Control("2.1.1", "Encryption", "2.1", ("s3.encrypted",)),
    Control("2.1.2", "Versioning", "2.1", ("s3.versioned",)),
    Control("1.5", "Root MFA", "1", ("iam.root",)),
    Control("1.1", "Contact details", "1", ()),  # manual: no qrie policy
]


@pytest.fixture
def store(mocked_aws: None) -> Store:
    return create_table()


def inventory_and_scan(store: Store, account: str, buckets: dict[str, dict[str, object]]) -> None:
    resources = [
        Resource(f"arn:aws:s3:::{n}", account, "s3", "s3.bucket", "global", c, n)
        for n, c in buckets.items()
    ]
    store.put_resources(resources, "inv", "col", NOW)
    for kind in TaskKind:
        store.record_coverage(Coverage(account, kind, "s3", "job", NOW))
    scan_account(store, account, "s3", [ENCRYPTED, VERSIONED], "scan", T0, mutes=[])


def seeded(store: Store) -> None:
    store.put_accounts([Account(a) for a in (A1, A2, A3)] + [Account(A4, AccountStatus.SUSPENDED)])
    # A1: one bucket fails encryption, versioning passes
    inventory_and_scan(store, A1, {"a": {"encrypted": False, "versioned": True}})
    # A2: encryption could not be read; versioning passes
    inventory_and_scan(store, A2, {"b": {"encrypted": None, "versioned": True}})
    # A3: its inventory was denied
    store.record_coverage(
        Coverage(
            A3,
            TaskKind.INVENTORY,
            "s3",
            failed_job_id="inv",
            failed_at=NOW,
            failure="AssumeRole: AccessDenied",
        )
    )


def results(store: Store, accounts: list[str] | None = None) -> dict[tuple[str, str], str]:
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES, accounts)
    return {(r.control_id, r.account_id): r.status.value for r in report.results}


def test_each_control_is_judged_per_account(store: Store) -> None:
    seeded(store)
    got = results(store)
    assert got[("2.1.1", A1)] == "fail"
    assert got[("2.1.2", A1)] == "pass"
    assert got[("2.1.1", A2)] == "unknown"
    assert got[("2.1.2", A2)] == "pass"
    # never inventoried or denied: not assessed, never a pass
    assert {got[("2.1.1", A3)], got[("2.1.2", A3)]} == {"not_assessed"}
    assert {got[("1.5", a)] for a in (A1, A2, A3)} == {"not_assessed"}
    # a manual control is listed, never judged
    assert not any(control == "1.1" for control, _ in got)


def test_the_manifest_names_every_requested_account(store: Store) -> None:
    seeded(store)
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES, [A1, A3, A4, A5])
    manifest = {m.account_id: (m.state, m.reason) for m in report.manifest}
    assert manifest[A1][0] == "partly-assessed"  # S3 yes, IAM never inventoried
    assert manifest[A3] == ("not-assessed", "s3: AssumeRole: AccessDenied")
    assert manifest[A4] == ("skipped", "account is SUSPENDED")
    assert manifest[A5] == ("skipped", "not registered")
    assert {r.account_id for r in report.results} == {A1, A3}


def test_scores_count_only_assessed_controls(store: Store) -> None:
    seeded(store)
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES)
    by_account = report.by_account()
    assert by_account[A1]["score"] == 0.5  # 1 pass of 2 scored (1.5 not assessed)
    assert by_account[A2]["score"] == 0.5  # unknown is not a pass
    assert by_account[A3]["score"] is None  # nothing assessed: no score, not 0 or 100
    assert report.by_section()["2.1"]["pass"] == 2
    assert report.by_section()["2.1"]["fail"] == 1
    assert report.by_section()["1"]["not_assessed"] == 3


def test_a_control_that_fails_is_fail_even_if_another_service_is_not_assessed(
    store: Store,
) -> None:
    seeded(store)
    mixed = Control("9.9", "Mixed", "9", ("s3.encrypted", "iam.root"))
    report = compliance_report(store, "cis-3.0", [mixed], POLICIES, [A1])
    [result] = report.results
    assert result.status is ResultStatus.FAIL


def test_exports_csv_json_and_ocsf_with_passes(store: Store) -> None:
    seeded(store)
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES, [A1, A3])
    out = io.StringIO()
    assert write_report(report, "csv", out, store, POLICIES) == 6
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {(r["control_id"], r["account_id"], r["status"]) for r in rows} >= {
        ("2.1.1", A1, "fail"),
        ("2.1.2", A1, "pass"),
        ("2.1.1", A3, "not_assessed"),
    }
    out = io.StringIO()
    write_report(report, "json", out, store, POLICIES)
    data = json.loads(out.getvalue())
    assert data["by_account"][A1]["score"] == 0.5
    assert data["manifest"][1]["reason"] == "s3: AssumeRole: AccessDenied"
    out = io.StringIO()
    write_report(report, "ocsf", out, store, POLICIES)
    events = json.loads(out.getvalue())
    statuses = {
        (e["compliance"]["control"], e["compliance"]["status"], e["cloud"]["account"]["uid"])
        for e in events
    }
    assert ("2.1.2", "Pass", A1) in statuses  # passes are reported too
    assert ("2.1.1", "Fail", A1) in statuses
    assert ("2.1.1", "Unknown", A3) in statuses  # not assessed: unknown, with the reason
    assert all(e["class_uid"] == 2003 for e in events)
    assert {e["compliance"]["requirements"][0] for e in events} >= {"CIS v3.0 2.1.2"}


def test_the_frameworks_controls_come_from_its_file() -> None:
    # GIVEN a CIS v3.0 file with a manual control and two controls these policies implement
    # (one also names a policy that is not among them)
    v3 = parse_framework(
        {
            "id": "cis-aws-3.0",
            "name": "CIS AWS Foundations Benchmark",
            "abbreviation": "CIS",
            "version": "v3.0",
            "release": "3.0.0",
            "scope": "a test",
            "sections": {"1": "IAM", "2": "Storage", "2.1": "S3"},
            "controls": {
                "2.1.2": control("2.1", ["s3.versioned"]),
                "1.1": control("1", [], automated=False),
                "2.1.1": control("2.1", ["s3.encrypted", "s3.elsewhere"]),
            },
        },
        "cis-aws-3.0.json",
    )
    # WHEN the report's controls are built from it
    controls = framework_controls("cis-3.0", POLICIES, Frameworks((v3,)))
    # THEN every control is listed in the benchmark's order, with its top-level section and
    # only the given policies; the manual one has none (listed, never scored)
    assert [(c.control_id, c.section, c.policy_ids, c.automated) for c in controls] == [
        ("1.1", "1", (), False),
        ("2.1.1", "2", ("s3.encrypted",), True),
        ("2.1.2", "2", ("s3.versioned",), True),
    ]
    assert controls[1].title == "control in 2.1"
    with pytest.raises(ValueError, match="unknown framework"):
        framework_controls("nist", POLICIES)


def test_the_shipped_cis_files_give_the_reports_controls() -> None:
    # GIVEN the registered policies and the shipped CIS v5.0 file
    controls = framework_controls("cis-5.0", all_policies())
    by_id = {c.control_id: c for c in controls}
    # THEN every listed control is there, manual ones unscored, with today's policies
    assert by_id["1.4"].policy_ids == ("iam.root_console_mfa",)
    assert by_id["5.1.1"].section == "5"
    assert by_id["1.20"].policy_ids == ()
    assert not by_id["1.20"].automated


def control(section: str, policies: list[str], automated: bool = True) -> dict[str, object]:
    return {
        "title": f"control in {section}",
        "section": section,
        "profile": "Level 1",
        "automated": automated,
        "policies": policies,
    }


# ---------------------------------------------------------------- judging one control
SERVICES = {p.id: p.service for p in POLICIES.values()}
BOTH_S3 = Control("9.1", "Both S3", "9", ("s3.encrypted", "s3.versioned"))


def covered(kind: TaskKind, service: str = "s3", failure: str | None = None) -> Coverage:
    """A success, or (``failure`` given) only a failure, of ``kind`` for ``service`` in A1."""
    if failure is None:
        return Coverage(A1, kind, service, "job", NOW)
    return Coverage(A1, kind, service, failed_job_id="job", failed_at=NOW, failure=failure)


def tally(policy_id: str, **counts: int) -> PolicyTally:
    return PolicyTally(A1, policy_id, Severity.HIGH, counts.get("failed", 0), NOW, **counts)


S3_SEEN = {"s3": covered(TaskKind.INVENTORY)}, {"s3": covered(TaskKind.SCAN)}


def judged(
    control: Control,
    tallies: dict[str, PolicyTally],
    inventoried: dict[str, Coverage],
    scanned: dict[str, Coverage],
) -> ControlResult:
    return judge(control, A1, tallies, scanned, inventoried, SERVICES)


@pytest.mark.parametrize(
    ("encrypted", "versioned", "status"),
    [
        ({"passed": 2, "failed": 1, "muted": 1}, {"passed": 3, "unknown": 2}, ResultStatus.FAIL),
        ({"passed": 2, "not_applicable": 1}, {"passed": 3, "unknown": 2}, ResultStatus.UNKNOWN),
        ({"passed": 2, "not_applicable": 1}, {"passed": 3}, ResultStatus.PASS),
        ({"not_applicable": 4}, {}, ResultStatus.PASS),  # nothing in scope: a pass
    ],
)
def test_a_control_sums_the_tallies_of_its_policies(
    encrypted: dict[str, int], versioned: dict[str, int], status: ResultStatus
) -> None:
    # GIVEN a control of two policies, both scanned after a successful inventory
    tallies = {"s3.encrypted": tally("s3.encrypted", **encrypted)}
    tallies["s3.versioned"] = tally("s3.versioned", **versioned)
    # WHEN it is judged
    result = judged(BOTH_S3, tallies, *S3_SEEN)
    # THEN a failure wins over an unknown, an unknown over a pass, and the counts are the sums
    both = [encrypted, versioned]
    assert result == ControlResult(
        "9.1",
        A1,
        status,
        **{
            name: sum(c.get(name, 0) for c in both)
            for name in ("passed", "failed", "unknown", "not_applicable", "muted")
        },
    )
    assert result.reason == ""


@pytest.mark.parametrize(
    ("inventory", "scan", "tallies", "reason"),
    [
        # never inventoried
        (None, None, ("s3.encrypted",), "s3: no successful inventory"),
        # the inventory only failed: its error is said
        (
            "s3 global: AccessDenied",
            None,
            ("s3.encrypted",),
            "s3: no successful inventory (s3 global: AccessDenied)",
        ),
        ("", None, ("s3.encrypted",), "s3: no successful inventory"),
        # inventoried, never scanned; or the scan only failed (old tallies are no evidence)
        ("ok", None, ("s3.encrypted",), "s3: not scanned with s3.encrypted"),
        ("ok", "s3 scan: boom", ("s3.encrypted",), "s3: not scanned with s3.encrypted"),
        # scanned, but not with this policy
        ("ok", "ok", ("s3.versioned",), "s3: not scanned with s3.encrypted"),
    ],
)
def test_a_control_without_evidence_is_not_assessed_and_says_why(
    inventory: str | None, scan: str | None, tallies: tuple[str, ...], reason: str
) -> None:
    # GIVEN the coverage of S3 in A1 (a success "ok", a failure, or nothing) and passing tallies
    def coverage(kind: TaskKind, what: str | None) -> dict[str, Coverage]:
        if what is None:
            return {}
        return {"s3": covered(kind, failure=None if what == "ok" else what)}

    passing = {p: tally(p, passed=1) for p in tallies}
    control = Control("2.1.1", "Encryption", "2.1", ("s3.encrypted",))
    # WHEN the encryption control is judged
    result = judged(
        control, passing, coverage(TaskKind.INVENTORY, inventory), coverage(TaskKind.SCAN, scan)
    )
    # THEN it is not assessed, never a pass, with the reason
    assert result == ControlResult("2.1.1", A1, ResultStatus.NOT_ASSESSED, reason=reason)


def test_every_service_or_policy_without_evidence_is_named() -> None:
    # GIVEN a control of two services, neither inventoried
    mixed = Control("9.9", "Mixed", "9", ("iam.root", "s3.encrypted"))
    # WHEN it is judged THEN both are named, in the control's order
    assert judged(mixed, {}, {}, {}).reason == (
        "iam: no successful inventory; s3: no successful inventory"
    )
    # GIVEN S3 inventoried but never scanned WHEN a control of two S3 policies is judged
    # THEN both policies are named
    inventoried = {"s3": covered(TaskKind.INVENTORY)}
    assert judged(BOTH_S3, {}, inventoried, {}).reason == (
        "s3: not scanned with s3.encrypted; s3: not scanned with s3.versioned"
    )


def test_a_failure_is_reported_beside_what_could_not_be_assessed() -> None:
    # GIVEN a control of IAM (never inventoried) and S3 (one failing bucket)
    mixed = Control("9.9", "Mixed", "9", ("iam.root", "s3.encrypted"))
    tallies = {"s3.encrypted": tally("s3.encrypted", passed=1, failed=1)}
    # WHEN it is judged THEN it fails, with S3's counts, and says what is missing
    assert judged(mixed, tallies, *S3_SEEN) == ControlResult(
        "9.9", A1, ResultStatus.FAIL, passed=1, failed=1, reason="iam: no successful inventory"
    )


def test_a_later_failed_inventory_keeps_the_last_successful_one() -> None:
    # GIVEN S3 inventoried and scanned, then an inventory that failed
    inventory = Coverage(
        A1,
        TaskKind.INVENTORY,
        "s3",
        "job",
        NOW,
        failed_job_id="job-2",
        failed_at=timestamp(T0.replace(hour=13)),
        failure="s3 global: Throttling",
    )
    control = Control("2.1.1", "Encryption", "2.1", ("s3.encrypted",))
    tallies = {"s3.encrypted": tally("s3.encrypted", passed=2)}
    # WHEN it is judged THEN the last scan's verdict stands
    result = judged(control, tallies, {"s3": inventory}, S3_SEEN[1])
    assert (result.status, result.passed, result.reason) == (ResultStatus.PASS, 2, "")


# ---------------------------------------------------------------- the report over accounts
S3_CONTROLS = CONTROLS[:2]


def test_an_unregistered_account_does_not_stop_the_others(store: Store) -> None:
    # GIVEN registered accounts and one that is not, asked for first
    seeded(store)
    # WHEN the report covers them
    report = compliance_report(store, "cis-3.0", S3_CONTROLS, POLICIES, [A5, A4, A1])
    # THEN the unknown and the suspended ones are skipped and the registered one is judged
    assert [m.to_dict() for m in report.manifest] == [
        {"account_id": A5, "state": "skipped", "reason": "not registered"},
        {"account_id": A4, "state": "skipped", "reason": "account is SUSPENDED"},
        {"account_id": A1, "state": "assessed", "reason": ""},
    ]
    assert [(r.control_id, r.account_id, r.status.value) for r in report.results] == [
        ("2.1.1", A1, "fail"),
        ("2.1.2", A1, "pass"),
    ]


def test_tallies_without_a_recorded_scan_are_no_evidence(store: Store) -> None:
    # GIVEN A1 inventoried and its policies evaluated, but no successful scan task recorded
    store.put_accounts([Account(A1)])
    bucket = Resource("arn:aws:s3:::a", A1, "s3", "s3.bucket", "global", {"encrypted": True})
    store.put_resources([bucket], "inv", "col", NOW)
    store.record_coverage(Coverage(A1, TaskKind.INVENTORY, "s3", "inv", NOW))
    scan_account(store, A1, "s3", [ENCRYPTED], "scan", T0, mutes=[])
    # WHEN the report is built
    report = compliance_report(store, "cis-3.0", CONTROLS[:1], POLICIES)
    # THEN the control is not assessed (never a pass), and the account neither
    [result] = report.results
    assert (result.status, result.reason) == (
        ResultStatus.NOT_ASSESSED,
        "s3: not scanned with s3.encrypted",
    )
    assert report.manifest == [
        ManifestEntry(A1, "not-assessed", "s3: not scanned with s3.encrypted")
    ]


def test_a_partly_assessed_account_says_what_is_missing(store: Store) -> None:
    # GIVEN A1 with S3 inventoried and scanned, IAM never inventoried
    seeded(store)
    # WHEN the report covers S3 and IAM controls
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES, [A1])
    # THEN the manifest names the first control's reason
    assert report.manifest == [ManifestEntry(A1, "partly-assessed", "iam: no successful inventory")]


def failed_inventory(store: Store, service: str, failure: str) -> None:
    store.record_coverage(
        Coverage(
            A3, TaskKind.INVENTORY, service, failed_job_id="inv", failed_at=NOW, failure=failure
        )
    )


def test_the_manifest_says_each_inventory_error_once(store: Store) -> None:
    # GIVEN A3's role denied to the inventory of both services (the same error for each)
    store.put_accounts([Account(A3)])
    failed_inventory(store, "iam", "iam global: AssumeRole: AccessDenied")
    failed_inventory(store, "s3", "s3 global: AssumeRole: AccessDenied")
    # WHEN the report covers it
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES)
    # THEN the error is said once, for both services
    assert report.manifest == [
        ManifestEntry(A3, "not-assessed", "iam, s3: global: AssumeRole: AccessDenied")
    ]


def test_the_manifest_keeps_the_inventory_errors_words(store: Store) -> None:
    # GIVEN S3's inventory of A3 denied in two regions, IAM's throttled
    store.put_accounts([Account(A3)])
    failed_inventory(store, "iam", "iam global: Throttling")
    failed_inventory(store, "s3", "partial: s3 eu-west-1: AccessDenied; s3 us-east-1: AccessDenied")
    # WHEN the report covers it
    report = compliance_report(store, "cis-3.0", CONTROLS, POLICIES)
    # THEN each service is named once before its error, the error's own text kept as written
    [entry] = report.manifest
    assert entry.reason == (
        "iam: global: Throttling; s3: partial: eu-west-1: AccessDenied; s3 us-east-1: AccessDenied"
    )


# ---------------------------------------------------------------- scores and the whole report
def result(control_id: str, account: str, status: str, **counts: int) -> ControlResult:
    return ControlResult(control_id, account, ResultStatus(status), **counts)


SCORED_CONTROLS = [
    Control("1.1", "Manual", "1", (), automated=False),
    Control("2.1", "Encryption", "2", ("s3.encrypted",)),
    Control("2.2", "Root MFA", "2", ("iam.root",)),
    Control("10.1", "Versioning", "10", ("s3.versioned",)),
]
SCORED = ComplianceReport(
    "cis-3.0",
    SCORED_CONTROLS,
    [
        result("2.1", A1, "pass", passed=3),
        result("2.2", A1, "pass", passed=1),
        result("10.1", A1, "fail", passed=1, failed=2, muted=1),
        result("2.1", A2, "pass", passed=1, not_applicable=2),
        result("2.2", A2, "not_assessed"),
        result("10.1", A2, "unknown", unknown=1),
    ],
    [ManifestEntry(A1, "assessed"), ManifestEntry(A2, "partly-assessed", "iam: why")],
)


def test_the_report_counts_and_scores_per_account_section_and_in_total() -> None:
    # GIVEN A1: two passes and a failure; A2: a pass, an unknown and a control not assessed
    # WHEN the report is read as a whole
    data = SCORED.to_dict()
    # THEN scores are passes over pass + fail + unknown (4 decimals); not assessed is not
    # counted; sections are in natural order ("2" before "10"); a manual control is listed
    # with no policy and never counted
    assert data["by_account"] == {
        A1: {"pass": 2, "fail": 1, "unknown": 0, "not_assessed": 0, "score": 0.6667},
        A2: {"pass": 1, "fail": 0, "unknown": 1, "not_assessed": 1, "score": 0.5},
    }
    assert list(data["by_section"].items()) == [
        ("2", {"pass": 3, "fail": 0, "unknown": 0, "not_assessed": 1, "score": 1.0}),
        ("10", {"pass": 0, "fail": 1, "unknown": 1, "not_assessed": 0, "score": 0.0}),
    ]
    assert data["totals"] == {"pass": 3, "fail": 1, "unknown": 1, "not_assessed": 1, "score": 0.6}
    assert data["framework"] == "cis-3.0"
    assert data["controls"][:2] == [
        {
            "control_id": "1.1",
            "title": "Manual",
            "section": "1",
            "policy_ids": [],
            "automated": False,
            "covered": False,
        },
        {
            "control_id": "2.1",
            "title": "Encryption",
            "section": "2",
            "policy_ids": ["s3.encrypted"],
            "automated": True,
            "covered": True,
        },
    ]
    assert data["results"][2] == {
        "control_id": "10.1",
        "account_id": A1,
        "status": "fail",
        "passed": 1,
        "failed": 2,
        "unknown": 0,
        "not_applicable": 0,
        "muted": 1,
        "reason": "",
    }
    assert data["results"][3]["not_applicable"] == 2
    assert data["results"][5]["unknown"] == 1
    assert data["manifest"] == [
        {"account_id": A1, "state": "assessed", "reason": ""},
        {"account_id": A2, "state": "partly-assessed", "reason": "iam: why"},
    ]


def test_lettered_sections_sort_naturally_too() -> None:
    # GIVEN controls of an appendix's sections A.2 and A.10
    controls = [Control("A.10.1", "x", "A.10"), Control("A.2.1", "y", "A.2")]
    report = ComplianceReport(
        "x", controls, [result("A.10.1", A1, "pass"), result("A.2.1", A1, "fail")]
    )
    # WHEN the report is read by section THEN A.2 comes before A.10
    assert list(report.by_section()) == ["A.2", "A.10"]


def test_nothing_scored_has_no_score() -> None:
    # GIVEN only controls that were not assessed
    report = ComplianceReport("x", SCORED_CONTROLS, [result("2.1", A1, "not_assessed")])
    # THEN no score, rather than 0 or 100
    assert report.to_dict()["totals"]["score"] is None
    assert report.by_account()[A1]["score"] is None


# ---------------------------------------------------------------- exports, word for word
def test_the_csv_export_has_a_row_per_control_and_account() -> None:
    # GIVEN the scored report WHEN it is written as csv
    out = io.StringIO()
    written = write_report(SCORED, "csv", out, NO_STORE, POLICIES)
    # THEN a header and one line per result, "\r\n"-terminated (RFC 4180)
    assert written == 6
    assert out.getvalue().split("\r\n")[:3] == [
        "framework,control_id,section,title,account_id,status,passed,failed,unknown,"
        "not_applicable,muted,reason",
        f"cis-3.0,2.1,2,Encryption,{A1},pass,3,0,0,0,0,",
        f"cis-3.0,2.2,2,Root MFA,{A1},pass,1,0,0,0,0,",
    ]
    assert out.getvalue().endswith(f"cis-3.0,10.1,10,Versioning,{A2},unknown,0,0,1,0,0,\r\n")
    assert f"\r\ncis-3.0,2.2,2,Root MFA,{A2},not_assessed,0,0,0,0,0,\r\n" in out.getvalue()


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(lead: str) -> None:
    # GIVEN a control title and a reason that start like a spreadsheet formula
    title = f"{lead}HYPERLINK(x)"
    report = ComplianceReport(
        "cis-3.0",
        [Control("2.1", title, "2", ("s3.encrypted",))],
        [ControlResult("2.1", A1, ResultStatus.NOT_ASSESSED, reason=f"{lead}1+1")],
    )
    # WHEN written as csv
    out = io.StringIO()
    write_report(report, "csv", out, NO_STORE, POLICIES)
    # THEN each is prefixed with a quote, so that it stays text; other cells are kept
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["title"], row["reason"], row["section"]) == (f"'{title}", f"'{lead}1+1", "2")


def test_a_csv_cell_with_line_breaks_reads_back_whole() -> None:
    # GIVEN a reason broken by a bare carriage return (an AWS error message may hold any
    # character)
    reason = "s3: no successful inventory (AccessDenied:\rline two)"
    report = ComplianceReport(
        "cis-3.0",
        [Control("2.1", "Encryption", "2", ("s3.encrypted",))],
        [ControlResult("2.1", A1, ResultStatus.NOT_ASSESSED, reason=reason)],
    )
    # WHEN written as csv
    out = io.StringIO()
    write_report(report, "csv", out, NO_STORE, POLICIES)
    # THEN a csv reader reads one row back with the reason whole
    [row] = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert (row["account_id"], row["reason"]) == (A1, reason)


def test_the_json_export_is_the_whole_report_sorted() -> None:
    # GIVEN the scored report WHEN it is written as json
    out = io.StringIO()
    written = write_report(SCORED, "json", out, NO_STORE, POLICIES)
    # THEN it is the report, keys sorted, indented by one space, one result per line counted
    assert written == 6
    text = out.getvalue()
    assert json.loads(text) == SCORED.to_dict()
    assert text.startswith('{\n "by_account": {\n  "444444444441": {\n   "fail": 1,\n')
    assert text.endswith("\n}\n")


def test_an_unknown_format_or_framework_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown format") as refused:
        write_report(SCORED, "x" * 30, io.StringIO(), NO_STORE, POLICIES)
    assert str(refused.value) == f"unknown format {'x' * 20!r} (one of json, csv, ocsf)"
    with pytest.raises(ValueError, match="unknown framework") as refused:
        framework("n" * 50)
    assert str(refused.value) == f"unknown framework {'n' * 40!r} (one of cis-3.0, cis-5.0)"


# ---------------------------------------------------------------- OCSF
OCSF_CONTROLS = [
    Control("2.1.1", "Encryption", "2.1", ("s3.encrypted",)),
    Control("1.5", "Root MFA", "1", ("iam.root",)),
]


def ocsf_scene(store: Store) -> None:
    """A1: bucket a (nothing to judge), b (in eu-west-1, not encrypted), c (encrypted, no
    region known), d (encryption unreadable); IAM never inventoried."""
    store.put_accounts([Account(A1)])
    inventory_and_scan(
        store,
        A1,
        {
            "a": {},
            "b": {"encrypted": False, "versioned": True, "region": "eu-west-1"},
            "c": {"encrypted": True},
            "d": {"encrypted": None},
        },
    )


def ocsf(store: Store, report: ComplianceReport, policies: dict[str, Policy]) -> tuple[int, str]:
    out = io.StringIO()
    return write_report(report, "ocsf", out, store, policies), out.getvalue()


def test_ocsf_events_word_for_word(store: Store) -> None:
    # GIVEN A1's buckets judged by the encryption control, and IAM not assessed
    ocsf_scene(store)
    report = compliance_report(store, "cis-3.0", OCSF_CONTROLS, POLICIES)
    # WHEN the report is written as OCSF
    written, text = ocsf(store, report, POLICIES)
    # THEN one Compliance Finding per judged bucket (not the one the policy does not apply to;
    # none for versioning, which no control of the report uses), then one for the control not
    # assessed; each counted
    events = json.loads(text)
    assert written == len(events) == 4
    [failing, passing, unknown, not_assessed] = events
    assert failing == {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "type_uid": 200301,
        "type_name": "Compliance Finding: Create",
        "severity_id": 4,
        "severity": "High",
        "status_id": 1,
        "status": "New",
        "time": 1714564800000,  # since when the bucket fails (T0), in milliseconds
        "message": "Encryption",
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "qrie", "vendor_name": "qrie"},
            "profiles": ["cloud"],
        },
        "finding_info": {
            "uid": f"qrie/{A1}/2.1.1/arn:aws:s3:::b",
            "title": "2.1.1 Encryption",
            "desc": "no",
        },
        "compliance": {
            "control": "2.1.1",
            "standards": ["CIS AWS Foundations Benchmark v3.0"],
            "requirements": ["CIS v3.0 2.1.1"],
            "status": "Fail",
            "status_id": 3,
            "status_detail": "no",
        },
        "cloud": {"provider": "AWS", "account": {"uid": A1}, "region": "eu-west-1"},
        "resource": {"uid": "arn:aws:s3:::b", "region": "eu-west-1"},
    }
    # a bucket whose region is not known: no region said
    assert passing == {
        **failing,
        "finding_info": {
            "uid": f"qrie/{A1}/2.1.1/arn:aws:s3:::c",
            "title": "2.1.1 Encryption",
            "desc": "encrypted=True",
        },
        "compliance": {
            **failing["compliance"],
            "status": "Pass",
            "status_id": 1,
            "status_detail": "encrypted=True",
        },
        "cloud": {"provider": "AWS", "account": {"uid": A1}},
        "resource": {"uid": "arn:aws:s3:::c"},
    }
    assert (unknown["compliance"]["status"], unknown["compliance"]["status_id"]) == ("Unknown", 0)
    assert unknown["compliance"]["status_detail"] == "encrypted could not be read: AccessDenied"
    # not assessed: about the account (no resource), the reason as detail, no policy severity
    # and no time of its own
    assert not_assessed == {
        **{k: v for k, v in failing.items() if k != "resource"},
        "severity_id": 1,
        "severity": "Informational",
        "time": 0,
        "message": "Root MFA",
        "finding_info": {
            "uid": f"qrie/{A1}/1.5/account",
            "title": "1.5 Root MFA",
            "desc": "iam: no successful inventory",
        },
        "compliance": {
            "control": "1.5",
            "standards": ["CIS AWS Foundations Benchmark v3.0"],
            "requirements": ["CIS v3.0 1.5"],
            "status": "Unknown",
            "status_id": 0,
            "status_detail": "iam: no successful inventory",
        },
        "cloud": {"provider": "AWS", "account": {"uid": A1}},
    }


def test_ocsf_is_a_json_array_of_one_event_a_line_keys_sorted(store: Store) -> None:
    # GIVEN the OCSF export of A1's report
    ocsf_scene(store)
    _written, text = ocsf(
        store, compliance_report(store, "cis-3.0", OCSF_CONTROLS, POLICIES), POLICIES
    )
    # THEN it is "[", one event a line with its keys sorted at every level, "]"
    lines = text.split("\n")
    assert (lines[0], lines[-2:], len(lines)) == ("[", ["]", ""], 4 + 3)

    def sorted_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    for line in lines[1:-2]:
        json.loads(line.removesuffix(","), object_pairs_hook=sorted_keys)
    # and a report without results is an empty array
    assert ocsf(store, ComplianceReport("cis-3.0", OCSF_CONTROLS), POLICIES) == (0, "[\n]\n")


@pytest.mark.parametrize(
    ("severity", "severity_id", "name"),
    [
        (Severity.LOW, 2, "Low"),
        (Severity.MEDIUM, 3, "Medium"),
        (Severity.HIGH, 4, "High"),
        (Severity.CRITICAL, 5, "Critical"),
    ],
)
def test_an_ocsf_event_carries_its_policys_severity(
    store: Store, severity: Severity, severity_id: int, name: str
) -> None:
    # GIVEN A1's encryption judged by a policy of this severity
    ocsf_scene(store)
    policies = {**POLICIES, ENCRYPTED.id: replace(ENCRYPTED, severity=severity)}
    report = compliance_report(store, "cis-3.0", OCSF_CONTROLS[:1], policies)
    # WHEN written as OCSF THEN each event of the control has its severity
    events = json.loads(ocsf(store, report, policies)[1])
    assert {(e["severity_id"], e["severity"]) for e in events} == {(severity_id, name)}


def test_an_ocsf_event_of_a_framework_without_a_file_names_it_as_given(store: Store) -> None:
    # GIVEN a report made for a framework name qrie has no file for
    ocsf_scene(store)
    report = compliance_report(store, "in-house-1", OCSF_CONTROLS, POLICIES)
    # WHEN written as OCSF THEN the name stands for the version
    events = json.loads(ocsf(store, report, POLICIES)[1])
    assert {e["compliance"]["requirements"][0] for e in events} == {
        "CIS in-house-1 2.1.1",
        "CIS in-house-1 1.5",
    }
