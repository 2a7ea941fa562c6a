"""Service registry: service name -> collector.

Nothing here lists the services. Every public module of this package other than the
engine's own (:data:`NOT_COLLECTOR_MODULES`) is a collector module: it defines ``COLLECTOR``, an
instance whose ``service`` names its service and whose ``calls`` declare the AWS calls it makes.
The registry imports them on first use. Adding a service is its module (and its name in
``qrie.domain.SERVICES``); the job engine never changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from qrie.domain import SERVICES as DOMAIN_SERVICES
from qrie.inventory.base import Collector, DeclaredCollector
from qrie.inventory.calls import CallSheet

PACKAGE = "qrie.inventory"
NOT_COLLECTOR_MODULES = frozenset({"base", "calls", "engine", "registry", "schema"})

SERVICES: tuple[str, ...] = DOMAIN_SERVICES


class CollectorModuleError(RuntimeError):
    """A collector module that breaks the convention (no COLLECTOR, no calls, a repeat)."""


def discover(package: str = PACKAGE) -> dict[str, DeclaredCollector]:
    """Every collector of ``package`` by service: :data:`SERVICES` order, any other after."""
    root = importlib.import_module(package)
    found: dict[str, DeclaredCollector] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.ispkg or info.name.startswith("_") or info.name in NOT_COLLECTOR_MODULES:
            continue
        name = f"{package}.{info.name}"
        collector = getattr(importlib.import_module(name), "COLLECTOR", None)
        service = getattr(collector, "service", None)
        if not isinstance(service, str) or not service:
            raise CollectorModuleError(f"{name} defines no COLLECTOR with a service name")
        if not isinstance(getattr(collector, "calls", None), CallSheet):
            raise CollectorModuleError(f"{name}: COLLECTOR declares no calls (a CallSheet)")
        if service in found:
            raise CollectorModuleError(f"{name}: a collector for {service!r} already exists")
        found[service] = collector  # type: ignore[assignment]  # checked just above
    rank = {service: index for index, service in enumerate(SERVICES)}
    return dict(sorted(found.items(), key=lambda item: rank.get(item[0], len(rank))))


@cache
def all_collectors() -> dict[str, DeclaredCollector]:
    """Every collector by service (discovered on first use, then kept)."""
    return discover()


def get_collector(service: str) -> Collector:
    collectors = all_collectors()
    if service not in collectors:
        raise KeyError(f"unknown service {service!r}; valid: {', '.join(collectors)}")
    return collectors[service]
