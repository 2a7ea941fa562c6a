"""The policy registry: declaration by decorator, discovery of the package's modules, ids,
metadata and selection."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from qrie.domain import Resource, Severity
from qrie.policies.base import Policy, Verdict, policy
from qrie.policies.registry import (
    DuplicatePolicyError,
    all_policies,
    discover,
    get_policy,
    module_policies,
    policy_modules,
    select,
    services_of,
)

POLICIES = list(all_policies().values())
IDS = [policy.id for policy in POLICIES]
REQUIRED = {
    "s3": {
        "s3.public_access_block",
        "s3.default_encryption",
        "s3.versioning",
        "s3.mfa_delete",
        "s3.tls_only",
        "s3.public_bucket_policy",
        "s3.public_bucket_acl",
        "s3.object_write_logging",
        "s3.object_read_logging",
    },
    "ec2": {
        "ec2.ebs_volume_encryption",
        "ec2.ebs_default_encryption",
        "ec2.imdsv2_required",
        "ec2.sg_open_admin_ports",
        "ec2.default_sg_restricts_traffic",
        "ec2.public_instance_open_sg",
        "ec2.sg_open_admin_ports_ipv6",
        "ec2.sg_open_cifs",
        "ec2.nacl_open_admin_ports",
        "ec2.vpc_flow_logs",
        "ec2.imdsv2_account_default",
    },
    "iam": {
        "iam.root_mfa",
        "iam.root_access_keys",
        "iam.user_console_mfa",
        "iam.access_key_rotation",
        "iam.access_key_unused",
        "iam.password_policy",
        "iam.admin_star_policy",
        "iam.user_single_active_key",
    },
}
NOW = datetime(2025, 6, 1, tzinfo=UTC)

POLICY_MODULE = '''
from datetime import datetime

from qrie.domain import Resource, Severity
from qrie.policies.base import Verdict, policy


@policy(
    id="{id}",
    resource_types="{service}.thing",
    title="Thing is wrong",
    severity=Severity.LOW,
    remediation="Fix the thing.",
)
def check(resource: Resource, now: datetime) -> Verdict | None:
    """Things must be right."""
    return Verdict.compliant("{id} ok")
'''


def test_discovery_finds_every_module_without_a_list(
    make_package: Callable[[dict[str, str]], str],
) -> None:
    # GIVEN a package with two policy modules, a private helper that defines a policy too, a
    # module that only imports another's policy, and modules named like the contract modules
    package = make_package(
        {
            "alpha": POLICY_MODULE.format(id="s3.alpha", service="s3"),
            "beta": POLICY_MODULE.format(id="iam.beta", service="iam"),
            "_helper": POLICY_MODULE.format(id="s3.hidden", service="s3"),
            "reexport": "from {package}.alpha import check\n",
            "base": "raise RuntimeError('contract modules are not imported')\n",
        }
    )

    # WHEN the registry discovers it
    found = discover(package)

    # THEN both policies are found once, in SERVICES order (s3 before iam), and nothing else
    assert list(found) == ["s3.alpha", "iam.beta"]
    assert found["s3.alpha"].evaluate.__module__ == f"{package}.alpha"
    assert [m.__name__ for m in policy_modules(package)] == [
        f"{package}.alpha",
        f"{package}.beta",
        f"{package}.reexport",
    ]


def test_discovery_orders_by_service_then_definition_not_by_module_name(
    make_package: Callable[[dict[str, str]], str],
) -> None:
    # GIVEN modules whose names sort against the services' order: a service qrie does not
    # know first, then iam, then two s3 policies declared out of alphabetical order
    package = make_package(
        {
            "a_other": POLICY_MODULE.format(id="zz.other", service="zz"),
            "b_iam": POLICY_MODULE.format(id="iam.user", service="iam"),
            "c_s3": POLICY_MODULE.format(id="s3.zeta", service="s3")
            + POLICY_MODULE.replace("def check", "def check_two").format(
                id="s3.alpha", service="s3"
            ),
        }
    )
    # WHEN the registry discovers them
    found = discover(package)
    # THEN s3 (in definition order), then iam, then the unknown service last
    assert list(found) == ["s3.zeta", "s3.alpha", "iam.user", "zz.other"]


def test_two_declarations_of_one_id_are_refused(
    make_package: Callable[[dict[str, str]], str],
) -> None:
    # GIVEN two modules that declare the same policy id
    package = make_package(
        {
            "one": POLICY_MODULE.format(id="s3.same", service="s3"),
            "two": POLICY_MODULE.format(id="s3.same", service="s3"),
        }
    )
    # WHEN the registry discovers them
    # THEN it refuses, naming the id and both modules
    with pytest.raises(DuplicatePolicyError, match=r"'s3\.same'.*one.*two"):
        discover(package)


def test_the_decorator_makes_the_function_a_policy_record() -> None:
    # GIVEN an evaluator declared with @policy
    @policy(
        id="s3.example",
        resource_types=("s3.bucket", "s3.object"),
        title="Example",
        severity=Severity.HIGH,
        remediation="Do it.",
    )
    def example(resource: Resource, now: datetime) -> Verdict | None:
        """Decides by the name.

        Second paragraph."""
        return Verdict.violation(resource.name)

    # THEN the name is bound to a Policy with the metadata, the service from the id, the
    # function as its evaluator and the docstring as its description
    assert isinstance(example, Policy)
    assert (example.id, example.service, example.severity) == ("s3.example", "s3", Severity.HIGH)
    assert example.resource_types == frozenset({"s3.bucket", "s3.object"})
    target = Resource("arn:aws:s3:::b", "1", "s3", "s3.bucket", "global", name="b")
    assert example.evaluate(target, NOW) == Verdict.violation("b")
    assert example.description == "Decides by the name.\n\nSecond paragraph."


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "S3.Bad"}, "is not '<service>.<snake_case name>'"),
        ({"id": "s3"}, "is not '<service>.<snake_case name>'"),
        ({"resource_types": "ec2.volume"}, r"must be s3\.\* types, got \['ec2.volume'\]"),
        ({"resource_types": ()}, r"must be s3\.\* types"),
        ({"remediation": " "}, "must not be empty"),
        ({"title": ""}, "must not be empty"),
    ],
)
def test_a_malformed_declaration_fails_at_import(fields: dict[str, object], message: str) -> None:
    # GIVEN a declaration with one bad field
    declaration: dict[str, object] = {
        "id": "s3.fine",
        "resource_types": "s3.bucket",
        "title": "Fine",
        "severity": Severity.LOW,
        "remediation": "Fix.",
        **fields,
    }
    # WHEN it is applied
    # THEN it fails at once, naming the problem
    with pytest.raises(ValueError, match=message):
        policy(**declaration)  # type: ignore[arg-type]


def test_every_policy_module_declares_policies() -> None:
    # GIVEN the modules the registry imports from qrie.policies
    modules = policy_modules()
    # THEN each declares at least one policy (a helper module must be private: _name.py)
    assert {m.__name__ for m in modules} >= {"qrie.policies.s3", "qrie.policies.ec2"}
    for module in modules:
        assert module_policies(module), f"{module.__name__} declares no policy"


def test_ids_are_unique() -> None:
    # GIVEN every registered policy
    # WHEN their ids are compared
    # THEN none repeats
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("record", POLICIES, ids=IDS)
def test_policy_metadata(record: Policy) -> None:
    # GIVEN a registered policy
    # THEN it targets resource types of its own service, and says what, why and how to fix
    assert record.id.startswith(f"{record.service}.")
    assert record.resource_types
    assert all(t.startswith(f"{record.service}.") for t in record.resource_types)
    assert record.title.strip()
    assert isinstance(record.severity, Severity)
    assert record.remediation.strip().endswith(".")
    assert record.description.strip(), "the evaluator's docstring says what decides"
    # the rationale: its own paragraph of the docstring, one sentence or more, not the decision
    assert record.rationale.endswith("."), "a 'Rationale:' paragraph says why it matters"
    assert record.rationale not in record.description.split("\n\n")[0]
    assert "\n" not in record.rationale


@pytest.mark.parametrize("service", sorted(REQUIRED))
def test_required_policies_are_registered(service: str) -> None:
    # GIVEN the policies the design asks for
    # THEN each service provides at least those
    assert REQUIRED[service] <= {p.id for p in select(f"{service}.*")}


def test_select_all() -> None:
    # WHEN selecting "*"
    # THEN every policy comes back, across the three services, in the services' order
    assert [p.id for p in select("*")] == IDS
    assert services_of(select("*")) == ["ec2", "iam", "s3"]
    assert [p.service for p in select("*")][:1] == ["s3"]


@pytest.mark.parametrize("service", ["s3", "ec2", "iam"])
def test_select_service(service: str) -> None:
    # WHEN selecting "<service>.*"
    selected = select(f"{service}.*")
    # THEN exactly that service's policies come back
    assert selected
    assert {p.service for p in selected} == {service}
    assert len(selected) == sum(1 for p in POLICIES if p.service == service)


@pytest.mark.parametrize("policy_id", IDS)
def test_select_one(policy_id: str) -> None:
    # WHEN selecting a policy by id
    # THEN only that policy comes back
    assert select(policy_id) == [get_policy(policy_id)]


@pytest.mark.parametrize("spec", ["nope", "nope.*", "s3", "s3.", "S3.*", "s3.nope", ""])
def test_select_nothing(spec: str) -> None:
    # WHEN selecting something that matches no policy
    # THEN the result is empty, not an error
    assert select(spec) == []


def test_get_policy_unknown_id_raises() -> None:
    # WHEN asking for an id that is not registered
    # THEN KeyError names it
    with pytest.raises(KeyError, match="nope"):
        get_policy("nope")


def test_the_policies_import_only_the_domain() -> None:
    # GIVEN a fresh interpreter
    script = (
        "import sys\n"
        "from qrie.policies.registry import all_policies\n"
        "from qrie.policies.frameworks import load_frameworks\n"
        "all_policies(); load_frameworks()\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('qrie', 'boto')))))\n"
    )
    # WHEN it loads every policy and framework
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    # THEN nothing but qrie.domain and qrie.policies was imported (no botocore, no store)
    assert "qrie.policies.s3" in loaded
    assert [m for m in loaded if not m.startswith(("qrie.domain", "qrie.policies"))] == ["qrie"]
