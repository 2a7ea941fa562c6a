"""Lambda's Invoke on the local AWS (qrie_local.invoke) and a deployed function's code in its
execution environment (qrie_local.slots): what the CLI's ``lambda:Invoke`` meets."""

from __future__ import annotations

import io
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from qrie_local.functions import FunctionSpec
from qrie_local.invoke import InvokeServer, forward_hook, function_name_of
from qrie_local.server import RequestInfo
from qrie_local.slots import Outcome, Slot

PATH = "/2015-03-31/functions/{}/invocations"


class Calls:
    """The runner's side of an InvokeServer: one known function, a scripted outcome."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.events: list[tuple[str, Any]] = []

    def resolve(self, name: str) -> str | None:
        return (
            "JobHandlerFunction" if name in {"stack-JobHandler-X1", "JobHandlerFunction"} else None
        )

    def invoke(self, key: str, event: Any) -> Outcome:
        self.events.append((key, event))
        return self.outcome


def server(outcome: Outcome) -> tuple[InvokeServer, Calls]:
    calls = Calls(outcome)
    return InvokeServer(calls.resolve, calls.invoke, lambda _text: None), calls


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("stack-JobHandler-X1", "stack-JobHandler-X1"),
        ("stack-JobHandler-X1:$LATEST", "stack-JobHandler-X1"),
        ("123456789012:function:stack-JobHandler-X1", "stack-JobHandler-X1"),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:stack-JobHandler-X1:3",
            "stack-JobHandler-X1",
        ),
    ],
)
def test_every_form_of_function_name_is_understood(identifier: str, name: str) -> None:
    assert function_name_of(identifier) == name


def test_a_request_response_invocation_answers_the_handlers_result() -> None:
    # GIVEN a function whose handler returns a JSON object
    invoke_server, calls = server(Outcome("ok", result={"job_id": "j1"}))
    # WHEN it is invoked by its deployed name, with a payload
    reply = invoke_server.handle(PATH.format("stack-JobHandler-X1"), "RequestResponse", b'{"a": 1}')
    # THEN the handler got the payload and Lambda's answer is its result
    assert calls.events == [("JobHandlerFunction", {"a": 1})]
    assert reply.status == 200
    assert json.loads(reply.body) == {"job_id": "j1"}
    assert ("X-Amz-Function-Error", "Unhandled") not in reply.headers


def test_a_handler_error_is_a_function_error_not_a_service_error() -> None:
    # GIVEN a function whose handler raises
    outcome = Outcome("error", error_type="ValueError", error_message="bad", trace="line 1\nline 2")
    invoke_server, _ = server(outcome)
    # WHEN it is invoked
    reply = invoke_server.handle(PATH.format("JobHandlerFunction"), "RequestResponse", b"{}")
    # THEN Lambda answers 200 with X-Amz-Function-Error and the error document
    assert reply.status == 200
    assert ("X-Amz-Function-Error", "Unhandled") in reply.headers
    assert json.loads(reply.body) == {
        "errorMessage": "bad",
        "errorType": "ValueError",
        "stackTrace": ["line 1", "line 2"],
    }


def test_unknown_functions_and_bad_payloads_are_refused_before_running_anything() -> None:
    invoke_server, calls = server(Outcome("ok", result=None))
    missing = invoke_server.handle(PATH.format("nope"), "RequestResponse", b"{}")
    assert missing.status == 404
    assert ("x-amzn-ErrorType", "ResourceNotFoundException") in missing.headers
    bad = invoke_server.handle(PATH.format("JobHandlerFunction"), "RequestResponse", b"{nope")
    assert bad.status == 400
    assert ("x-amzn-ErrorType", "InvalidRequestContentException") in bad.headers
    dry = invoke_server.handle(PATH.format("JobHandlerFunction"), "DryRun", b"{}")
    assert dry.status == 204
    assert calls.events == []


def test_an_event_invocation_is_accepted_at_once_and_run() -> None:
    invoke_server, calls = server(Outcome("ok", result=None))
    reply = invoke_server.handle(PATH.format("JobHandlerFunction"), "Event", b'{"x": 2}')
    assert reply.status == 202
    for _ in range(100):
        if calls.events:
            break
        time.sleep(0.01)
    assert calls.events == [("JobHandlerFunction", {"x": 2})]


def _invoke_request(path: str, body: bytes) -> RequestInfo:
    environ = {
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_AMZ_INVOCATION_TYPE": "RequestResponse",
    }
    return RequestInfo("lambda", "POST", "POST", path, "us-east-1", environ)


def test_the_local_aws_forwards_invoke_to_the_registered_runner(tmp_path: Path) -> None:
    # GIVEN a runner's invoke server registered in the state directory
    invoke_server, calls = server(Outcome("ok", result={"ok": True}))
    invoke_server.start()
    try:
        invoke_server.register(tmp_path)
        hook = forward_hook(tmp_path)
        # WHEN the local AWS receives an Invoke for a function by its ARN
        arn = "arn:aws:lambda:us-east-1:123456789012:function:stack-JobHandler-X1"
        reply = hook(_invoke_request(PATH.format(arn), b'{"n": 1}'))
        # THEN the runner ran it and the local AWS answers the runner's answer
        assert reply is not None
        assert reply.status == 200
        assert json.loads(reply.body) == {"ok": True}
        assert calls.events == [("JobHandlerFunction", {"n": 1})]
        # and other Lambda requests go on to moto
        other = RequestInfo("lambda", "GET", "GET", "/2015-03-31/functions/", "us-east-1", {})
        assert hook(other) is None
    finally:
        invoke_server.unregister(tmp_path)
        invoke_server.stop()


def test_without_a_runner_invoke_is_a_clear_service_error(tmp_path: Path) -> None:
    reply = forward_hook(tmp_path)(_invoke_request(PATH.format("fn"), b"{}"))
    assert reply is not None
    assert reply.status == 500
    assert ("x-amzn-ErrorType", "ServiceException") in reply.headers
    assert "runner" in json.loads(reply.body)["message"]


# ----------------------------------------------------------------------------- deployed code
def test_a_deployed_function_runs_the_code_of_its_package(tmp_path: Path) -> None:
    # GIVEN a deployment package whose handler's package shadows nothing installed: qrie_local
    # itself, a module of which answers where it was loaded from
    package = tmp_path / "package" / "qrie_local"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "where.py").write_text(
        textwrap.dedent(
            """
            import qrie_local

            def handler(event, context):
                return {"file": __file__, "package": qrie_local.__file__,
                        "function": context.function_name}
            """
        )
    )
    spec = FunctionSpec(
        logical_id="Where",
        handler="qrie_local.where.handler",
        timeout=30,
        memory=128,
        environment={},
        function_name="stack-Where-X1",
        code_dir=str(tmp_path / "package"),
    )
    slot = Slot(spec, {}, "where")
    try:
        # WHEN it is invoked
        outcome, _ = slot.invoke({})
    finally:
        slot.close()
    # THEN its handler and its package are the deployed ones, in its deployed name
    assert outcome.status == "ok", outcome
    assert outcome.result["file"] == str(package / "where.py")
    assert outcome.result["package"] == str(package / "__init__.py")
    assert outcome.result["function"] == "stack-Where-X1"


def test_a_handler_missing_from_the_package_fails_to_import(tmp_path: Path) -> None:
    (tmp_path / "other.py").write_text("")
    spec = FunctionSpec(
        "Gone", "qrie.handlers.job_handler.lambda_handler", 30, 128, {}, code_dir=str(tmp_path)
    )
    slot = Slot(spec, {}, "gone")
    try:
        outcome, _ = slot.invoke({})
    finally:
        slot.close()
    assert outcome.status == "error"
    assert outcome.error_type == "Runtime.ImportModuleError"
    assert "no module named 'qrie' in the deployment package" in outcome.error_message
