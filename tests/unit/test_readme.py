"""The README's ``qrie`` commands run as written: every one parses (options, arguments and their
values), and the deploy section's run against a stack named qrie-dev (here: qrie's stack on
moto). The local-stack section runs end to end in tests/integration/test_readme.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer

from qrie_cli import context
from qrie_cli import main as cli
from qrie_local.members import member_session
from tests.support import REGION, ReadmeCommand, Stack, onboard
from tests.support import readme_commands as extract
from tests.unit.cli_support import MotoTarget, runner_for

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = extract((ROOT / "README.md").read_text(encoding="utf-8"))


def parse(args: tuple[str, ...]) -> None:
    """Parse a command line the way ``qrie`` does (every group and the command: options,
    arguments, their types and validators), without running the command."""
    command: Any = typer.main.get_command(cli.app)
    ctx = command.make_context("qrie", list(args))
    while hasattr(command, "commands"):
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)


def test_the_readme_has_the_commands_of_its_sections() -> None:
    # the extraction finds the deploy and local-stack blocks (a guard for the tests below)
    sections = {c.section for c in COMMANDS if c.in_code_block}
    assert {"Deploy to AWS", "Local stack"} <= sections
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_readme_command_parses(
    command: ReadmeCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a qrie command of the README, run from the checkout
    monkeypatch.chdir(ROOT)
    # WHEN it is parsed  THEN no usage error (unknown command or option, bad value)
    parse(command.args)


def test_the_deploy_section_runs_as_written(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a stack named qrie-dev (qrie's stack on moto, whose workers run at once), and an
    # organization with one member account that has the member role
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]
    accounts = [a["Id"] for a in org.list_accounts()["Accounts"]]
    onboard(accounts)
    member_session(member["AccountId"]).client("s3").create_bucket(Bucket="member-bucket")
    target = MotoTarget(stack, drain=True)
    asked: list[str | None] = []

    def deployed(local: bool, stack_name: str | None, *_: Any) -> MotoTarget:
        asked.append(stack_name)
        return target

    monkeypatch.setattr(context, "resolve_target", deployed)
    run = runner_for(target)
    deploy = [c for c in COMMANDS if c.section == "Deploy to AWS" and c.in_code_block]
    assert len(deploy) == 5
    # WHEN each command of the deploy section runs as written
    for command in deploy:
        result = run(*command.args)
        # THEN it succeeds against the stack it names
        assert result.exit_code == 0, (str(command), result.output)
    assert asked == ["qrie-dev"] * len(deploy)
    # AND the organization's accounts were synced, inventoried and scanned, and the member's
    # bucket's findings exported as OCSF where the README says
    assert [e["operation"] for e in target.events] == ["inventory", "scan"]
    assert sorted(a.account_id for a in target.store.list_accounts()) == sorted(accounts)
    exported = json.loads((tmp_path / "findings.json").read_text())
    assert exported
    assert {e["class_uid"] for e in exported} == {2003}
    assert "arn:aws:s3:::member-bucket" in {e["resource"]["uid"] for e in exported}
