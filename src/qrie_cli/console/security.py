"""Who may use the console, and what its pages may do in a browser.

The console serves the user's own AWS credentials to whoever can reach it, so it admits only
the browser of the person who started it:

* **Bound to 127.0.0.1** by default (``qrie console --host`` changes it, with a warning).
* **An access token** (32 random bytes) in the printed URL. The first request that carries it is
  answered with a redirect to the same page without it (the token leaves the address bar and
  the history) and an ``HttpOnly; SameSite=Strict`` cookie holding it; every later request needs
  that cookie. Another local user, or a web page open in the same browser, has neither.
* **A CSRF token** (an HMAC of the access token) in every form and in the ``X-CSRF-Token``
  header of the page's own requests: a POST without it is refused before any handler runs, and
  so is a POST whose ``Origin`` or ``Sec-Fetch-Site`` says another site sent it.
* **The Host header** must name the address the console listens on (DNS rebinding: a hostile
  name resolved to 127.0.0.1 is refused).
* **Response headers**: a Content-Security-Policy with ``script-src 'self'`` and no inline
  script or style, no framing, no referrer to other sites, ``nosniff``; pages are not cached.

:class:`Guard` is plain ASGI middleware: it runs before routing, for every path.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (status, title, message) -> a page (or JSON under /api/) saying what went wrong
Refusal = Callable[[Request, int, str, str], Response]

TOKEN_PARAM = "token"  # noqa: S105 - the name of the query parameter
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD"})
ALLOWED_METHODS = SAFE_METHODS | {"POST"}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


@dataclass(frozen=True)
class Secrets:
    """The access token of one console run, and the CSRF token derived from it."""

    token: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(secrets.token_urlsafe(32))

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"qrie-console-csrf", hashlib.sha256).hexdigest()

    def token_ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    def csrf_ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.csrf.encode())


def cookie_name(port: int) -> str:
    """Cookies are per host, not per port: two consoles on one machine need two names."""
    return f"qrie_console_{port}"


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host header values a console bound to ``host``:``port`` answers; None means any
    IP literal (a wildcard bind: DNS rebinding needs a name, so names are refused)."""
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        return None
    if address.is_loopback:
        return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})
    shown = f"[{address}]" if address.version == 6 else str(address)
    return frozenset({f"{shown}:{port}"})


def host_allowed(header: str, allowed: frozenset[str] | None, port: int) -> bool:
    if allowed is not None:
        return header.lower() in allowed
    name, _, header_port = header.rpartition(":")
    if header_port != str(port):
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already read body to the app once, then the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def with_headers(send: Send, extra: Iterable[tuple[bytes, bytes]]) -> Send:
    headers = list(extra)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [
                *message.get("headers", []),
                *((k, v) for k, v in headers if k not in present),
            ]
        await send(message)

    return sending


class Guard:
    """ASGI middleware enforcing the rules of the module docstring on every request."""

    def __init__(
        self,
        app: ASGIApp,
        keys: Secrets,
        port: int,
        hosts: frozenset[str] | None,
        refuse: Refusal,
    ) -> None:
        self.app = app
        self.keys = keys
        self.port = port
        self.hosts = hosts
        self.refuse = refuse
        self.cookie = cookie_name(port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_headers(send, SECURITY_HEADERS)
        response = await self._check(scope, receive)
        if isinstance(response, Response):
            await response(scope, receive, send)
            return
        await self.app(scope, response, send)

    async def _check(self, scope: Scope, receive: Receive) -> Response | Receive:
        """A refusal or redirect to send, or the ``receive`` to run the app with."""
        request = Request(scope)
        if not host_allowed(_header(scope, b"host") or "", self.hosts, self.port):
            return self.refuse(
                request,
                421,
                "Unexpected host name",
                "This console answers only at the address it printed when it started "
                "(a request naming another host is refused: DNS rebinding).",
            )
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            return self.refuse(request, 405, "Method not allowed", f"{method} is not used here.")
        token = request.query_params.get(TOKEN_PARAM)
        if token is not None:
            return self._login(request, token)
        if not self.keys.token_ok(_cookie(scope, self.cookie)):
            return self.refuse(
                request,
                401,
                "Open the console with its access link",
                "This console needs the link `qrie console` printed in its terminal "
                "(http://…/?token=…). Each run makes a new one.",
            )
        if method in SAFE_METHODS:
            return receive
        return await self._check_post(request, scope, receive)

    def _login(self, request: Request, token: str) -> Response:
        if not self.keys.token_ok(token):
            return self.refuse(
                request,
                401,
                "This access link is not valid",
                "The token in the link does not match this console (each `qrie console` run "
                "prints a new link): open the link printed by the one running now.",
            )
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        target = request.url.path + (f"?{query}" if query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(self.cookie, self.keys.token, httponly=True, samesite="strict")
        return response

    async def _check_post(
        self, request: Request, scope: Scope, receive: Receive
    ) -> Response | Receive:
        site = _header(scope, b"sec-fetch-site")
        origin = _header(scope, b"origin")
        own = f"{scope.get('scheme', 'http')}://{_header(scope, b'host')}"
        # a browser that hides the origin sends "null": the CSRF token decides then
        if (site is not None and site not in {"same-origin", "none"}) or (
            origin not in {None, "null", own}
        ):
            return self.refuse(
                request, 403, "Refused", "Another site tried to send this request to the console."
            )
        try:
            body = await read_body(receive, MAX_FORM_BYTES)
        except BodyTooLarge:
            return self.refuse(request, 413, "Request too large", "Forms here are small.")
        supplied = _header(scope, CSRF_HEADER.encode())
        if supplied is None and "form-urlencoded" in (_header(scope, b"content-type") or ""):
            supplied = dict(parse_qsl(body.decode("utf-8", "replace"))).get(CSRF_FIELD)
        if not self.keys.csrf_ok(supplied):
            return self.refuse(
                request,
                403,
                "This form has expired",
                "The request did not carry this console's form token (the page may come from "
                "an earlier run of `qrie console`): reload the page and try again.",
            )
        return _replay(body, receive)
