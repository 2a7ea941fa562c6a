"""The pipeline-facing CLI: `compliance report`, `mutes`, and `--fail-on` exit codes."""

from __future__ import annotations

import csv
import io
import json

from qrie_local.members import member_session
from tests.support import Stack, onboard
from tests.unit.cli_support import MotoTarget, Run, as_json, flat, register

ONBOARDED = "260000000001"
NO_ROLE = "260000000002"


def scanned(run: Run, moto_target: MotoTarget) -> None:
    """An onboarded account with a bucket that blocks public access and nothing else,
    inventoried and scanned; and an account never reachable."""
    onboard([ONBOARDED])
    register(run, ONBOARDED, NO_ROLE)
    s3 = member_session(ONBOARDED).client("s3")
    s3.create_bucket(Bucket="qrie-plain-bucket")
    s3.put_public_access_block(
        Bucket="qrie-plain-bucket",
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
            True,
        ),
    )
    moto_target.drain = True
    result = run("scan", "start", "--policy", "s3.*", "--refresh", "--watch", "--no-progress")
    assert result.exit_code == 1, result.output  # NO_ROLE's tasks fail, by design


def test_the_compliance_report_judges_every_control_per_account(
    run: Run, moto_target: MotoTarget
) -> None:
    scanned(run, moto_target)
    report = as_json(run("compliance", "report", "--framework", "cis-3.0", "--json"))
    statuses = {(r["control_id"], r["account_id"]): r["status"] for r in report["results"]}
    # the bucket passes public access (2.1.4) and fails others; IAM was never inventoried
    assert statuses[("2.1.4", ONBOARDED)] == "pass"
    assert "fail" in {s for (c, a), s in statuses.items() if a == ONBOARDED and c.startswith("2.")}
    assert {s for (c, a), s in statuses.items() if c.startswith("1.")} == {"not_assessed"}
    # the unreachable account is never passed: every control not assessed, the reason said
    assert {s for (_c, a), s in statuses.items() if a == NO_ROLE} == {"not_assessed"}
    manifest = {m["account_id"]: m for m in report["manifest"]}
    assert manifest[NO_ROLE]["state"] == "not-assessed"
    assert "AssumeRole" in manifest[NO_ROLE]["reason"]
    assert manifest[ONBOARDED]["state"] == "partly-assessed"
    # AND the table says the same, CSV parses, OCSF carries passes
    table = flat(run("compliance", "report").stdout)
    assert "not assessed" in table
    rows = list(csv.DictReader(io.StringIO(run("compliance", "report", "--format", "csv").stdout)))
    assert {r["account_id"] for r in rows} == {ONBOARDED, NO_ROLE}
    events = json.loads(run("compliance", "report", "--format", "ocsf").stdout)
    assert {e["compliance"]["status"] for e in events} >= {"Pass", "Fail", "Unknown"}


def test_fail_on_exits_3_for_open_findings_and_muting_them_clears_it(
    run: Run, moto_target: MotoTarget, stack: Stack
) -> None:
    onboard([ONBOARDED])
    register(run, ONBOARDED)
    member_session(ONBOARDED).client("s3").create_bucket(Bucket="qrie-plain-bucket")
    moto_target.drain = True
    args = ("scan", "start", "--policy", "s3.*", "--refresh", "--watch", "--no-progress")
    # WHEN a scan that leaves medium findings is watched with --fail-on medium / critical
    assert run(*args, "--fail-on", "medium").exit_code == 3
    assert run(*args, "--fail-on", "critical").exit_code == 0
    assert run("findings", "list", "--fail-on", "low").exit_code == 3
    # WHEN every finding of the account is muted, with a reason
    added = as_json(
        run("mutes", "add", "--account", ONBOARDED, "--reason", "sandbox account", "--json")
    )
    assert added["findings_muted"] >= 1
    # THEN nothing open is left to fail on, and the muted findings stay visible
    assert run("findings", "list", "--fail-on", "low").exit_code == 0
    muted = as_json(run("findings", "list", "--state", "all", "--json"))
    assert {f["state"] for f in muted} == {"MUTED"}
    assert {f["muted_reason"] for f in muted} == {"sandbox account"}
    assert as_json(run("findings", "list", "--state", "muted", "--json")) == muted
    assert [m["mute_id"] for m in as_json(run("mutes", "list", "--json"))] == [added["mute_id"]]
    # AND removing the mute opens them again
    removed = as_json(run("mutes", "remove", added["mute_id"], "--json"))
    assert removed["findings_opened"] == added["findings_muted"]
    assert run("findings", "list", "--fail-on", "low").exit_code == 3


def test_fail_on_needs_watch_and_a_valid_severity(run: Run) -> None:
    assert run("scan", "start", "--fail-on", "high").exit_code == 2
    assert run("scan", "start", "--watch", "--fail-on", "urgent").exit_code == 2
    assert run("mutes", "add", "--reason", " ", "--json").exit_code == 2
