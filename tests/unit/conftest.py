"""Fixtures for the unit tests of the collectors (the local AWS's moto, fake credentials)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from qrie.aws import AccountSessions
from qrie_local import moto_patches
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
