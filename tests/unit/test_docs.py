"""The generated docs: committed as generated, and saying what the registries hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from qrie.inventory.calls import AwsCall
from qrie.inventory.registry import all_collectors
from qrie.policies.frameworks import load_frameworks
from qrie.policies.registry import all_policies
from qrie_cli import docs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(docs.documents()))
def test_committed_docs_are_not_stale(name: str) -> None:
    # GIVEN a generated doc as committed
    committed = (ROOT / name).read_text(encoding="utf-8")
    # WHEN it is generated from today's code and data
    generated = docs.documents()[name]()
    # THEN they are the same (run `make docs` after changing a policy, framework or collector)
    assert committed == generated, f"{name} is stale: run make docs"


def test_check_mode_names_a_stale_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a checkout whose policies.md is out of date and whose aws-calls.md is current
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "policies.md").write_text("# old\n")
    (tmp_path / "docs" / "aws-calls.md").write_text(docs.documents()["docs/aws-calls.md"]())
    # WHEN the generator checks it
    code = docs.main(["--root", str(tmp_path), "--check"])
    # THEN it fails naming only the stale file, and leaves it alone
    assert code == 1
    assert "stale: docs/policies.md (run make docs)" in capsys.readouterr().err
    assert (tmp_path / "docs" / "policies.md").read_text() == "# old\n"
    # AND writing brings both up to date
    assert docs.main(["--root", str(tmp_path)]) == 0
    assert docs.main(["--root", str(tmp_path), "--check"]) == 0


def table_rows(text: str, first_cell_prefix: str) -> dict[str, list[str]]:
    rows = [line for line in text.splitlines() if line.startswith(f"| {first_cell_prefix}")]
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    return {row[0].strip("`"): row for row in cells}


def test_policies_doc_lists_every_policy_with_its_controls() -> None:
    # GIVEN the generated policies doc
    text = docs.render_policies(all_policies(), load_frameworks())
    rows = table_rows(text, "`")
    v3, v5 = load_frameworks().get("cis-aws-3.0"), load_frameworks().get("cis-aws-5.0")
    # THEN it has one row per policy with its severity and its CIS ids per version
    assert set(rows) == set(all_policies())
    for policy in all_policies().values():
        cells = rows[policy.id]
        assert cells[1] == policy.severity.value
        assert cells[2] == (", ".join(c.id for c in v3.controls_of(policy.id)) or "—")
        assert cells[3] == (", ".join(c.id for c in v5.controls_of(policy.id)) or "—")
        # AND a section with what decides its verdict, from the evaluator's docstring
        assert f"### `{policy.id}` ({policy.severity.value})" in text
    assert "Account-level Block Public Access is not read." in text


def test_policies_doc_reports_each_frameworks_coverage() -> None:
    # GIVEN the generated policies doc
    text = docs.render_policies(all_policies(), load_frameworks())
    # THEN each framework has its coverage line and one row per control
    assert "### CIS AWS Foundations Benchmark v3.0 (`cis-aws-3.0`)" in text
    assert "qrie answers **16 of the 28 Automated controls** listed" in text
    assert "| 1.20 | Ensure that IAM Access analyzer is enabled for all regions |" in text
    assert "| 5.1.1 | Ensure EBS volume encryption is enabled in all regions |" in text


def test_a_call_to_another_api_is_named_with_it() -> None:
    # GIVEN an S3 collector call that goes to S3 Control, and one to S3 itself
    account_level = AwsCall(
        "GetPublicAccessBlock", "s3:GetAccountPublicAccessBlock", "1", client="s3control"
    )
    bucket_level = AwsCall("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "B")
    # THEN the doc tells them apart
    assert docs.call_label("s3", account_level) == "s3control GetPublicAccessBlock"
    assert docs.call_label("s3", bucket_level) == "GetPublicAccessBlock"


def test_markdown_escapes_placeholders_and_wildcards_outside_code() -> None:
    # GIVEN prose with a CLI placeholder and a wildcard, and a code span with both
    text = "run --mfa '<serial>' on Principal '*' (``arn:aws:s3:::<bucket>/*``)"
    # THEN the prose is escaped and the code span kept as written
    assert docs._prose(text) == (
        "run --mfa '&lt;serial>' on Principal '\\*' (`arn:aws:s3:::<bucket>/*`)"
    )


def test_calls_doc_has_every_declared_call() -> None:
    # GIVEN the generated AWS calls doc
    text = docs.render_aws_calls(all_collectors())
    rows = table_rows(text, "")
    # THEN every declared call is a row with its IAM action and count
    for service, collector in all_collectors().items():
        assert f"## {service.upper()} ({collector.calls.scope})" in text
        for call in collector.calls.calls:
            assert rows[docs.call_label(service, call)][1:3] == [call.action, call.count]
    # AND the listing calls are the ones whose failure fails the scope
    assert "(ListBuckets, DescribeInstances, DescribeVolumes, DescribeSecurityGroups, " in text
