"""What a handler loads at init (cold start): its own domain code, never another function's,
and no X-Ray SDK unless tracing is on. Each case runs in a fresh interpreter. (The times are
measured by bench 6 in `make bench`, never here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

HANDLERS = {
    "JobHandlerFunction": "qrie.handlers.job_handler",
    "InventoryWorkerFunction": "qrie.handlers.inventory_worker",
    "ScanWorkerFunction": "qrie.handlers.scan_worker",
    "PollingServiceFunction": "qrie.handlers.polling_service",
}
# The domain code each function runs on every invocation: loaded at init, not on the first call.
OWN = {
    "JobHandlerFunction": "qrie.jobs.service",
    "InventoryWorkerFunction": "qrie.jobs.worker",
    "ScanWorkerFunction": "qrie.jobs.worker",
    "PollingServiceFunction": "qrie.jobs.reconcile",
}
WORKERS_ONLY = ("qrie.jobs.worker", "qrie.inventory.engine", "qrie.scan.engine")
XRAY = "aws_xray_sdk"
# Powertools' parser package builds a model of every AWS event (about 40 ms); qrie's models
# are plain pydantic.
PARSER = "aws_lambda_powertools.utilities.parser"
TRACER = "aws_lambda_powertools/tracing/tracer.py"  # where the Tracer's wrapper is defined


def _loaded(module: str, prelude: str = "", **env: str) -> dict[str, Any]:
    """Import ``module`` in a fresh interpreter; report what it loaded and what it exposes."""
    code = (
        f"import json, sys\n{prelude}\nimport {module} as m\n"
        "layers, f = [], m.lambda_handler\n"
        "while f is not None:\n"
        "    layers.append(f.__code__.co_filename)\n"
        "    f = getattr(f, '__wrapped__', None)\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'wrappers': layers}))"
    )
    environment = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "qrie-test",
        "AWS_REGION": "us-east-1",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr
    *logged, last = done.stdout.splitlines()  # Powertools' Logger writes to stdout
    report: dict[str, Any] = json.loads(last)
    report["logged"] = "\n".join(logged)
    report["traced"] = any(w.endswith(TRACER) for w in report["wrappers"])
    return report


@pytest.mark.parametrize("function", HANDLERS)
def test_a_handler_loads_its_own_code_at_init_and_no_tracer(function: str) -> None:
    # WHEN a handler module is imported with tracing off (the template's default)
    loaded = set(_loaded(HANDLERS[function])["modules"])
    # THEN what each invocation runs is loaded now, the X-Ray SDK and Powertools' parser never
    assert OWN[function] in loaded
    assert XRAY not in loaded
    assert PARSER not in loaded, "import pydantic's BaseModel, not Powertools' parser"


@pytest.mark.parametrize("function", ["JobHandlerFunction", "PollingServiceFunction"])
def test_the_job_handler_and_polling_service_do_not_load_the_workers(function: str) -> None:
    # WHEN a function that runs no task is imported
    loaded = set(_loaded(HANDLERS[function])["modules"])
    # THEN the workers' code (the collectors' engine, the scan engine) stays unloaded
    assert not loaded & set(WORKERS_ONLY)


def test_the_polling_service_loads_the_models_only_for_dead_letters() -> None:
    # WHEN the polling service is imported (most runs find no dead letter)
    loaded = set(_loaded(HANDLERS["PollingServiceFunction"])["modules"])
    # THEN the task-message models and pydantic (about 45 ms) stay unloaded
    assert "qrie.models" not in loaded
    assert "pydantic" not in loaded


def test_tracing_on_wraps_the_handler_in_powertools_tracer() -> None:
    # WHEN a handler is imported with tracing on (Tracing=Active)
    report = _loaded(HANDLERS["JobHandlerFunction"], POWERTOOLS_TRACE_DISABLED="false")
    # THEN Powertools' Tracer wraps it, with the X-Ray SDK loaded
    assert report["traced"]
    assert XRAY in report["modules"]


def test_tracing_off_leaves_the_handler_itself() -> None:
    report = _loaded(HANDLERS["JobHandlerFunction"], POWERTOOLS_TRACE_DISABLED="TRUE")
    assert not report["traced"]
    assert report["wrappers"][-1].endswith("qrie/handlers/job_handler.py")  # the handler itself


def test_tracing_on_without_the_sdk_runs_untraced_with_a_warning() -> None:
    # GIVEN tracing on but no X-Ray SDK (a function deployed without the TracingLayer)
    # WHEN a handler is imported
    report = _loaded(
        HANDLERS["PollingServiceFunction"],
        prelude=f"sys.modules[{XRAY!r}] = None  # not installed",
        POWERTOOLS_TRACE_DISABLED="false",
    )
    # THEN it runs untraced, and says why, rather than failing every invocation
    assert not report["traced"]
    assert "X-Ray SDK is not installed" in report["logged"]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("true", False), ("1", False), ("Yes", False), ("false", True), ("0", True), ("", True)],
)
def test_tracing_switch_reads_powertools_variable(value: str, enabled: bool) -> None:
    from qrie.observability import tracing_enabled

    assert tracing_enabled({"POWERTOOLS_TRACE_DISABLED": value}) is enabled
