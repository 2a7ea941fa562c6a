"""Service registry: service name -> collector. Adding a service touches only this table and
its module; the job engine never changes."""

from __future__ import annotations

import importlib
from functools import cache

from qrie.domain import SERVICES as DOMAIN_SERVICES
from qrie.inventory.base import Collector

# Each module defines ``COLLECTOR``.
COLLECTOR_MODULES: dict[str, str] = {
    "s3": "qrie.inventory.s3",
    "ec2": "qrie.inventory.ec2",
    "iam": "qrie.inventory.iam",
}

SERVICES: tuple[str, ...] = DOMAIN_SERVICES


@cache
def get_collector(service: str) -> Collector:
    if service not in COLLECTOR_MODULES:
        raise KeyError(f"unknown service {service!r}; valid: {', '.join(SERVICES)}")
    module = importlib.import_module(COLLECTOR_MODULES[service])
    collector: Collector = module.COLLECTOR
    return collector
