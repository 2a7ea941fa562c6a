"""Shared fixtures: fake credentials, an in-process AWS (moto) with qrie's stack, contexts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from qrie.handlers import runtime
from qrie_local import moto_patches
from qrie_local.events import LambdaContext
from qrie_local.stack import LocalStack
from tests.support import REGION, Stack, create_stack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[None]:
    moto_patches.apply()
    moto_patches.strict_assume_role(True)
    runtime.reset()  # each test is a fresh execution environment: no cached clients/credentials
    try:
        with mock_aws():
            yield
    finally:
        runtime.reset()
        moto_patches.strict_assume_role(False)


@pytest.fixture
def stack(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """qrie's table and queues, with the functions' environment set as the template sets it."""
    created = create_stack()
    for name, value in created.env().items():
        monkeypatch.setenv(name, value)
    return created


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack for the module (integration and browser tests): a moto server started by
    LocalStack.up, the template provisioned."""
    stack = LocalStack.up(
        state_dir=tmp_path_factory.mktemp("qrie-state"), template=ROOT / "template.yaml"
    )
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext("qrie-test-function", 300)


def load_event(path: str | Path) -> Any:
    return json.loads((ROOT / path).read_text())
