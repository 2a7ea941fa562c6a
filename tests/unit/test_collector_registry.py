"""The collector registry: discovered from the package's modules, and held together with the
domain's services and the policies."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qrie.domain import SERVICES
from qrie.inventory.registry import (
    CollectorModuleError,
    all_collectors,
    discover,
    get_collector,
)
from qrie.policies.registry import all_policies, select

COLLECTOR_MODULE = """
from qrie.inventory.calls import AwsCall, CallSheet


class Thing:
    service = "{service}"
    calls = CallSheet(
        scope="scope `global`",
        notation="`T` things",
        calls=(AwsCall("ListThings", "{service}:ListThings", "1", listing=True),),
        total="1",
    )


COLLECTOR = Thing()
"""


def test_discovery_finds_every_collector_module_without_a_list(
    make_package: Callable[[dict[str, str]], str],
) -> None:
    # GIVEN a package with collector modules, a private helper and the engine's own modules
    package = make_package(
        {
            "things": COLLECTOR_MODULE.format(service="things"),
            "iam": COLLECTOR_MODULE.format(service="iam"),
            "_helpers": "VALUE = 1\n",
            "engine": "raise RuntimeError('not a collector module')\n",
            "schema": "raise RuntimeError('not a collector module')\n",
        }
    )
    # WHEN the registry discovers it
    found = discover(package)
    # THEN each collector is found by its service, the domain's services first
    assert list(found) == ["iam", "things"]
    assert found["things"].calls.actions == ("things:ListThings",)


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        ({"loose": "VALUE = 1\n"}, r"\.loose defines no COLLECTOR with a service name"),
        (
            {"bare": "class C:\n    service = 'bare'\n\nCOLLECTOR = C()\n"},
            r"\.bare: COLLECTOR declares no calls",
        ),
        (
            {
                "first": COLLECTOR_MODULE.format(service="same"),
                "second": COLLECTOR_MODULE.format(service="same"),
            },
            r"\.second: a collector for 'same' already exists",
        ),
    ],
    ids=["no-collector", "no-calls", "two-for-one-service"],
)
def test_a_module_that_breaks_the_convention_is_refused(
    make_package: Callable[[dict[str, str]], str], modules: dict[str, str], message: str
) -> None:
    # GIVEN a collector package with a module that breaks the convention
    package = make_package(modules)
    # WHEN the registry discovers it
    # THEN it refuses, naming the module and what is missing
    with pytest.raises(CollectorModuleError, match=message):
        discover(package)


def test_every_service_has_a_collector_and_policies_and_nothing_else_does() -> None:
    # GIVEN the domain's services, the collectors and the policies
    collectors = all_collectors()
    policy_services = {p.service for p in all_policies().values()}
    # THEN each service has a collector (in the domain's order) and at least one policy
    assert tuple(collectors) == SERVICES
    for service in SERVICES:
        assert select(f"{service}.*"), f"no policy for {service}"
        assert collectors[service].service == service
    # AND no collector or policy is for a service the domain does not know
    assert policy_services == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_get_collector_is_the_modules_collector(service: str) -> None:
    # GIVEN a service
    collector = get_collector(service)
    # THEN it is the module's COLLECTOR, the same object each time
    assert collector is get_collector(service)
    assert type(collector).__module__ == f"qrie.inventory.{service}"


def test_an_unknown_service_is_named_with_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="unknown service 'rds'; valid: s3, ec2, iam"):
        get_collector("rds")
