"""No-op inventory work: collectors with nothing to collect (no AWS call), and optionally member
sessions that assume no role, so only the job engine's own requests remain. Both are injected
into qrie's inventory worker (``TaskWorker(collectors=..., sessions=...)``); nothing of qrie is
patched."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from qrie.aws import AccountSession, AccountSessions
from qrie.domain import TaskKind
from qrie.handlers._sqs import handle_batch, make_record_handler, new_processor
from qrie.handlers.runtime import Runtime, runtime
from qrie.jobs.worker import TaskWorker
from qrie.observability import logger, metrics, traced

__all__ = ["NoopCollector", "StubSessions", "worker_handler"]

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class NoopCollector:
    """A collector whose account has no scope to collect: no AWS call, no write, no sweep."""

    def __init__(self, service: str) -> None:
        self.service = service

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return []

    def collect(self, session: Any, scope: str) -> Iterator[Any]:
        return iter(())


class StubSessions(AccountSessions):
    """Member sessions without credentials: no AssumeRole (the no-op collectors call nothing)."""

    def for_account(self, account_id: str) -> AccountSession:
        return AccountSession(account_id, self)


def worker_handler(stub_credentials: bool = False) -> Handler:
    """The inventory worker's Lambda handler, wired as ``qrie.handlers.inventory_worker`` wires
    it, around a worker with no-op collectors (and, with ``stub_credentials``, no AssumeRole).
    The worker is rebuilt when the execution environment's runtime is."""
    built: dict[str, Any] = {"runtime": None, "worker": None}

    def worker() -> TaskWorker:
        current: Runtime = runtime()
        if built["runtime"] is not current:
            sessions = current.sessions
            if stub_credentials:
                settings = current.settings
                sessions = StubSessions(
                    settings.member_role_name, settings.external_id, hub=current.clients
                )
            built["runtime"] = current
            built["worker"] = TaskWorker(
                current.settings,
                current.store,
                current.queue,
                sessions,
                TaskKind.INVENTORY,
                collectors=NoopCollector,
            )
        return built["worker"]  # type: ignore[no-any-return]

    processor = new_processor()
    record_handler = make_record_handler(worker, lambda: runtime().settings.inventory_queue_url)

    @logger.inject_lambda_context(log_event=False)
    @metrics.log_metrics
    @traced
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return handle_batch(event, context, processor, record_handler)

    return lambda_handler
