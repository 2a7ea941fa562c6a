"""The CLI's global options (before or after the command), JSON usage errors, and how it finds
the local stack from any directory of the checkout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from qrie_cli import context, target
from qrie_cli import main as cli
from qrie_cli.target import locate_state_dir
from tests.support import Stack
from tests.unit.cli_support import MotoTarget, as_json, flat


class Spy:
    """Records how each command resolved its target, and answers with the moto stack's."""

    def __init__(self, stack: Stack) -> None:
        self.target = MotoTarget(stack)
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> MotoTarget:
        self.calls.append(args)
        return self.target


@pytest.fixture
def spy(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Spy:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    resolver = Spy(stack)
    monkeypatch.setattr(context, "resolve_target", resolver)
    return resolver


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


# ---------------------------------------------------------------------------- global options
@pytest.mark.parametrize(
    "args",
    [
        # the README's deploy section: the options before the command
        ("--stack-name", "qrie-dev", "--region", "eu-west-1", "accounts", "list"),
        # and after it
        ("accounts", "list", "--stack-name", "qrie-dev", "--region", "eu-west-1"),
        # or between the group and its command, or split
        ("accounts", "--stack-name", "qrie-dev", "--region", "eu-west-1", "list"),
        ("--region", "eu-west-1", "accounts", "list", "--stack-name", "qrie-dev"),
    ],
)
def test_target_options_are_accepted_before_and_after_the_command(
    spy: Spy, args: tuple[str, ...]
) -> None:
    # WHEN a command names a deployed stack, wherever the options are
    result = invoke(*args, "--json")
    # THEN the command ran against that stack and region
    assert result.exit_code == 0, result.output
    assert spy.calls == [(False, "qrie-dev", "eu-west-1", None)]


def test_an_option_after_the_command_wins_over_the_same_before_it(
    spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN QRIE_STACK_NAME in the environment
    monkeypatch.setenv("QRIE_STACK_NAME", "from-env")
    # WHEN the command line names stacks before and after the command
    assert invoke("--stack-name", "root", "jobs", "list", "--stack-name", "leaf").exit_code == 0
    assert invoke("--stack-name", "root", "jobs", "list").exit_code == 0
    assert invoke("jobs", "list").exit_code == 0
    # THEN the one after the command wins, then the root's, then the environment's
    assert [call[1] for call in spy.calls] == ["leaf", "root", "from-env"]


def test_json_and_state_dir_before_the_command(spy: Spy, tmp_path: Path) -> None:
    # WHEN --json and --state-dir come before the command
    result = invoke("--json", "--state-dir", str(tmp_path), "accounts", "list")
    # THEN the output is JSON and the state directory reached the target's resolution
    assert result.exit_code == 0
    assert as_json(result) == []
    assert spy.calls == [(False, None, None, tmp_path)]


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group below ``group``."""
    found = []
    for name, command in group.commands.items():
        found.append(((*path, name), command))
        if hasattr(command, "commands"):
            found.extend(_commands(command, (*path, name)))
    return found


def test_every_command_takes_the_global_options_it_can_use() -> None:
    # GIVEN every command and group of the CLI
    leaves = _commands(typer.main.get_command(cli.app))
    assert len(leaves) >= 28
    for path, command in leaves:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        # THEN each takes --json; those that talk to a stack take the target options; those
        # that manage the local stack take --state-dir
        assert "--json" in options, path
        if path[0] not in {"local", "demo", "policies"}:
            assert {"--local", "--stack-name", "--region", "--state-dir"} <= options, path
        if path[0] in {"local", "demo"}:
            assert "--state-dir" in options, path


# ---------------------------------------------------------------------------- JSON usage errors
@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (("findings", "list", "--severity", "urgent"), "severity", "choose from critical"),
        (("findings", "list", "--nope"), "nope", "No such option: --nope"),
        (("inventory", "start", "--accounts", "123"), "accounts", "must be 12 digits: '123'"),
        (("accounts", "add", "1234"), "account_id", "account id must be 12 digits"),
        (("accounts", "add"), "account_id", "Missing argument"),
        (("jobs", "watch", "not-a-job"), "job_id", "malformed job id 'not-a-job'"),
        (("jobs", "list", "--limit", "0"), "limit", "greater than or equal to 1"),
        (("findings", "nope"), None, "No such command 'nope'"),
        (("findings",), None, "Missing command."),
    ],
)
def test_usage_errors_under_json_are_json_with_exit_2(
    args: tuple[str, ...], field: str | None, message: str
) -> None:
    # WHEN a command line with a usage error asks for JSON (before or after the command)
    for line in (("--json", *args), (*args, "--json")):
        result = invoke(*line)
        # THEN stdout holds one JSON error naming the option, and the exit code is 2
        assert result.exit_code == 2, (line, result.output)
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "UsageError"
        assert message in error["message"]
        assert error.get("field") == field
        # AND stderr says it in one line
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1


def test_without_json_usage_errors_stay_human() -> None:
    # WHEN a usage error happens without --json  THEN typer's own message, exit 2, no JSON
    result = invoke("findings", "list", "--severity", "urgent")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "choose from critical" in flat(result.stderr)


# ---------------------------------------------------------------------------- the state dir
@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout (template.yaml at its root) with a source tree, and no QRIE_STATE_DIR."""
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.delenv("QRIE_STATE_DIR", raising=False)
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    return root


def test_the_state_dir_is_found_upward_from_any_directory_of_the_checkout(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a checkout whose local stack keeps its state in <root>/.qrie
    (checkout / ".qrie").mkdir()
    # WHEN qrie looks for it from a subdirectory
    found = locate_state_dir(start=checkout / "src" / "pkg")
    # THEN it is the checkout's, found looking upward
    assert found.path == checkout / ".qrie"
    assert found.source == "found"
    assert f"found looking upward from {checkout / 'src' / 'pkg'}" in found.describe()
    # AND without one yet, the checkout's is where it will be (not ./.qrie in src/pkg)
    (checkout / ".qrie").rmdir()
    assert locate_state_dir(start=checkout / "src" / "pkg").path == checkout / ".qrie"
    # AND --state-dir, then $QRIE_STATE_DIR, win over the search
    monkeypatch.setenv("QRIE_STATE_DIR", "/elsewhere")
    assert locate_state_dir(start=checkout).path == Path("/elsewhere")
    assert locate_state_dir(Path("/given"), start=checkout).path == Path("/given")


def test_a_command_run_from_a_subdirectory_talks_to_the_checkouts_stack(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a checkout with a state directory, and the CLI run from its src/ directory
    (checkout / ".qrie").mkdir()
    monkeypatch.chdir(checkout / "src")
    asked: list[Path | None] = []

    def no_stack(directory: Path | None = None) -> None:
        asked.append(directory)

    monkeypatch.setattr(target, "current_local_stack", no_stack)
    # WHEN a command needs the local stack and none runs there
    result = invoke("jobs", "list")
    # THEN it looked in the checkout's .qrie, not in src/.qrie
    assert asked == [checkout / ".qrie"]
    # AND the error says where it looked and how it found it (exit 2)
    assert result.exit_code == 2
    text = flat(result.stderr)
    assert f"no local stack is running in {checkout / '.qrie'}" in text
    assert f"found looking upward from {checkout / 'src'}" in text
    assert "qrie local up" in text
    assert "--stack-name" in text


def test_with_no_state_dir_anywhere_the_error_lists_where_it_looked(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a checkout without a .qrie, the CLI run from src/pkg
    monkeypatch.chdir(checkout / "src" / "pkg")
    # WHEN a command needs the local stack, as JSON
    result = invoke("findings", "list", "--local", "--json")
    # THEN the error names the directories searched up to the checkout
    assert result.exit_code == 2
    message = as_json(result)["error"]["message"]
    assert f"no local stack is running in {checkout / '.qrie'}" in message
    assert f"no .qrie/ in {checkout / 'src' / 'pkg'}, {checkout / 'src'}, {checkout}" in message


def test_local_status_reports_where_it_looked(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the CLI run from a subdirectory of a checkout with no running stack
    monkeypatch.chdir(checkout / "src")
    # WHEN the local stack's status is asked
    result = invoke("local", "status", "--json")
    # THEN it is the checkout's state directory that is reported down
    assert as_json(result) == {"running": False, "state_dir": str(checkout / ".qrie")}
