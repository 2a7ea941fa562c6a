"""No-op inventory work: collectors with nothing to collect (no AWS call), and optionally member
credentials that are not fetched, so only the job engine's own requests remain."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["NoopCollector", "install"]


class NoopCollector:
    """A collector whose account has no scope to collect: no AWS call, no write, no sweep."""

    def __init__(self, service: str) -> None:
        self.service = service

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return []

    def collect(self, session: Any, scope: str) -> Iterator[Any]:
        return iter(())


def install(stub_credentials: bool = False) -> Callable[[], None]:
    """Make the inventory engine use no-op collectors (and, with ``stub_credentials``, skip
    AssumeRole). Returns a function that undoes it."""
    from qrie.aws import AccountSession, AccountSessions
    from qrie.inventory import engine

    original_get = engine.get_collector
    original_for_account = AccountSessions.for_account
    engine.get_collector = NoopCollector  # type: ignore[assignment]
    if stub_credentials:

        def for_account(self: AccountSessions, account_id: str) -> AccountSession:
            return AccountSession(account_id, self)

        AccountSessions.for_account = for_account  # type: ignore[method-assign]

    def undo() -> None:
        engine.get_collector = original_get
        AccountSessions.for_account = original_for_account  # type: ignore[method-assign]

    return undo
