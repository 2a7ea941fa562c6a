"""The local AWS: moto's server on 127.0.0.1, with qrie's patches and a small request middleware.

    python -m qrie_local.server --port P [--latency-ms N] [--state-dir D] [--hook MOD:FACTORY]
                                [--snapshot FILE [--restore]]

* ``moto_patches.apply()`` runs in this process before the first request is served (isolated
  DynamoDB transactions; AssumeRole that refuses a missing role or a wrong ExternalId).
* :class:`QrieMiddleware` sits in front of moto. It counts every request by service and
  operation (``GET /_qrie/stats`` answers ``{"requests": N, "by_operation": {...},
  "seconds_by_operation": {...}}``, the latter the time moto spent answering;
  ``POST /_qrie/stats/reset`` zeroes the counts) and runs a list of *hooks* on every AWS request.
  A hook sees a :class:`RequestInfo` and either returns ``None`` (go on) or a :class:`Reply`,
  which is sent instead of moto's answer. ``--latency-ms`` is one such hook (a fixed delay per
  request, as a network round trip to AWS would add); a fault-injection layer is another
  (``--hook package.module:factory``, where ``factory()`` returns a hook, e.g.
  ``qrie_local.faults:server_hook``: what ``LocalStack.up(hooks=...)`` passes; the environment
  variable ``QRIE_LOCAL_HOOKS``, comma-separated specs, adds more).
* With ``--state-dir``, Lambda's Invoke is answered by the runner registered there
  (:mod:`qrie_local.invoke`): moto's Lambda would need Docker to run a function.
* **It answers only qrie.** It binds to 127.0.0.1, and refuses (403) what a web page could send
  it: any request with an ``Origin`` header (no origin is allowed: no CORS, so no
  ``Access-Control-Allow-Origin`` either), or a ``Sec-Fetch-Site`` of another site, or a
  ``Host`` that is not the loopback (DNS rebinding); an AWS request that is not SigV4-signed in
  its ``Authorization`` header (a browser cannot add one without a preflight, which carries an
  ``Origin``) -- but a GET or HEAD presigned in its query (GetFunction's ``Code.Location``) --;
  and moto's own ``/moto-api/`` (its dashboard, ``data.json`` with the whole state, the
  recorder, resets) unless the request carries ``X-Qrie-Local-Token``, a secret the server
  draws at start and writes only to ``server.json``. ``POST /_qrie/sqs/release`` (same token)
  makes the in-flight messages of the queues it names visible again (the runner's recovery);
  ``POST /_qrie/lambda/credentials`` (same token) answers a session of a function's execution
  role, assumed as Lambda assumes it (the runner plays Lambda).
* ``--snapshot FILE`` saves the local AWS's state to FILE when the server stops, and with
  ``--restore`` loads it before the server serves (:mod:`qrie_local.backends`); a file that
  cannot be loaded is renamed ``FILE.unusable`` (never overwritten) and the server starts empty.
* ``--port 0`` binds a free port. With ``--state-dir`` the server writes
  ``<state-dir>/server.json`` (``{"pid", "port", "endpoint", "token", "restored"}``, 0600) once it
  accepts connections, and removes it when it stops. SIGTERM and SIGINT stop it cleanly. The
  process runs with a umask of 077: what it writes is private to the user.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import io
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from qrie_local.private import UMASK, private_dir, write_private

__all__ = [
    "CREDENTIALS_PATH",
    "RELEASE_PATH",
    "RESET_PATH",
    "SERVER_STATE_FILE",
    "STATS_PATH",
    "TOKEN_HEADER",
    "QrieMiddleware",
    "Reply",
    "RequestHook",
    "RequestInfo",
    "describe_request",
    "latency_hook",
    "load_hook",
    "main",
    "serve",
]

STATS_PATH = "/_qrie/stats"
RESET_PATH = "/_qrie/stats/reset"
RELEASE_PATH = "/_qrie/sqs/release"
# Lambda's credentials for a function's execution role (the runner plays Lambda).
CREDENTIALS_PATH = "/_qrie/lambda/credentials"
MOTO_API_PREFIX = "/moto-api"
QRIE_PREFIX = "/_qrie/"
SERVER_STATE_FILE = "server.json"
HOOKS_ENV = "QRIE_LOCAL_HOOKS"  # more hook specs, comma-separated
HOST = "127.0.0.1"
# The secret that opens moto's /moto-api/ and the release path (drawn at start, in server.json).
TOKEN_HEADER = "X-Qrie-Local-Token"  # noqa: S105 - a header name, not its value
# Web origins allowed to call the local AWS: none. It serves qrie's tools, never a web page.
ALLOWED_ORIGINS: frozenset[str] = frozenset()
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Form bodies larger than this are not parsed for their Action (only query-protocol calls are).
MAX_FORM_BYTES = 1 << 20

# moto's settings for the local AWS. Without the first, every new EC2 backend (one per account
# and region) builds moto's catalogue of ~1,300 public AMIs with their snapshots: ~0.2 s of CPU
# each time, the bulk of seeding and of the first inventory of every account. Nothing in qrie
# reads public AMIs; RunInstances does not check the image id unless AMI validation is on.
MOTO_SETTINGS = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class RequestInfo:
    """What a hook knows about one AWS request."""

    service: str  # from the SigV4 credential scope: "dynamodb", "sqs", "sts", "s3", ...
    operation: str  # "PutItem", "ReceiveMessage", "AssumeRole"; S3 REST: "PUT?versioning"
    method: str
    path: str
    region: str
    environ: WSGIEnviron

    @property
    def key(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass(frozen=True)
class Reply:
    """An answer a hook sends instead of moto's."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


RequestHook = Callable[[RequestInfo], Reply | None]


def _credential_scope(environ: WSGIEnviron) -> tuple[str, str]:
    """(service, region) from ``Authorization: AWS4-HMAC-SHA256 Credential=AK/date/region/svc/...``
    or from a presigned URL's ``X-Amz-Credential``."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    credential = ""
    marker = "Credential="
    if marker in auth:
        credential = auth.split(marker, 1)[1].split(",", 1)[0]
    else:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        credential = (query.get("X-Amz-Credential") or [""])[0]
    parts = credential.split("/")
    if len(parts) >= 4:
        return parts[3], parts[2]
    return "unknown", ""


def _form_action(environ: WSGIEnviron) -> str:
    """The ``Action`` of a query-protocol call (EC2, IAM, STS): from the query string, or from
    the form body, which is read and put back for moto."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return ""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    if length <= 0 or length > MAX_FORM_BYTES:
        return ""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    form = parse_qs(body.decode("utf-8", errors="replace"))
    return str((form.get("Action") or [""])[0])


def describe_request(environ: WSGIEnviron) -> RequestInfo:
    method = str(environ.get("REQUEST_METHOD", "GET"))
    path = str(environ.get("PATH_INFO", ""))
    service, region = _credential_scope(environ)
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    # JSON protocol (DynamoDB_20120810.PutItem, AmazonSQS.ReceiveMessage), else query protocol
    operation = target.rsplit(".", 1)[-1] if target else _form_action(environ)
    if not operation:  # REST (S3): method and sub-resource
        query = str(environ.get("QUERY_STRING", ""))
        sub = query.split("&", 1)[0].split("=", 1)[0] if query else ""
        operation = f"{method}?{sub}" if sub and not sub.startswith("X-Amz-") else method
    return RequestInfo(service, operation, method, path, region, environ)


def latency_hook(latency_ms: float) -> RequestHook:
    """A hook that delays every request by ``latency_ms`` (the round trip to a real endpoint)."""
    delay = max(0.0, latency_ms) / 1000

    def hook(_info: RequestInfo) -> Reply | None:
        if delay:
            time.sleep(delay)
        return None

    return hook


def load_hook(spec: str) -> RequestHook:
    """``package.module:factory`` -> ``factory()``, a hook."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"hook {spec!r} must look like package.module:factory")
    factory = getattr(importlib.import_module(module_name), attr)
    hook = factory()
    if not callable(hook):
        raise TypeError(f"hook factory {spec} returned {type(hook).__name__}, not a callable")
    return hook  # type: ignore[no-any-return]


def _drain(environ: WSGIEnviron) -> None:
    """Read the request body nobody read, so a kept-alive connection stays in step."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length > 0:
        environ["wsgi.input"].read(length)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _host_name(environ: WSGIEnviron) -> str | None:
    """The host the request was addressed to, without its port (None: no Host header)."""
    host = environ.get("HTTP_HOST")
    if host is None:
        return None
    host = str(host).strip().lower()
    if host.startswith("["):  # [::1]:port
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(environ: WSGIEnviron, token: str) -> str | None:
    """Why the local AWS refuses this request (None: it may be served). See the module
    docstring: no web origin, only loopback hosts, signed AWS requests, moto's API and the
    release path only with the token."""
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and str(origin) not in ALLOWED_ORIGINS:
        return f"cross-origin requests are refused (Origin {str(origin)[:100]!r})"
    if str(environ.get("HTTP_SEC_FETCH_SITE", "none")).lower() not in {"none", "same-origin"}:
        return "requests from web pages are refused"
    host = _host_name(environ)
    if host is not None and host not in LOOPBACK_HOSTS and not host.endswith(".localhost"):
        return f"the local AWS answers only on the loopback, not {host[:100]!r}"
    path = str(environ.get("PATH_INFO", ""))
    if path.startswith(MOTO_API_PREFIX) or path in {RELEASE_PATH, CREDENTIALS_PATH}:
        given = str(environ.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"), ""))
        if not hmac.compare_digest(given.encode(), token.encode()):
            return f"{path} needs the {TOKEN_HEADER} header (its value is in server.json)"
        return None
    if path.startswith(QRIE_PREFIX):
        return None
    if str(environ.get("HTTP_AUTHORIZATION", "")).startswith("AWS4-HMAC-SHA256 "):
        return None
    if _presigned_read(environ):
        return None
    return "AWS requests must be signed (SigV4, in the Authorization header)"


def _presigned_read(environ: WSGIEnviron) -> bool:
    """A GET or HEAD signed in its query string (a presigned URL, e.g. Lambda's Code.Location):
    what a tool downloads; a web page's request for it is refused above by its Sec-Fetch-Site."""
    if str(environ.get("REQUEST_METHOD", "")).upper() not in {"GET", "HEAD"}:
        return False
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    return query.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"] and bool(
        query.get("X-Amz-Signature")
    )


class QrieMiddleware:
    """Refuses what is not qrie's, counts requests and runs hooks in front of a WSGI app (moto's
    dispatcher)."""

    def __init__(
        self, app: WSGIApp, hooks: Sequence[RequestHook] = (), token: str | None = None
    ) -> None:
        self.app = app
        self.hooks: list[RequestHook] = list(hooks)
        self.token = token or secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._requests = 0
        self._by_operation: Counter[str] = Counter()
        self._seconds: defaultdict[str, float] = defaultdict(float)

    def add_hook(self, hook: RequestHook) -> None:
        self.hooks.append(hook)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "by_operation": dict(self._by_operation),
                "seconds_by_operation": {k: round(v, 4) for k, v in self._seconds.items()},
            }

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_operation.clear()
            self._seconds.clear()

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        refused = refusal(environ, self.token)
        if refused is not None:
            _drain(environ)
            return self._send(start_response, Reply(403, json.dumps({"message": refused}).encode()))
        path = str(environ.get("PATH_INFO", ""))
        if path == STATS_PATH:
            return self._send(start_response, Reply(200, json.dumps(self.stats()).encode()))
        if path == RESET_PATH:
            self.reset()
            return self._send(start_response, Reply(200, b'{"reset": true}'))
        if path == RELEASE_PATH:
            return self._send(start_response, _release(environ))
        if path == CREDENTIALS_PATH:
            return self._send(start_response, _credentials(environ))
        info = describe_request(environ)
        with self._lock:
            self._requests += 1
            self._by_operation[info.key] += 1
        for hook in self.hooks:
            reply = hook(info)
            if reply is not None:
                _drain(environ)
                return self._send(start_response, reply)
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._seconds[info.key] += elapsed

    @staticmethod
    def _send(start_response: StartResponse, reply: Reply) -> list[bytes]:
        headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
        start_response(f"{reply.status} {_reason(reply.status)}", headers)
        return [reply.body]


def _json_body(environ: WSGIEnviron) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_FORM_BYTES:
        raise ValueError("body too large")
    return json.loads(environ["wsgi.input"].read(length) if length > 0 else b"{}")


def _credentials(environ: WSGIEnviron) -> Reply:
    """``POST {"role_arn": ..., "session_name": ...}``: the credentials of a session of that
    execution role, as Lambda (the runner) assumes it (:func:`qrie_local.roles.lambda_session`)."""
    from qrie_local.roles import ExecutionRoleError, lambda_session  # noqa: PLC0415

    try:
        body = _json_body(environ)
        if not isinstance(body, dict) or not isinstance(body.get("role_arn"), str):
            raise ValueError('expected {"role_arn": "<execution role ARN>"}')
        session = str(body.get("session_name") or "qrie-local")
        credentials = lambda_session(body["role_arn"], session)
    except (ValueError, ExecutionRoleError) as exc:
        return Reply(400, json.dumps({"message": str(exc)}).encode())
    return Reply(200, json.dumps(credentials).encode())


def _release(environ: WSGIEnviron) -> Reply:
    """``POST {"queue_urls": [...]}``: their in-flight messages become visible again."""
    from qrie_local.backends import release_in_flight  # noqa: PLC0415

    try:
        body = _json_body(environ)
        urls = body.get("queue_urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ValueError('expected {"queue_urls": ["<queue url>", ...]}')
    except ValueError as exc:
        return Reply(400, json.dumps({"message": str(exc)}).encode())
    return Reply(200, json.dumps({"released": release_in_flight(urls)}).encode())


_QUERY_SCOPE = threading.local()
_SPED_UP = False


def speed_up_moto() -> None:
    """Make moto's DynamoDB Query cost the size of the partition, not of the table.

    moto answers every Query by listing and sorting *all* the table's items, then keeping the
    partition's. qrie keeps jobs, tasks, resources and findings in one table and queries one
    partition at a time, so each Query grew with the whole table (O(N log N) under moto's lock):
    a 100-account scan spent minutes there. For a Query on the table's own key (no index), this
    hands moto's unchanged query code only that partition's items; results are identical.
    Idempotent; call before serving."""
    global _SPED_UP
    if _SPED_UP:
        return
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    original_all_items = Table.all_items
    original_query = Table.query

    def all_items(self: Any) -> Any:
        scoped = getattr(_QUERY_SCOPE, "items", None)
        if scoped is not None and scoped[0] is self:
            return list(scoped[1])
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return original_query(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key) or {}  # .get: never adds to the defaultdict
        _QUERY_SCOPE.items = (self, list(partition.values()))
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _QUERY_SCOPE.items = None

    setattr(Table, "all_items", all_items)  # noqa: B010 - patching a typed method
    setattr(Table, "query", query)  # noqa: B010
    _SPED_UP = True


def build_app(hooks: Sequence[RequestHook] = (), token: str | None = None) -> QrieMiddleware:
    """moto's dispatcher (all services, one endpoint) behind the middleware."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
        DomainDispatcherApplication,
        create_backend_app,
    )

    return QrieMiddleware(DomainDispatcherApplication(create_backend_app), hooks, token)


def _write_state(state_dir: Path, port: int, token: str, restored: dict[str, Any]) -> Path:
    path = private_dir(state_dir) / SERVER_STATE_FILE
    state = {
        "pid": os.getpid(),
        "port": port,
        "endpoint": f"http://{HOST}:{port}",
        "token": token,
        "restored": restored,
    }
    write_private(path, json.dumps(state).encode())
    return path


def _restore(snapshot: Path) -> dict[str, Any]:
    """Load the saved state, if any; what happened, for server.json and the log."""
    from qrie_local import backends  # noqa: PLC0415

    if not snapshot.is_file():
        return {"from": str(snapshot), "found": False}
    try:
        info = backends.restore(snapshot)
    except backends.SnapshotError as exc:
        aside = snapshot.with_name(f"{snapshot.name}.unusable")
        snapshot.replace(aside)
        print(f"saved state not restored: {exc}; kept as {aside}", flush=True)
        return {"from": str(snapshot), "found": True, "error": str(exc), "kept_as": str(aside)}
    print(
        f"restored the saved state from {snapshot} ({info.bytes:,} bytes, "
        f"{len(info.services)} services) in {info.seconds:.2f}s",
        flush=True,
    )
    return {"found": True, **info.to_dict()}


def _save(snapshot: Path) -> None:
    from qrie_local import backends  # noqa: PLC0415

    try:
        info = backends.save(snapshot)
    except Exception as exc:  # say so in the log; the previous file is intact
        print(f"state NOT saved to {snapshot}: {type(exc).__name__}: {exc}", flush=True)
        return
    skipped = f"; not saved: {'; '.join(info.skipped)}" if info.skipped else ""
    print(
        f"saved the state to {snapshot} ({info.bytes:,} bytes, {len(info.services)} services) "
        f"in {info.seconds:.2f}s{skipped}",
        flush=True,
    )


def serve(
    port: int = 0,
    latency_ms: float = 0,
    state_dir: Path | None = None,
    hooks: Sequence[RequestHook] = (),
    stop: threading.Event | None = None,
    ready: Callable[[int], None] | None = None,
    snapshot: Path | None = None,
    restore: bool = False,
    token: str | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT when run in the main thread). With
    ``snapshot``, the state is saved there when the server stops and, with ``restore``, loaded
    from there before it serves."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    from qrie_local import moto_patches  # noqa: PLC0415

    moto_patches.apply()
    speed_up_moto()
    for name, value in MOTO_SETTINGS.items():
        os.environ.setdefault(name, value)
    restored = _restore(snapshot) if snapshot is not None and restore else {}
    all_hooks = ([latency_hook(latency_ms)] if latency_ms > 0 else []) + list(hooks)
    if state_dir is not None:  # Lambda Invoke: to the runner registered in the state directory
        from qrie_local.invoke import forward_hook  # noqa: PLC0415

        all_hooks.append(forward_hook(state_dir))
    app = build_app(all_hooks, token)

    class KeepAliveHandler(MotoRequestHandler):
        # HTTP/1.1: clients keep their connections (werkzeug's default, HTTP/1.0, closes each
        # one, which costs a TCP handshake and a new thread per request).
        protocol_version = "HTTP/1.1"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """No access log: a demo makes tens of thousands of requests (see /_qrie/stats)."""

    server = make_server(HOST, port, app, threaded=True, request_handler=KeepAliveHandler)
    actual_port = int(server.server_port)
    os.environ["MOTO_PORT"] = str(actual_port)  # moto builds some URLs from it
    stop = stop or threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    state_file = (
        _write_state(state_dir, actual_port, app.token, restored) if state_dir is not None else None
    )
    if ready is not None:
        ready(actual_port)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if snapshot is not None:
            _save(snapshot)
        if state_file is not None:
            state_file.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qrie_local.server",
        description="moto's server on 127.0.0.1 with qrie's patches, request counts and hooks",
    )
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay added per request")
    parser.add_argument("--state-dir", type=Path, help="write server.json here once serving")
    parser.add_argument("--snapshot", type=Path, help="save the state to this file at stop")
    parser.add_argument(
        "--restore", action="store_true", help="load the --snapshot file (if any) at start"
    )
    parser.add_argument(
        "--hook",
        action="append",
        default=[],
        metavar="MODULE:FACTORY",
        help="a request hook factory (repeatable)",
    )
    args = parser.parse_args(argv)
    os.umask(UMASK)  # the state, the logs and server.json are the user's alone
    from_env = [s.strip() for s in os.environ.get(HOOKS_ENV, "").split(",") if s.strip()]
    specs = [*args.hook, *from_env]
    try:
        hooks = [load_hook(spec) for spec in specs]
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def ready(port: int) -> None:
        print(f"qrie local AWS (moto) serving on http://{HOST}:{port}", flush=True)

    serve(
        args.port,
        args.latency_ms,
        args.state_dir,
        hooks,
        ready=ready,
        snapshot=args.snapshot,
        restore=args.restore,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
