"""What people read: tables at 80 columns (identifiers whole, columns dropped by priority,
``--wide``), member-account text shown literally (never as markup), lists that say when they
are cut, and exports that never lose a file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from qrie.domain import Severity, TaskKey, TaskKind, TaskOutcome, TaskStatus
from qrie.store.table import Store
from qrie_cli import findings
from qrie_cli.tables import Column, layout
from tests.support import Stack
from tests.unit.cli_support import Run, as_json, finding, flat, put_findings, register

ACCOUNT = "210000000001"
OTHER = "210000000002"
LONG_ARN = "arn:aws:s3:::qrie-findings-bucket-with-a-rather-long-name-for-80-columns-0001"
LONG_EVIDENCE = (
    "bucket policy statement allows s3:GetObject to Principal * without a condition, so "
    "anyone on the internet can read every object of this bucket"
)
MARKUP = "Sid [red] allows *; Sid [/x] too; [bold]x[/bold] :smile:"


@pytest.fixture
def columns80(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal 80 columns wide."""
    monkeypatch.setenv("COLUMNS", "80")


def rendered(renderable: RenderableType, width: int) -> str:
    """What a console ``width`` columns wide prints (markup on, as rich's default)."""
    console = Console(width=width, file=io.StringIO())
    console.print(renderable)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def assert_fits(text: str, width: int = 80) -> None:
    too_long = [line for line in lines_of(text) if len(line) > width]
    assert not too_long, too_long


# ---------------------------------------------------------------------------- 80 columns
def test_findings_at_80_columns_keep_ids_resource_and_evidence_whole(
    run: Run, stack: Stack, columns80: None
) -> None:
    # GIVEN findings with a long ARN and long evidence, in two accounts
    put_findings(
        stack,
        [
            finding(ACCOUNT, "ec2.default_sg_restricts_traffic", LONG_ARN, LONG_EVIDENCE),
            finding(OTHER, "s3.versioning", LONG_ARN + "-b", "versioning is not enabled"),
        ],
    )
    # WHEN they are listed on an 80-column terminal
    result = run("findings", "list")
    # THEN every line fits, and each account id is whole on the line of its policy id
    assert result.exit_code == 0, result.output
    assert_fits(result.stdout)
    lines = lines_of(result.stdout)
    assert any(ACCOUNT in line and "ec2.default_sg_restricts_traffic" in line for line in lines)
    assert any(OTHER in line and "s3.versioning" in line for line in lines)
    # AND the whole ARN and the evidence are there (folded or wrapped, never cut)
    assert LONG_ARN in "".join(result.stdout.split())
    assert LONG_EVIDENCE in flat(result.stdout)


def test_wide_shows_every_column_of_a_finding_on_one_line(
    run: Run, stack: Stack, columns80: None
) -> None:
    # GIVEN a finding with a long ARN and evidence
    put_findings(stack, [finding(ACCOUNT, "s3.versioning", LONG_ARN, LONG_EVIDENCE)])
    # WHEN it is listed with --wide on an 80-column terminal
    result = run("findings", "list", "--wide")
    # THEN one line holds the account, policy, whole ARN, evidence, region and last seen
    assert result.exit_code == 0
    row = [line for line in lines_of(result.stdout) if ACCOUNT in line]
    assert len(row) == 1
    for part in ("s3.versioning", LONG_ARN, LONG_EVIDENCE, "us-east-1", "2025-01-02T03:04:05"):
        assert part in row[0]


def test_a_wider_terminal_gets_a_table_with_short_forms_and_says_what_it_dropped(
    run: Run, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 120-column terminal and a finding with a long ARN
    monkeypatch.setenv("COLUMNS", "120")
    put_findings(stack, [finding(ACCOUNT, "s3.versioning", LONG_ARN, LONG_EVIDENCE)])
    # WHEN the findings are listed
    result = run("findings", "list")
    # THEN they are a table that fits: header row, the ARN as its resource name, and a note
    # naming the columns left out
    assert_fits(result.stdout, 120)
    text = flat(result.stdout)
    assert "Account Severity Policy Resource Evidence" in text
    assert "arn:aws:s3:::" not in text
    assert "not shown at this width (--wide shows them): region" in text


def test_jobs_list_at_80_columns_keeps_job_ids_on_one_line(
    run: Run, stack: Stack, columns80: None
) -> None:
    # GIVEN two registered accounts and two jobs
    register(run, ACCOUNT, OTHER)
    jobs = [
        as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"],
        as_json(run("scan", "start", "--policy", "s3.*", "--json"))["job_id"],
    ]
    # WHEN the jobs are listed on an 80-column terminal
    result = run("jobs", "list")
    # THEN every line fits, each job id whole on one line with its status and progress
    assert result.exit_code == 0
    assert_fits(result.stdout)
    for job_id in jobs:
        assert any(job_id in line and "IN_PROGRESS" in line for line in lines_of(result.stdout))
    assert "not shown at this width (--wide shows them):" in flat(result.stdout)


def test_task_reasons_fold_and_account_ids_stay_whole_at_80_columns(
    run: Run, stack: Stack, columns80: None
) -> None:
    # GIVEN a job whose task failed with a long reason
    register(run, ACCOUNT)
    job_id = as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"]
    reason = "AssumeRole arn:aws:iam::210000000001:role/QrieReadOnly: AccessDenied: " * 3
    key = TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3")
    Store(stack.table).complete_tasks(job_id, [TaskOutcome(key, TaskStatus.FAILED, reason)])
    # WHEN the job is shown on an 80-column terminal
    result = run("jobs", "show", job_id)
    # THEN the lines fit, the account id is whole beside the task's state, and the reason is
    # all there (folded)
    assert result.exit_code == 0, result.output
    assert_fits(result.stdout)
    assert any(ACCOUNT in line and "FAILED" in line for line in lines_of(result.stdout))
    assert "".join(result.stdout.split()).count("AccessDenied") == 3


@pytest.mark.parametrize("width", range(40, 220, 7))
def test_identifiers_are_never_cut_whatever_the_width(width: int) -> None:
    # GIVEN a table of identifiers and free text
    columns = [
        Column("Job", "job", head=True),
        Column("Account", "account", head=True),
        Column("Status", "status", priority=1),
        Column("Reason", "reason", wrap=True, min_width=20),
        Column("Created", "created", priority=2),
    ]
    records = [
        {
            "job": "inv-all-20250101T000000Z-0a1b2c",
            "account": "123456789012",
            "status": "COMPLETED_WITH_ERRORS",
            "reason": "a reason " * 12,
            "created": "2025-01-01T00:00:00Z",
        }
    ]
    # WHEN it is laid out for a terminal of this width
    text = rendered(layout("T", columns, records, width).renderable, width)
    # THEN the job id and the account id each appear whole on a line
    lines = text.splitlines()
    assert any("inv-all-20250101T000000Z-0a1b2c" in line for line in lines)
    assert any("123456789012" in line for line in lines)
    # AND the lines fit the width
    assert all(len(line.rstrip()) <= width for line in lines)


# ---------------------------------------------------------------------------- markup
def test_member_account_text_is_never_markup(run: Run, stack: Stack) -> None:
    # GIVEN findings whose evidence and ARN hold rich markup and an emoji code, and an account
    # whose name and tags do
    put_findings(
        stack,
        [
            finding(ACCOUNT, "iam.admin_star_policy", "arn:aws:iam::1:policy/[red]p", MARKUP),
            finding(ACCOUNT, "s3.versioning", "arn:aws:s3:::b", "Sid [/x]"),
        ],
    )
    added = run("accounts", "add", OTHER, "--name", "[/x] team", "--tag", "owner=[red]me[/red]")
    assert added.exit_code == 0, added.output
    assert "([/x] team)" in added.stdout
    # WHEN they are shown, as blocks (80 columns), as a table and --wide
    for env_width in ("80", "200"):
        for extra in ((), ("--wide",)):
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("COLUMNS", env_width)
                listed = run("findings", "list", *extra)
                accounts = run("accounts", "list", *extra)
            # THEN nothing crashes and the text is printed as written
            assert listed.exit_code == 0, listed.output
            text = flat(listed.stdout)
            assert "[red]" in text
            assert "[/x]" in text
            assert "[bold]x[/bold] :smile:" in text
            assert "policy/[red]p" in text
            assert accounts.exit_code == 0, accounts.output
            assert "[/x] team" in flat(accounts.stdout)
            assert "owner=[red]me[/red]" in flat(accounts.stdout)


def test_markup_in_errors_and_task_reasons_is_printed_literally(run: Run, stack: Stack) -> None:
    # GIVEN a bad tag holding markup
    # WHEN an account is added with it
    result = run("accounts", "add", ACCOUNT, "--tag", "[/x]")
    # THEN the error quotes it as written
    assert result.exit_code == 2
    assert "got '[/x]'" in result.stderr
    # AND so do the command line's own usage errors
    for option, value in (("--account", "[/x]"), ("--policy", "[red]x[/red]")):
        bad = run("findings", "list", option, value)
        assert bad.exit_code == 2
        assert f"'{value}'" in flat(bad.stderr)
    # AND a failed task whose reason holds markup is shown as written
    register(run, ACCOUNT)
    job_id = as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"]
    key = TaskKey(ACCOUNT, TaskKind.INVENTORY, "s3")
    reason = "AccessDenied on [bold]role[/bold] [/x]"
    Store(stack.table).complete_tasks(job_id, [TaskOutcome(key, TaskStatus.FAILED, reason)])
    for command in (("jobs", "show", job_id), ("jobs", "watch", job_id, "--no-progress")):
        shown = run(*command)
        assert "[bold]role[/bold] [/x]" in flat(shown.stdout), shown.output


def test_cells_are_text_objects_not_markup() -> None:
    # GIVEN a value that is rich markup  WHEN it becomes a cell  THEN its text is unchanged
    result = layout(None, [Column("X", "x")], [{"x": "[red]a[/red] [/x]"}], 80)
    assert "[red]a[/red] [/x]" in rendered(result.renderable, 80)


# ---------------------------------------------------------------------------- lists that say so
def test_findings_list_says_when_it_shows_fewer_than_match(
    run: Run, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 5 open findings
    put_findings(stack, [finding(ACCOUNT, arn=f"arn:aws:s3:::bucket-{i}") for i in range(5)])
    # WHEN 2 are listed
    result = run("findings", "list", "--limit", "2")
    # THEN the output says how many match and how to see them all
    assert result.exit_code == 0
    assert "showing 2 of 5 — use --limit 0 for all" in flat(result.stdout)
    # AND as JSON, stdout is the 2 findings and the note goes to stderr
    as_list = run("findings", "list", "--limit", "2", "--json")
    assert len(as_json(as_list)) == 2
    assert "showing 2 of 5" in as_list.stderr
    # AND when every finding is shown, nothing is said
    for args in (("--limit", "0"), ("--limit", "5"), ()):
        whole = run("findings", "list", *args)
        assert "showing" not in whole.output
    # AND past the counting cap it says "more than"
    monkeypatch.setattr(findings, "COUNT_CAP", 2)
    capped = run("findings", "list", "--limit", "1")
    assert "showing 1 of more than 3 — use --limit 0 for all" in flat(capped.stdout)


# ---------------------------------------------------------------------------- export
@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/dir/findings.json", "directory missing/dir does not exist"),
        (".", "is a directory: name a file in it"),
    ],
)
def test_export_to_a_missing_directory_or_a_directory_is_a_one_line_error(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, message: str
) -> None:
    # GIVEN a working directory
    monkeypatch.chdir(tmp_path)
    # WHEN findings are exported to a path that cannot be a file
    result = run("findings", "export", "--output", where)
    # THEN one line on stderr says why (no traceback), exit 2, and nothing was written
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_export_never_replaces_a_file_without_force(run: Run, stack: Stack, tmp_path: Path) -> None:
    # GIVEN an existing file and one open finding
    put_findings(stack, [finding(ACCOUNT)])
    target = tmp_path / "findings.json"
    target.write_text("keep me")
    # WHEN findings are exported to it
    refused = run("findings", "export", "--output", str(target), "--json")
    # THEN it is refused (exit 2, JSON error naming the option) and the file is untouched
    assert refused.exit_code == 2
    assert as_json(refused)["error"]["field"] == "output"
    assert "pass --force to replace it" in refused.stderr
    assert target.read_text() == "keep me"
    # AND with --force it is replaced by the whole export, and no temporary file is left
    forced = run("findings", "export", "--output", str(target), "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert as_json(forced) == {"output": str(target), "format": "json", "written": 1}
    assert [f["account_id"] for f in json.loads(target.read_text())] == [ACCOUNT]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json"]


def test_export_takes_the_filters_of_findings_list(run: Run, stack: Stack) -> None:
    # GIVEN findings of two accounts, two policies and two severities
    put_findings(
        stack,
        [
            finding(ACCOUNT, "s3.versioning", "arn:aws:s3:::a", severity=Severity.MEDIUM),
            finding(ACCOUNT, "s3.public_access_block", "arn:aws:s3:::b", severity=Severity.HIGH),
            finding(OTHER, "s3.versioning", "arn:aws:s3:::c", severity=Severity.MEDIUM),
        ],
    )
    register(run, ACCOUNT, OTHER)
    cases = [
        ((), {"arn:aws:s3:::a", "arn:aws:s3:::b", "arn:aws:s3:::c"}),
        (("--account", ACCOUNT), {"arn:aws:s3:::a", "arn:aws:s3:::b"}),
        (("--policy", "s3.versioning"), {"arn:aws:s3:::a", "arn:aws:s3:::c"}),
        (("--severity", "high"), {"arn:aws:s3:::b"}),
        (("--state", "resolved"), set()),
        (("--state", "all", "--account", OTHER), {"arn:aws:s3:::c"}),
    ]
    for filters, expected in cases:
        # WHEN they are exported with the filters of `findings list`
        exported = run("findings", "export", *filters)
        listed = run("findings", "list", *filters, "--json")
        # THEN the export holds exactly the findings that match, as the list does
        assert exported.exit_code == 0, exported.output
        assert {f["resource_arn"] for f in json.loads(exported.stdout)} == expected, filters
        assert {f["resource_arn"] for f in as_json(listed)} == expected, filters
