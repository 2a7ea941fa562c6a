"""Shared by the collector tests: member-account sessions as the engine builds them, a session
that counts and hooks the calls made on its clients, and a denial hook."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from qrie.aws import AccountSession

ROLE_NAME = "QrieReadOnly"
EXTERNAL_ID = "qrie-test-external-id"  # sts:AssumeRole needs at least 2 characters
ACCOUNT_A, ACCOUNT_B, ACCOUNT_C = "111111111111", "222222222222", "333333333333"


class HookedSession:
    """A member-account session that counts the calls (per operation and per region) made on
    every client it hands out and registers extra botocore hooks on them (the collector's own
    clients, not copies). Thread-safe: collectors read several resources at a time."""

    def __init__(self, inner: AccountSession, hooks: dict[str, Callable[..., Any]] | None = None):
        self.account_id = inner.account_id
        self.calls: Counter[str] = Counter()
        self.regions: list[tuple[str, str]] = []
        self._inner = inner
        self._hooks = hooks or {}
        self._hooked: set[int] = set()
        self._lock = threading.Lock()

    def client(self, service: str, region: str = "us-east-1") -> Any:
        client = self._inner.client(service, region)
        with self._lock:
            if id(client) not in self._hooked:
                self._hooked.add(id(client))
                client.meta.events.register("before-parameter-build", self._count)
                for event, handler in self._hooks.items():
                    client.meta.events.register(event, handler)
        return client

    def _count(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1
            self.regions.append((model.name, str(context.get("client_region"))))


def deny(operation: str, code: str = "AccessDenied") -> Callable[..., None]:
    """A before-call hook that fails ``operation`` the way AWS does when the role lacks it."""

    def handler(**_: Any) -> None:
        response: Any = {
            "Error": {"Code": code, "Message": f"not authorized to perform {operation}"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        raise ClientError(response, operation)

    return handler
