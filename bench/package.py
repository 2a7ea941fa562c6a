"""Bench 6: the Lambda package. Each function's artifact (unzipped and zipped bytes, files) and
the cold import time of each handler against Powertools' Logger + BatchProcessor alone.

The artifacts are src/Makefile's, as ``sam build`` makes them: for the functions' runtime and
architecture (python3.13, arm64) for the sizes, and the same recipe for this machine for the
import times (an arm64 package does not load here). Each import runs in a fresh interpreter
(``-I -S``: nothing from this machine's site-packages) whose path is Lambda's, the function's
folder then its layer, with the function's environment; the runs of all targets interleave.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qrie_build.build import (
    DEPENDENCIES,
    FUNCTIONS,
    LAMBDA_PYTHON_VERSION,
    TRACING,
    Package,
    Target,
    build,
)

HANDLERS = {
    "JobHandlerFunction": "qrie.handlers.job_handler",
    "InventoryWorkerFunction": "qrie.handlers.inventory_worker",
    "ScanWorkerFunction": "qrie.handlers.scan_worker",
    "PollingServiceFunction": "qrie.handlers.polling_service",
}
BASELINE = "baseline"
BASELINE_CODE = (
    "from aws_lambda_powertools import Logger\n"
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType\n"
    "Logger(service='qrie'); BatchProcessor(event_type=EventType.SQS)"
)
# What every function imports at init because every invocation calls AWS (the table).
BOTO3 = "boto3"
GOAL_X_BASELINE = 2.0


def runtime_python() -> str | None:
    """The functions' runtime interpreter on this machine: ``$LAMBDA_PYTHON`` (the Makefile
    finds it), else ``python3.13`` on PATH; ``None`` if neither runs Python 3.13."""
    for candidate in (os.environ.get("LAMBDA_PYTHON", ""), "python3.13"):
        if not candidate:
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        parts = done.stdout.split()
        if done.returncode == 0 and len(parts) == 3 and ".".join(parts[1:]) == "3.13":
            return parts[0]
    return None


def sizes(*folders: Path) -> dict[str, int]:
    """Files, bytes and zipped bytes (deflate, as sam packages them) of the folders together."""
    files = [(f, p) for f in folders for p in sorted(f.rglob("*")) if p.is_file()]
    with tempfile.TemporaryFile() as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for folder, path in files:
                archive.write(path, str(path.relative_to(folder)))
        zipped = out.tell()
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for _, p in files),
        "zipped_bytes": zipped,
    }


def _environment(function: str) -> dict[str, str]:
    """The parts of a function's environment that an import reads (template Globals)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "POWERTOOLS_SERVICE_NAME": "qrie",
        "POWERTOOLS_METRICS_NAMESPACE": "Qrie",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",  # template parameter Tracing: Disabled (default)
    }


def _import_once(python: str, path: list[str], code: str, function: str) -> tuple[float, int]:
    program = (
        f"import sys, time\nsys.path[:0] = {path!r}\nstarted = time.perf_counter()\n{code}\n"
        "print(time.perf_counter() - started, len(sys.modules))"
    )
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", program],
        capture_output=True,
        text=True,
        env=_environment(function),
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({code!r}):\n{done.stderr[-3000:]}")
    seconds, modules = done.stdout.split()
    return float(seconds), int(modules)


def cold_imports(package: Package, runs: int) -> dict[str, dict[str, Any]]:
    """``runs`` fresh imports of each handler, the baseline and boto3, interleaved."""
    any_function = FUNCTIONS[0]
    targets: dict[str, tuple[list[str], str, str]] = {
        BASELINE: (package.sys_path(any_function)[1:], BASELINE_CODE, any_function),
        BOTO3: (package.sys_path(any_function)[1:], "import boto3", any_function),
    }
    for function, module in HANDLERS.items():
        targets[function] = (package.sys_path(function), f"import {module}", function)
    times: dict[str, list[float]] = {name: [] for name in targets}
    modules: dict[str, int] = {}
    for _ in range(runs):
        for name, (path, code, function) in targets.items():
            seconds, count = _import_once(package.target.python, path, code, function)
            times[name].append(seconds * 1000)
            modules[name] = count
    base = statistics.median(times[BASELINE])
    return {
        name: {
            "min_ms": round(min(values), 1),
            "median_ms": round(statistics.median(values), 1),
            "x_baseline": round(statistics.median(values) / base, 2),
            "modules": modules[name],
        }
        for name, values in times.items()
    }


def _add(*parts: dict[str, int]) -> dict[str, int]:
    return {key: sum(part[key] for part in parts) for key in parts[0]}


def measure(state: Path, runs: int, deployed: bool = True) -> dict[str, Any]:
    """Build the package, size it, time the imports.

    ``deployed``: size the package built for the functions' runtime and architecture (a second
    build, in parallel with this machine's); otherwise (``--quick``) size this machine's."""
    started = time.perf_counter()
    runtime = runtime_python()
    here = Target.this_machine()
    local_target = Target(runtime, LAMBDA_PYTHON_VERSION, here.platform) if runtime else here
    deployed_target = Target.lambda_runtime(runtime or sys.executable)
    root = state / "package"
    shutil.rmtree(root, ignore_errors=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        local_job = pool.submit(build, root / "local", local_target)
        deployed_job = (
            pool.submit(build, root / "lambda", deployed_target, layers=(DEPENDENCIES, TRACING))
            if deployed
            else None
        )
        local = local_job.result()
        sized = deployed_job.result() if deployed_job else local
    build_seconds = time.perf_counter() - started
    layers = {name: sizes(path) for name, path in sized.built.items() if name.endswith("Layer")}
    functions: dict[str, dict[str, Any]] = {}
    for function in FUNCTIONS:
        own = sizes(sized.built[function])
        functions[function] = {
            "handler": HANDLERS[function],
            "package": own,
            "with_layer": _add(own, layers[DEPENDENCIES]),
        }
    imports = cold_imports(local, runs)
    for function in FUNCTIONS:
        functions[function]["import"] = imports[function]
    return {
        "sized_target": vars(sized.target),
        "import_target": vars(local.target),
        "runtime_python_found": runtime is not None,
        "runs": runs,
        "build_seconds": round(build_seconds, 1),
        "layers": layers,
        "functions": functions,
        "baseline": imports[BASELINE],
        "boto3": imports[BOTO3],
        "goal_x_baseline": GOAL_X_BASELINE,
        "seconds": round(time.perf_counter() - started, 1),
    }
