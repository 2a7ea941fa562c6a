"""The local AWS answers only qrie: no web origin (no CORS), no foreign Host, no unsigned AWS
request, moto's /moto-api/ only with the control token; and what it writes is private."""

from __future__ import annotations

import io
import json
import stat
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from qrie_local import backends, server
from qrie_local.identity import local_client
from qrie_local.private import private_dir, write_private
from tests.support import local_server

REGION = "us-east-1"


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qrie") / ".qrie"


@pytest.fixture(scope="module")
def endpoint(state_dir: Path) -> Iterator[str]:
    with local_server(state_dir=state_dir) as url:
        yield url


def request(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a plain HTTP request, whatever the status."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - local URL
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def token(state_dir: Path) -> str:
    return str(json.loads((state_dir / "server.json").read_text())["token"])


def signed(service: str = "sqs") -> dict[str, str]:
    """An Authorization header shaped as SigV4 (moto does not check the signature itself)."""
    scope = f"testing/20250101/{REGION}/{service}/aws4_request"
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, Signature=x"}


def test_a_web_page_origin_is_refused_without_cors_headers(endpoint: str) -> None:
    # GIVEN a request a web page at http://evil.example would send, signed or not
    for method in ("GET", "POST", "OPTIONS"):
        headers = {"Origin": "http://evil.example", **signed()}
        # WHEN it reaches the local AWS
        status, answer, body = request(f"{endpoint}/?Action=ListQueues", headers, method)
        # THEN it is refused, with no CORS header that would let the page read anything
        assert status == 403, (method, body)
        assert not any(h.lower().startswith("access-control-") for h in answer)
        assert b"cross-origin requests are refused" in body


def test_browser_requests_foreign_hosts_and_unsigned_calls_are_refused(endpoint: str) -> None:
    port = endpoint.rsplit(":", 1)[1]
    refused = {
        "no-cors request of another site": {"Sec-Fetch-Site": "cross-site", **signed()},
        "DNS rebinding": {"Host": f"evil.example:{port}", **signed()},
        "unsigned": {},
    }
    for case, headers in refused.items():
        status, _, _ = request(f"{endpoint}/?Action=ListQueues", headers)
        assert status == 403, case
    # while qrie's own clients (boto3, signed, no Origin) are served
    assert (
        local_client("sqs", endpoint, REGION).list_queues()["ResponseMetadata"]["HTTPStatusCode"]
        == 200
    )
    assert request(f"{endpoint}{server.STATS_PATH}")[0] == 200


def test_moto_api_needs_the_control_token(endpoint: str, state_dir: Path) -> None:
    # GIVEN moto's dashboard data (the whole state), its reset and the release path
    for path, method in (
        ("/moto-api/data.json", "GET"),
        ("/moto-api/", "GET"),
        ("/moto-api/reset", "POST"),
        (server.RELEASE_PATH, "POST"),
        (server.CREDENTIALS_PATH, "POST"),
    ):
        # WHEN asked for without the token, or with a wrong one
        assert request(f"{endpoint}{path}", method=method)[0] == 403, path
        wrong = {server.TOKEN_HEADER: "guess"}
        assert request(f"{endpoint}{path}", wrong, method)[0] == 403, path
    # THEN only the token in server.json opens them
    good = {server.TOKEN_HEADER: token(state_dir)}
    status, _, body = request(f"{endpoint}/moto-api/data.json", good)
    assert status == 200
    assert "sqs" in json.loads(body)


def test_release_makes_in_flight_messages_visible(endpoint: str, state_dir: Path) -> None:
    # GIVEN a queue with a 30-minute visibility timeout and 2 of its 3 messages in flight
    sqs = local_client("sqs", endpoint, REGION)
    url = sqs.create_queue(QueueName="release-test", Attributes={"VisibilityTimeout": "1800"})[
        "QueueUrl"
    ]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert len(held) == 2
    # WHEN the release path is called for it (with the token)
    headers = {server.TOKEN_HEADER: token(state_dir), "Content-Type": "application/json"}
    body = json.dumps({"queue_urls": [url]}).encode()
    status, _, answer = request(f"{endpoint}{server.RELEASE_PATH}", headers, "POST", body)
    # THEN both come back at once, the third was never held
    assert status == 200
    assert json.loads(answer) == {"released": {url: 2}}
    again: list[dict[str, Any]] = []
    for _ in range(5):
        again += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(again) == 3
    # AND a malformed request is a clear 400
    status, _, answer = request(f"{endpoint}{server.RELEASE_PATH}", headers, "POST", b"[1]")
    assert status == 400
    assert b"queue_urls" in answer


def test_a_presigned_download_is_served_but_not_an_unsigned_one(endpoint: str) -> None:
    # GIVEN an object in the local AWS's S3, as a deployment package is
    s3 = local_client("s3", endpoint, REGION)
    s3.create_bucket(Bucket="packages")
    s3.put_object(Bucket="packages", Key="code.zip", Body=b"zip bytes")
    # WHEN it is fetched by a presigned URL (GetFunction's Code.Location), then unsigned
    v4 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    params = {"Bucket": "packages", "Key": "code.zip"}
    presigned = v4.generate_presigned_url("get_object", Params=params)
    # THEN the presigned read is served, the unsigned one and a presigned write are refused
    status, _, body = request(presigned)
    assert (status, body) == (200, b"zip bytes")
    assert request(f"{endpoint}/packages/code.zip")[0] == 403
    assert request(presigned, method="PUT", body=b"other")[0] == 403


def test_lambda_assumes_an_execution_role_that_trusts_it(endpoint: str, state_dir: Path) -> None:
    # GIVEN a role trusting Lambda (as a deployed function's is) and one trusting the account
    iam = local_client("iam", endpoint, REGION)
    trusts = {
        "lambda-role": {"Service": "lambda.amazonaws.com"},
        "account-role": {"AWS": "arn:aws:iam::123456789012:root"},
    }
    arns = {
        name: iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )["Role"]["Arn"]
        for name, principal in trusts.items()
    }
    headers = {server.TOKEN_HEADER: token(state_dir), "Content-Type": "application/json"}

    def ask(role_arn: str) -> tuple[int, Any]:
        body = json.dumps({"role_arn": role_arn, "session_name": "test"}).encode()
        status, _, answer = request(f"{endpoint}{server.CREDENTIALS_PATH}", headers, "POST", body)
        return status, json.loads(answer)

    # WHEN Lambda's credentials are asked for each
    status, credentials = ask(arns["lambda-role"])
    # THEN the role trusting Lambda gives a session of itself
    assert status == 200
    session = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )
    assert ":assumed-role/lambda-role/test" in session.get_caller_identity()["Arn"]
    # and the others are refused, saying why
    status, answer = ask(arns["account-role"])
    assert status == 400
    assert "does not allow lambda.amazonaws.com" in answer["message"]
    status, answer = ask("arn:aws:iam::123456789012:role/missing")
    assert status == 400
    assert "no role" in answer["message"]


def test_server_state_is_private(endpoint: str, state_dir: Path) -> None:
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    server_file = state_dir / "server.json"
    assert stat.S_IMODE(server_file.stat().st_mode) == 0o600
    state = json.loads(server_file.read_text())
    assert state["endpoint"] == endpoint
    assert len(state["token"]) >= 32


def test_a_saved_state_is_loaded_only_if_this_moto_wrote_it_and_only_this_user_can(
    tmp_path: Path,
) -> None:
    # GIVEN saved states written by another moto, and one other users could have written
    folder = private_dir(tmp_path / "state")
    other_moto = folder / "other.pickle"
    header = {"format": 1, "moto": "0.0.1", "python": "3.11.0"}
    write_private(other_moto, json.dumps(header).encode() + b"\n")
    shared = folder / "shared.pickle"
    write_private(shared, b"{}\n")
    shared.chmod(0o666)
    # WHEN they are restored THEN each is refused, saying why, and nothing is loaded
    with pytest.raises(backends.SnapshotError, match="was saved by"):
        backends.restore(other_moto)
    with pytest.raises(backends.SnapshotError, match="writable by other users"):
        backends.restore(shared)


def test_deployed_functions_survive_a_save_and_a_restore(endpoint: str, tmp_path: Path) -> None:
    # GIVEN a function (found by name and by ARN) with an alias, as a deployed stack has them
    s3 = local_client("s3", endpoint, REGION)
    s3.create_bucket(Bucket="saved-packages")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def main(event, context):\n    return event\n")
    s3.put_object(Bucket="saved-packages", Key="app.zip", Body=buffer.getvalue())
    iam = local_client("iam", endpoint, REGION)
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = iam.create_role(RoleName="saved-fn", AssumeRolePolicyDocument=json.dumps(trust))
    lam = local_client("lambda", endpoint, REGION)
    arn = lam.create_function(
        FunctionName="saved-fn",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="app.main",
        Code={"S3Bucket": "saved-packages", "S3Key": "app.zip"},
    )["FunctionArn"]
    lam.create_alias(FunctionName="saved-fn", Name="live", FunctionVersion="$LATEST")
    # WHEN the local AWS's state is saved and loaded back
    path = private_dir(tmp_path / "saved") / "aws-state.pickle"
    saved = backends.save(path)
    backends.restore(path)
    # THEN Lambda was saved with the rest, and the function answers by ARN, with its alias
    assert "moto.awslambda.models" in saved.services, saved.skipped
    assert lam.get_function(FunctionName=arn)["Configuration"]["Handler"] == "app.main"
    assert lam.get_alias(FunctionName="saved-fn", Name="live")["FunctionVersion"] == "$LATEST"
