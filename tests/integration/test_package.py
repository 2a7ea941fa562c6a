"""The Lambda package, built by src/Makefile for this machine (the recipe sam build runs for
python3.13 on arm64), then imported as Lambda lays it out: each function's folder, then the
layers' ``python/``, in a fresh interpreter that sees nothing of this machine's site-packages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qrie.aws_services import AWS_SERVICES
from qrie_build.build import DEPENDENCIES, FUNCTIONS, TRACING, Package, Target, build

HANDLERS = {
    "JobHandlerFunction": "qrie.handlers.job_handler",
    "InventoryWorkerFunction": "qrie.handlers.inventory_worker",
    "ScanWorkerFunction": "qrie.handlers.scan_worker",
    "PollingServiceFunction": "qrie.handlers.polling_service",
}
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "qrie",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "TABLE_NAME": "qrie-table",
}

# Runs inside the fresh interpreter: imports the handler, creates clients, reports as JSON.
PROBE = """
import importlib, json, sys
sys.path[:0] = PATH
import boto3, botocore.exceptions
report = {"paths": {}, "clients": {}, "refused": None}
handler = importlib.import_module(MODULE)
report["handler_callable"] = callable(handler.lambda_handler)
for name in ("boto3", "botocore", "pydantic", "aws_lambda_powertools", "qrie"):
    report["paths"][name] = importlib.import_module(name).__file__
for service in SERVICES:
    client = boto3.client(service, region_name="us-east-1")
    report["clients"][service] = client.meta.endpoint_url
try:
    boto3.client("cloudtrail", region_name="us-east-1")
except botocore.exceptions.UnknownServiceError:
    report["refused"] = "cloudtrail"
for name in ("aws_xray_sdk", "qrie_cli", "qrie_local", "moto", "tests"):
    try:
        importlib.import_module(name)
        report.setdefault("importable", []).append(name)
    except ImportError:
        pass
report["xray_loaded"] = "aws_xray_sdk" in sys.modules
report["bytecode"] = sys.modules[MODULE].__cached__
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    root = tmp_path_factory.mktemp("lambda-package")
    return build(root, Target.this_machine(), layers=(DEPENDENCIES, TRACING))


def _run(package: Package, function: str, code: str, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [package.target.python, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": function, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _probe(package: Package, function: str, tracing: bool = False, **env: str) -> dict[str, Any]:
    code = (
        f"PATH = {package.sys_path(function, tracing)!r}\nMODULE = {HANDLERS[function]!r}\n"
        f"SERVICES = {sorted(AWS_SERVICES)!r}\n{PROBE}"
    )
    return _run(package, function, code, **env)


def test_each_function_ships_only_the_qrie_package(package: Package) -> None:
    for function in FUNCTIONS:
        # GIVEN a function's artifact
        folder = package.built[function]
        # THEN it holds qrie/ alone: no CLI, no local stack, no tests, docs or requirements
        assert [p.name for p in folder.iterdir()] == ["qrie"]
        assert not list(folder.rglob("*.md"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_handler_imports_from_the_package_alone(package: Package, function: str) -> None:
    # WHEN the handler is imported in a fresh interpreter with Lambda's path and nothing else
    report = _probe(package, function)
    # THEN it loads, from the function's folder and the layer only, with precompiled bytecode
    assert report["handler_callable"]
    layer = str(package.built[DEPENDENCIES] / "python")
    for name in ("boto3", "botocore", "pydantic", "aws_lambda_powertools"):
        assert report["paths"][name].startswith(layer), name
    assert report["paths"]["qrie"].startswith(str(package.built[function]))
    assert Path(report["bytecode"]).is_file()
    # AND a client for every kept service resolves its model and endpoint; others were pruned
    assert set(report["clients"]) == AWS_SERVICES
    assert all(url.startswith("https://") for url in report["clients"].values())
    assert report["refused"] == "cloudtrail"
    # AND neither the X-Ray SDK, the CLI, the local stack nor the test tools are there
    assert report.get("importable", []) == []
    assert not report["xray_loaded"]


def test_tracing_on_loads_the_tracer_from_the_tracing_layer(package: Package) -> None:
    # GIVEN a function deployed with Tracing=Active: the TracingLayer and tracing not disabled
    # WHEN its handler is imported
    report = _probe(package, "JobHandlerFunction", tracing=True, POWERTOOLS_TRACE_DISABLED="false")
    # THEN Powertools' Tracer wraps it, with the X-Ray SDK of the tracing layer
    assert report["xray_loaded"]
    assert report["handler_callable"]
