"""Lambda's Invoke on the local AWS: the runner is the local Lambda service.

moto's Lambda cannot run a function (it needs Docker). The runner already runs the functions'
code in execution environments, so Invoke goes there:

* in the runner, :class:`InvokeServer` answers Lambda's Invoke route (``POST
  /2015-03-31/functions/{FunctionName}/invocations``, with ``X-Amz-Invocation-Type``
  ``RequestResponse``, ``Event`` or ``DryRun``) on 127.0.0.1 and registers its address in the
  state directory (``lambda.json``);
* in the local AWS's server, :func:`forward_hook` (a request hook) sends every Invoke request to
  the registered runner and answers with the runner's answer, or with Lambda's
  ``ServiceException`` when no runner runs.

Answers are Lambda's: the handler's result as JSON (200); a function error as
``X-Amz-Function-Error: Unhandled`` with ``{"errorMessage", "errorType", "stackTrace"}`` (200);
an unknown function ``ResourceNotFoundException`` (404); ``Event``: 202 at once.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qrie_local.server import Reply, RequestHook, RequestInfo
from qrie_local.slots import Outcome

__all__ = [
    "RUNTIME_FILE",
    "InvokeServer",
    "forward_hook",
    "function_name_of",
]

RUNTIME_FILE = "lambda.json"
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
FORWARD_TIMEOUT_SECONDS = 960.0  # Lambda's longest timeout (900 s) and some
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
JSON = "application/json"

# The runner's side: (function name as given) -> the function's key, or None if unknown;
# (key, event) -> how the invocation ended.
Resolve = Callable[[str], str | None]
Invoke = Callable[[str, Any], Outcome]


def function_name_of(identifier: str) -> str:
    """The function name in any form Invoke accepts: a name, ``name:qualifier``, a partial ARN
    (``123456789012:function:name``) or a full ARN."""
    if ":function:" in identifier:
        return identifier.split(":function:", 1)[1].split(":", 1)[0]
    return identifier.split(":", 1)[0]


def _error(status: int, code: str, message: str, kind: str = "User") -> Reply:
    body = json.dumps({"Type": kind, "message": message}).encode()
    return Reply(status, body, (("Content-Type", JSON), ("x-amzn-ErrorType", code)))


def answer(outcome: Outcome) -> Reply:
    """Lambda's answer to a RequestResponse invocation that ended with ``outcome``."""
    if outcome.status == "ok":
        body = json.dumps(outcome.result).encode()
        return Reply(200, body, (("Content-Type", JSON), ("X-Amz-Executed-Version", "$LATEST")))
    error = {
        "errorMessage": outcome.error_message,
        "errorType": outcome.error_type,
        "stackTrace": outcome.trace.splitlines(),
    }
    return Reply(
        200,
        json.dumps(error).encode(),
        (
            ("Content-Type", JSON),
            ("X-Amz-Executed-Version", "$LATEST"),
            ("X-Amz-Function-Error", "Unhandled"),
        ),
    )


# ------------------------------------------------------------------------------------ runner
class InvokeServer:
    """Lambda's Invoke route for the runner's functions, on 127.0.0.1 (a free port)."""

    def __init__(self, resolve: Resolve, invoke: Invoke, log: Callable[[str], None]) -> None:
        self.resolve = resolve
        self.invoke = invoke
        self.log = log
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
                reply = server.handle(urllib.parse.urlsplit(self.path).path, kind, body)
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: invocations are counted by the runner."""

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="lambda-invoke", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InvokeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def handle(self, path: str, kind: str, body: bytes) -> Reply:
        match = INVOKE_PATH.match(path)
        if match is None:
            return _error(404, "UnknownOperationException", f"no route {path}")
        identifier = urllib.parse.unquote(match["name"])
        key = self.resolve(function_name_of(identifier))
        if key is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {identifier}")
        if len(body) > MAX_PAYLOAD_BYTES:
            return _error(413, "RequestTooLargeException", "Request must be smaller than 6 MB")
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return _error(400, "InvalidRequestContentException", f"Could not parse JSON: {exc}")
        if kind == "DryRun":
            return Reply(204, b"", ())
        if kind == "Event":
            threading.Thread(
                target=self._run_async, args=(key, event), name=f"{key}-event", daemon=True
            ).start()
            return Reply(202, b"", ())
        if kind != "RequestResponse":
            return _error(400, "InvalidParameterValueException", f"invocation type {kind!r}")
        return answer(self.invoke(key, event))

    def _run_async(self, key: str, event: Any) -> None:
        outcome = self.invoke(key, event)
        if outcome.status != "ok":
            self.log(f"{key}: asynchronous invocation {outcome.status}: {outcome.error_message}")

    # ------------------------------------------------------------- registration
    def register(self, state_dir: Path) -> None:
        """Make this server the one the local AWS forwards Invoke to."""
        path = state_dir / RUNTIME_FILE
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "url": self.url}), encoding="utf-8")
        tmp.replace(path)

    def unregister(self, state_dir: Path) -> None:
        path = state_dir / RUNTIME_FILE
        if _registered(path).get("url") == self.url:
            path.unlink(missing_ok=True)


def _registered(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------ server
def forward_hook(state_dir: Path) -> RequestHook:
    """A request hook of the local AWS that sends Lambda Invoke requests to the runner
    registered in ``state_dir``."""
    runtime_file = Path(state_dir) / RUNTIME_FILE

    def hook(info: RequestInfo) -> Reply | None:
        if info.service != "lambda" or info.method != "POST" or not INVOKE_PATH.match(info.path):
            return None
        environ = info.environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        import io  # noqa: PLC0415

        environ["wsgi.input"] = io.BytesIO(b"")  # read: nothing left for the middleware
        environ["CONTENT_LENGTH"] = "0"
        runtime = _registered(runtime_file)
        if not runtime.get("url") or not _alive(runtime.get("pid")):
            return _error(
                500,
                "ServiceException",
                "the local Lambda does not run: start the runner (qrie local up, or the "
                "rehearsal) to invoke functions",
                kind="Service",
            )
        headers = {"Content-Type": JSON}
        for name in ("X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context"):
            value = environ.get("HTTP_" + name.upper().replace("-", "_"))
            if value:
                headers[name] = str(value)
        path = "/2015-03-31/functions/{}/invocations".format(
            urllib.parse.quote(INVOKE_PATH.match(info.path)["name"], safe="")  # type: ignore[index]
        )
        request = urllib.request.Request(  # noqa: S310 - the runner's local http URL
            f"{runtime['url']}{path}", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT_SECONDS) as response:  # noqa: S310
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), exc.headers
        except OSError as exc:
            return _error(500, "ServiceException", f"the local Lambda failed: {exc}", "Service")
        keep = (
            "Content-Type",
            "X-Amz-Function-Error",
            "X-Amz-Executed-Version",
            "x-amzn-ErrorType",
        )
        return Reply(status, raw, tuple((k, str(got[k])) for k in keep if got.get(k)))

    return hook
