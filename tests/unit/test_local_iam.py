"""The local AWS's IAM answers as IAM does where qrie's verdicts read it (moto_patches'
``_iam_as_aws``), and it has IAM Access Analyzer (qrie_local.access_analyzer).

Plain moto writes a credential report without the ``<root_account>`` row, with
``not_supported`` where IAM writes ``N/A``, the user's creation as every password's last change
and a fixed 2015 GeneratedTime; answers GetAccountAuthorizationDetails in one page; leaves
``AccountPasswordPresent`` out of the summary; lists every server certificate as expired in 2012;
and answers 404 to Access Analyzer. Each test below fails on plain moto.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.iam.models import iam_backends

from qrie_local import access_analyzer, backends
from qrie_local.certificates import pem_certificate
from qrie_local.identity import local_client
from tests.support import local_server

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


def iam_client() -> Any:
    return boto3.client("iam", region_name=REGION)


def report_rows() -> tuple[list[dict[str, str]], datetime]:
    """The rows of a freshly generated report (moto: STARTED, then COMPLETE), and its time."""
    client = iam_client()
    while client.generate_credential_report()["State"] != "COMPLETE":
        pass
    answer = client.get_credential_report()
    rows = list(csv.DictReader(io.StringIO(answer["Content"].decode())))
    return rows, answer["GeneratedTime"]


def test_the_report_has_the_root_row_and_iams_markers(mocked_aws: None) -> None:
    # GIVEN a user without a password, one with a password never used and two keys
    client = iam_client()
    client.create_user(UserName="plain")
    client.create_user(UserName="console")
    # (the user existed a year before its password was set)
    iam_backends[ACCOUNT]["aws"].users["console"].create_date -= timedelta(days=365)
    client.create_login_profile(UserName="console", Password="a-Long-password-1")
    client.create_access_key(UserName="console")
    client.create_access_key(UserName="console")
    started = datetime.now(UTC) - timedelta(seconds=5)

    # WHEN the credential report is generated and read
    rows, generated = report_rows()

    # THEN the root user's row comes first, as IAM writes it
    root = rows[0]
    assert root["user"] == "<root_account>"
    assert root["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert (root["password_enabled"], root["password_last_used"]) == (
        "not_supported",
        "no_information",
    )
    assert root["access_key_1_active"] == "false"
    assert root["access_key_1_last_used_date"] == "N/A"
    by_user = {row["user"]: row for row in rows}
    # AND a user without a password has N/A (not not_supported) for its password dates
    plain = by_user["plain"]
    assert (plain["password_last_used"], plain["password_last_changed"]) == ("N/A", "N/A")
    # AND a password never used is no_information, last changed when it was set
    console = by_user["console"]
    assert console["password_last_used"] == "no_information"
    changed = datetime.fromisoformat(console["password_last_changed"])
    created = datetime.fromisoformat(console["user_creation_time"])
    assert changed >= started
    assert changed - created > timedelta(days=364)
    # AND both keys are dated, never used
    assert console["access_key_2_active"] == "true"
    assert console["access_key_2_last_rotated"] != "N/A"
    assert console["access_key_2_last_used_date"] == "N/A"
    assert console["access_key_2_last_used_region"] == "N/A"
    # AND the report is dated when it was generated, not 2015
    assert generated >= started


def test_authorization_details_come_in_pages(mocked_aws: None) -> None:
    # GIVEN 5 users and 2 groups
    client = iam_client()
    for index in range(5):
        client.create_user(UserName=f"user-{index}")
    for index in range(2):
        client.create_group(GroupName=f"group-{index}")
    # WHEN their details are listed 3 entities a page
    pages = list(
        client.get_paginator("get_account_authorization_details").paginate(
            Filter=["User", "Group"], PaginationConfig={"PageSize": 3}
        )
    )
    # THEN there are three pages, every user and group once, in order
    assert [len(p["UserDetailList"]) + len(p["GroupDetailList"]) for p in pages] == [3, 3, 1]
    users = [u["UserName"] for p in pages for u in p["UserDetailList"]]
    assert users == [f"user-{index}" for index in range(5)]
    assert [g["GroupName"] for p in pages for g in p["GroupDetailList"]] == ["group-0", "group-1"]


def test_authorization_details_name_customer_policies(mocked_aws: None) -> None:
    # GIVEN a customer-managed policy
    client = iam_client()
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    client.create_policy(PolicyName="read", PolicyDocument=json.dumps(document))
    # WHEN listed through the authorization details / THEN it carries its name and id
    (policy,) = client.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"]
    assert policy["PolicyName"] == "read"
    assert policy["PolicyId"]


def test_the_summary_says_whether_the_root_password_is_present(mocked_aws: None) -> None:
    # WHEN the account summary is read / THEN it has AccountPasswordPresent, 1 as on AWS
    assert iam_client().get_account_summary()["SummaryMap"]["AccountPasswordPresent"] == 1


def test_server_certificates_expire_when_their_body_says(mocked_aws: None) -> None:
    # GIVEN two certificates uploaded, expiring in 2031 and in 2019
    client = iam_client()
    for name, year in (("new", 2031), ("old", 2019)):
        client.upload_server_certificate(
            ServerCertificateName=name,
            CertificateBody=pem_certificate(datetime(year, 1, 1, tzinfo=UTC)),
            PrivateKey="-",
        )
    # WHEN listed
    listed = client.list_server_certificates()["ServerCertificateMetadataList"]
    # THEN each has its own expiration and id
    expirations = {c["ServerCertificateName"]: c["Expiration"].year for c in listed}
    assert expirations == {"new": 2031, "old": 2019}
    assert len({c["ServerCertificateId"] for c in listed}) == 2


# ---- IAM Access Analyzer -------------------------------------------------------------------------
def test_access_analyzer_lists_what_was_created_per_region(mocked_aws: None) -> None:
    # GIVEN analyzers created in two regions
    east = boto3.client("accessanalyzer", region_name="us-east-1")
    west = boto3.client("accessanalyzer", region_name="eu-west-1")
    arn = east.create_analyzer(analyzerName="external", type="ACCOUNT")["arn"]
    east.create_analyzer(analyzerName="unused", type="ACCOUNT_UNUSED_ACCESS")
    # WHEN listed
    listed = east.list_analyzers()["analyzers"]
    # THEN each region has its own, active at once, filterable by type
    assert arn == f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/external"
    assert [(a["name"], a["type"], a["status"]) for a in listed] == [
        ("external", "ACCOUNT", "ACTIVE"),
        ("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE"),
    ]
    assert [a["name"] for a in east.list_analyzers(type="ACCOUNT")["analyzers"]] == ["external"]
    assert west.list_analyzers()["analyzers"] == []
    # AND names are unique, deletion removes, an unknown name is refused
    with pytest.raises(ClientError, match="ConflictException"):
        east.create_analyzer(analyzerName="external", type="ACCOUNT")
    east.delete_analyzer(analyzerName="external")
    assert [a["name"] for a in east.list_analyzers()["analyzers"]] == ["unused"]
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        east.delete_analyzer(analyzerName="external")


def test_access_analyzers_are_kept_in_the_saved_state(mocked_aws: None, tmp_path: Path) -> None:
    # GIVEN an analyzer in the local AWS
    boto3.client("accessanalyzer", region_name="eu-west-1").create_analyzer(
        analyzerName="kept", type="ACCOUNT"
    )
    # WHEN the local AWS's state is saved
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    info = backends.save(folder / "aws.pickle")
    # THEN Access Analyzer is one of the saved services, its analyzer in it
    assert access_analyzer.__name__ in info.services
    payload = pickle.loads((folder / "aws.pickle").read_bytes().split(b"\n", 1)[1])  # noqa: S301
    saved = payload[(access_analyzer.__name__, "accessanalyzer_backends")]
    assert "kept" in saved[ACCOUNT]["eu-west-1"].analyzers


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_server(state_dir=tmp_path_factory.mktemp("qrie") / ".qrie") as url:
        yield url


def test_the_local_server_serves_access_analyzer(endpoint: str) -> None:
    # GIVEN the local server (as `qrie local up` runs it)
    client = local_client("accessanalyzer", endpoint, "eu-central-1")
    # WHEN an analyzer is created and listed through it / THEN it is there
    client.create_analyzer(analyzerName="served", type="ORGANIZATION")
    assert [a["name"] for a in client.list_analyzers()["analyzers"]] == ["served"]
