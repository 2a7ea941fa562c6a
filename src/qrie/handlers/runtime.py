"""Per-execution-environment objects (store, queue, sessions, workers), built on first use from
the settings of the current environment and rebuilt if those settings change.

Each function loads only its own domain code: the job service, the workers and the reconciler
are imported where they are built, and each handler module imports the one it runs at init.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from qrie.aws import AccountSessions, Clients
from qrie.config import Settings
from qrie.domain import TaskKind
from qrie.queue import TaskQueue
from qrie.store.table import Store

if TYPE_CHECKING:
    from qrie.jobs.reconcile import Reconciler
    from qrie.jobs.service import JobService
    from qrie.jobs.worker import TaskWorker


@dataclass
class Runtime:
    settings: Settings
    clients: Clients = field(default_factory=Clients)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.table_name, self.clients)

    @cached_property
    def queue(self) -> TaskQueue:
        return TaskQueue(self.clients)

    @cached_property
    def sessions(self) -> AccountSessions:
        return AccountSessions(
            self.settings.member_role_name, self.settings.external_id, hub=self.clients
        )

    @cached_property
    def jobs(self) -> JobService:
        from qrie.jobs.service import JobService  # noqa: PLC0415 - the job handler's own

        return JobService(self.settings, self.store, self.queue)

    @cached_property
    def inventory_worker(self) -> TaskWorker:
        return self._worker(TaskKind.INVENTORY)

    @cached_property
    def scan_worker(self) -> TaskWorker:
        return self._worker(TaskKind.SCAN)

    def _worker(self, kind: TaskKind) -> TaskWorker:
        from qrie.jobs.worker import TaskWorker  # noqa: PLC0415 - the workers' own

        return TaskWorker(self.settings, self.store, self.queue, self.sessions, kind)

    @cached_property
    def reconciler(self) -> Reconciler:
        from qrie.jobs.reconcile import Reconciler  # noqa: PLC0415 - the polling service's own

        return Reconciler(self.settings, self.store, self.queue)


_current: Runtime | None = None


def runtime() -> Runtime:
    global _current
    settings = Settings.from_env()
    if _current is None or _current.settings != settings:
        _current = Runtime(settings)
    return _current


def reset() -> None:
    """Forget the current environment's objects (a new execution environment, e.g. in tests)."""
    global _current
    _current = None
