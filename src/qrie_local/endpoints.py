"""Clients of the local AWS reach every service on its one loopback address.

S3 Control puts the account id in the host name (``<account>.s3-control.<region>.amazonaws.com``,
and with a custom endpoint ``<account>.<endpoint host>``): against the local AWS that is
``123456789012.127.0.0.1``, which no resolver knows, so the call never leaves the client. The
local AWS reads the account from the ``x-amz-account-id`` header anyway. :func:`install` makes
every botocore session created afterwards in this process drop such an account label before the
request is signed and sent, when the rest of the host is the loopback. On AWS nothing changes:
the hook only matches loopback hosts.

Installed where the local stack runs code that talks to the local AWS: each function's execution
environment (:mod:`qrie_local.slots`) and the seeding of demo accounts (:mod:`qrie_local.seed`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
ACCOUNT_LABEL = re.compile(r"^\d{12}\.")
EVENT = "before-sign.s3-control"
_INSTALLED = {"done": False}


def route_account_host(url: str) -> str:
    """``url`` without a leading ``<12-digit account>.`` label when the rest of its host is the
    loopback; any other URL unchanged."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not ACCOUNT_LABEL.match(netloc):
        return url
    rest = netloc.split(".", 1)[1]
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
    if host not in LOOPBACK_HOSTS:
        return url
    return urlunsplit(parts._replace(netloc=rest))


def _before_sign(request: Any, **_: Any) -> None:
    routed = route_account_host(request.url)
    if routed != request.url:
        request.url = routed
        if "host" in request.headers:
            del request.headers["host"]


def install() -> None:
    """Register the hook for every botocore session created from now on (idempotent)."""
    if _INSTALLED["done"]:
        return
    from botocore import handlers  # noqa: PLC0415

    handlers.BUILTIN_HANDLERS.append((EVENT, _before_sign))
    _INSTALLED["done"] = True
