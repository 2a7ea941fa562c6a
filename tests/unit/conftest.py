"""Fixtures of the unit tests: the collectors' member-account sessions, and the CLI run
against the moto stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from qrie.aws import AccountSessions
from qrie_local import moto_patches
from tests.support import Stack
from tests.unit.cli_support import MotoTarget, Run, runner_for
from tests.unit.collectors_support import EXTERNAL_ID, ROLE_NAME


@pytest.fixture
def sessions(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[AccountSessions]:
    """Member-account sessions exactly as the engine builds them (AssumeRole per account)."""
    # Building moto's AMI catalogue costs ~1.5 s per account and region; no test needs it.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    moto_patches.apply()  # the local AWS's moto (ListBuckets pages as S3 does)
    moto_patches.strict_assume_role(False)  # these accounts have no member role deployed
    with mock_aws():
        yield AccountSessions(role_name=ROLE_NAME, external_id=EXTERNAL_ID)


@pytest.fixture
def moto_target(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> MotoTarget:
    """The target every CLI command of the test talks to (``run``), over the moto stack."""
    from qrie_cli import context

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    target = MotoTarget(stack)
    monkeypatch.setattr(context, "resolve_target", lambda *_args: target)
    return target


@pytest.fixture
def run(moto_target: MotoTarget) -> Run:
    """``run("jobs", "list", "--json")``: the CLI against the moto stack."""
    return runner_for(moto_target)
