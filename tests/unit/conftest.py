"""Fixtures for the unit tests: the collectors' local AWS (moto, fake credentials), throw-away
packages for the registries to discover, and the CLI run against the moto stack."""

from __future__ import annotations

import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

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


@pytest.fixture
def make_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, str]], str]]:
    """Writes a package of the given modules (``{name: source}``; ``{package}`` in a source is
    the package's name) where Python imports from, and returns its name. Forgotten after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"fake_{uuid.uuid4().hex}"

    def make(modules: dict[str, str]) -> str:
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        for module, source in modules.items():
            text = textwrap.dedent(source).replace("{package}", name)
            (package / f"{module}.py").write_text(text)
        return name

    yield make
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


@pytest.fixture
def local_time_not_utc() -> Iterator[None]:
    """The host's local time zone five hours ahead of UTC: stored times must still be UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "QRIE-05"  # POSIX: five hours east of Greenwich
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
