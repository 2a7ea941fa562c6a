"""qrie/aws_services.py: the one list of AWS services the Lambda code calls. The functions'
botocore carries only these models, so code that creates a client for another service must fail
here, not on Lambda."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qrie.aws import AccountSessions, Clients
from qrie.aws_services import AWS_SERVICES

SRC = Path(__file__).resolve().parents[2] / "src" / "qrie"
# The one module whose client factories take the service as a parameter: it checks the list
# itself at run time (Clients.get, AccountSessions.client).
FACTORY_MODULE = SRC / "aws.py"
# Receivers whose ``.get(service)`` creates a client: ``self.clients``, ``self._hub``.
CLIENT_REGISTRIES = ("clients", "hub")


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _receiver_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def services_called(source: str, where: str) -> tuple[set[str], list[str]]:
    """Services named by the client creations in ``source``: ``x.client(service, …)``,
    ``x.resource(service, …)`` and ``<clients>.get(service)``. Returns the services and the
    creations whose service cannot be read (a literal or a module constant)."""
    tree = ast.parse(source)
    constants = _constants(tree)
    services: set[str] = set()
    unreadable: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        receiver = _receiver_name(node.func.value).lower()
        creates = method in {"client", "resource"} or (
            method == "get" and any(r in receiver for r in CLIENT_REGISTRIES)
        )
        if not creates:
            continue
        keyword = next((k.value for k in node.keywords if k.arg == "service_name"), None)
        argument = node.args[0] if node.args else keyword
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            services.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in constants:
            services.add(constants[argument.id])
        else:
            unreadable.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return services, unreadable


def test_every_client_the_lambda_code_creates_is_for_a_packaged_service() -> None:
    # GIVEN every module of the Lambda package
    services: set[str] = set()
    unreadable: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        # WHEN the client creations in it are read
        found, unknown = services_called(path.read_text(), str(path.relative_to(SRC)))
        services |= found
        if path != FACTORY_MODULE:
            unreadable += unknown
    # THEN each names its service plainly, and every service is in qrie/aws_services.py
    assert not unreadable, "name the service with a literal or a module constant"
    assert services - AWS_SERVICES == set(), "add these to qrie/aws_services.py"
    # (the scan is not vacuous: it sees the table, the queues, AssumeRole and the collectors)
    assert {"dynamodb", "sqs", "sts", "s3", "ec2", "iam"} <= services


@pytest.mark.parametrize(
    "source",
    [
        'trail = session.client("cloudtrail", region)',
        'SERVICE = "cloudtrail"\ndef f(session):\n    return session.client(SERVICE, "us-east-1")',
        'x = self.clients.get("cloudtrail")',
        'x = self._hub.get(service_name="cloudtrail")',
    ],
)
def test_a_client_for_a_new_service_is_seen(source: str) -> None:
    # GIVEN a new collector's way of creating a client for a service not in the list
    # WHEN its source is read
    services, unreadable = services_called(source, "new.py")
    # THEN the service is found, so the test above would fail until the list names it
    assert services == {"cloudtrail"}
    assert not unreadable


def test_a_client_whose_service_cannot_be_read_is_reported() -> None:
    # GIVEN a client created for a service computed at run time
    _, unreadable = services_called("c = session.client(pick(), region)", "new.py")
    # THEN it is reported with its place
    assert unreadable == ["new.py:1: session.client(pick(), region)"]


def test_hub_clients_refuse_a_service_the_package_does_not_carry() -> None:
    # GIVEN the hub's client factory
    clients = Clients()
    # WHEN a client for a service outside the list is asked for
    with pytest.raises(ValueError, match=r"'cloudtrail'.*qrie/aws_services\.py"):
        clients.get("cloudtrail")
    # THEN nothing was created (no session either: the check comes first)
    assert clients._clients == {}
    assert clients._session is None


def test_member_clients_refuse_before_assuming_the_role() -> None:
    # GIVEN member-account sessions whose hub would fail any AssumeRole
    class NoHub(Clients):
        def get(self, service: str, region: str | None = None) -> object:
            raise AssertionError("AssumeRole attempted")

    sessions = AccountSessions("QrieReadOnly", "external-id-1234", hub=NoHub())
    # WHEN a member client for a service outside the list is asked for
    # THEN it is refused before any call
    with pytest.raises(ValueError, match="'cloudtrail'"):
        sessions.client("111111111111", "cloudtrail", "us-east-1")


def test_the_list_names_only_services_botocore_knows() -> None:
    # GIVEN the full botocore of the test environment
    import botocore.session

    known = set(botocore.session.get_session().get_available_services())
    # THEN every listed service is one of its models (a typo would ship no model at all)
    assert known >= AWS_SERVICES
