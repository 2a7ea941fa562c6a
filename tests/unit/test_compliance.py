"""The compliance report: per control and account pass / fail / unknown / not assessed, scores,
the manifest of every requested account, and its exports (OCSF with passes)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from qrie.domain import (
    Account,
    AccountStatus,
    Coverage,
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
    Control,
    compliance_report,
    framework_controls,
    write_report,
)
from qrie.scan.engine import scan_account
from qrie.store.table import Store
from tests.unit.test_scan_engine import create_table

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
    assert by_id["1.4"].policy_ids == ("iam.root_mfa",)
    assert by_id["5.1.1"].section == "5"
    assert by_id["1.10"].policy_ids == ()
    assert not by_id["1.10"].automated


def control(section: str, policies: list[str], automated: bool = True) -> dict[str, object]:
    return {
        "title": f"control in {section}",
        "section": section,
        "profile": "Level 1",
        "automated": automated,
        "policies": policies,
    }
