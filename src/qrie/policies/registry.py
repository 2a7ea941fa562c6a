"""Policy registry: every policy by id, and selection by "<id>", "<service>.*" or "*".

Nothing here lists the policy modules. The registry imports every module of the package (once,
on first use) and keeps the :class:`~qrie.policies.base.Policy` records that module defines
with ``@policy``. A new policy is a decorated function in a module of the package, or a new
module: nothing else changes. Modules skipped: private ones (``_util``), subpackages
(``frameworks``, data) and the contract modules (:data:`NOT_POLICY_MODULES`).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from qrie.domain import SERVICES
from qrie.policies.base import Policy

PACKAGE = "qrie.policies"
NOT_POLICY_MODULES = frozenset({"base", "registry"})


class DuplicatePolicyError(RuntimeError):
    """Two records share an id."""


def policy_modules(package: str = PACKAGE) -> list[ModuleType]:
    """The package's policy modules, imported, in name order."""
    root = importlib.import_module(package)
    return [
        importlib.import_module(f"{package}.{info.name}")
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name)
        if not info.ispkg and not info.name.startswith("_") and info.name not in NOT_POLICY_MODULES
    ]


def module_policies(module: ModuleType) -> list[Policy]:
    """The records ``module`` itself declares (not those it imports), in definition order."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, Policy) and value.evaluate.__module__ == module.__name__
    ]


def discover(package: str = PACKAGE) -> dict[str, Policy]:
    """Every policy of ``package`` by id: services in :data:`qrie.domain.SERVICES` order (any
    other service after them), then each module's definition order."""
    found: dict[str, Policy] = {}
    for module in policy_modules(package):
        for record in module_policies(module):
            if record.id in found and found[record.id] is not record:
                raise DuplicatePolicyError(
                    f"policy id {record.id!r} is declared twice "
                    f"({found[record.id].evaluate.__module__}, {module.__name__})"
                )
            found[record.id] = record
    rank = {service: index for index, service in enumerate(SERVICES)}
    ordered = sorted(found.values(), key=lambda p: rank.get(p.service, len(rank)))
    return {record.id: record for record in ordered}


@cache
def all_policies() -> dict[str, Policy]:
    """Every registered policy by id (discovered on first use, then kept)."""
    return discover()


def get_policy(policy_id: str) -> Policy:
    """The policy ``policy_id``; KeyError (naming it) when none is registered."""
    return all_policies()[policy_id]


def select(spec: str) -> list[Policy]:
    """Policies matching "<id>", "<service>.*" or "*" (empty list when nothing matches)."""
    policies = all_policies()
    if spec == "*":
        return list(policies.values())
    if spec.endswith(".*"):
        service = spec[:-2]
        return [p for p in policies.values() if p.service == service]
    return [policies[spec]] if spec in policies else []


def services_of(policies: list[Policy]) -> list[str]:
    """The services the given policies cover, in a stable order."""
    return sorted({p.service for p in policies})
