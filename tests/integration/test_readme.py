"""The README's local-stack section, run as written against a real local stack (moto server,
runner daemon), from the checkout's src/ directory (the template is found upward;
$QRIE_STATE_DIR names a temporary state directory, so a developer's .qrie is left alone)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from qrie_cli import main as cli
from tests.support import readme_commands

ROOT = Path(__file__).resolve().parents[2]
SECTION = [
    c
    for c in readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    if c.section == "Local stack" and c.in_code_block
]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary state directory, the CLI run from src/, the stack always stopped after."""
    monkeypatch.setenv("QRIE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    monkeypatch.chdir(ROOT / "src")
    try:
        yield tmp_path
    finally:
        invoke("local", "down")


def test_the_local_stack_section_runs_as_written(state_dir: Path) -> None:
    # GIVEN the README's local-stack commands: up, seed, inventory, scan, findings, jobs, down
    assert [c.args[:2] for c in SECTION] == [
        ("local", "up"),
        ("local", "seed"),
        ("inventory", "start"),
        ("scan", "start"),
        ("findings", "list"),
        ("jobs", "list"),
        ("local", "down"),
    ]
    before_down, down = SECTION[:-1], SECTION[-1]
    # WHEN they run in order, from src/
    results = {}
    for command in before_down:
        result = invoke(*command.args)
        results[command.args[:2]] = result
        # THEN each succeeds, except a watched job that failed only as the README says
        assert result.exit_code in (0, 1), (str(command), result.output)
        if result.exit_code == 1:
            assert command.args[-1] == "--watch", (str(command), result.output)
    assert "local stack started" in results[("local", "up")].stdout
    assert str(state_dir) in results[("local", "up")].stdout
    # AND the jobs finished, their failures all the unassumable account's: its inventory
    # denied, hence its scan not inventoried
    jobs = json.loads(invoke("jobs", "list", "--json").stdout)
    assert [j["operation"] for j in jobs] == ["scan", "inventory"]
    assert {j["status"] for j in jobs} <= {"COMPLETED", "COMPLETED_WITH_ERRORS"}
    failed = [
        task
        for job in jobs
        for task in json.loads(invoke("jobs", "show", job["job_id"], "--json").stdout)["tasks"]
        if task["status"] == "FAILED"
    ]
    assert failed
    assert len({t["account_id"] for t in failed}) == 1
    reasons = {t["kind"]: t["reason"] for t in failed}
    assert "AccessDenied" in reasons["inventory"]
    assert reasons["scan"].startswith("not-inventoried")
    # (as the README's comments say)
    assert results[("inventory", "start")].exit_code == 1
    assert results[("scan", "start")].exit_code == 1
    # AND the findings list printed findings of high severity
    assert "high" in results[("findings", "list")].stdout
    # AND local down stops the stack
    stopped = invoke(*down.args)
    assert stopped.exit_code == 0
    assert "local stack stopped" in stopped.stdout
    assert json.loads(invoke("local", "status", "--json").stdout)["running"] is False
