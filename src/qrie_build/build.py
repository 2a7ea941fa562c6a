"""Build the Lambda package without sam: src/Makefile's targets, for any platform and Python.

``sam build`` runs the same targets for the functions' runtime (python3.13, arm64). The tests
and the package bench build for this machine instead, so that a fresh interpreter here can
import the result exactly as Lambda lays it out: a function's folder first (``/var/task``),
then its layers' ``python/`` folders (``/opt/python``).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]
MAKEFILE = SRC / "Makefile"
DEPENDENCIES = "DependenciesLayer"
TRACING = "TracingLayer"
# template.yaml's functions (tests/unit/test_package.py checks both lists against it)
FUNCTIONS = (
    "JobHandlerFunction",
    "InventoryWorkerFunction",
    "ScanWorkerFunction",
    "PollingServiceFunction",
)
# template.yaml: Runtime python3.13, Architectures [arm64]
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_PLATFORM = "manylinux2014_aarch64"


class BuildFailed(Exception):
    """A make target failed; the message carries its output."""


@dataclass(frozen=True)
class Target:
    """What to build for: the interpreter that installs and compiles, and the wheels' tags."""

    python: str
    python_version: str
    platform: str

    @classmethod
    def this_machine(cls) -> Target:
        """This interpreter, this machine's architecture: a package this machine can import."""
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(
            platform.machine().lower(), platform.machine().lower()
        )
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return cls(sys.executable, version, f"manylinux2014_{machine}")

    @classmethod
    def lambda_runtime(cls, python: str) -> Target:
        """The functions' runtime and architecture; ``python`` must be that version."""
        return cls(python, LAMBDA_PYTHON_VERSION, LAMBDA_PLATFORM)


@dataclass
class Package:
    """Built artifacts: one folder per function and per layer, as ``sam build`` lays them out."""

    root: Path
    target: Target
    built: dict[str, Path] = field(default_factory=dict)

    def sys_path(self, function: str, tracing: bool = False) -> list[str]:
        """Lambda's import path for ``function``: its folder, then its layers' ``python/``."""
        layers = [DEPENDENCIES, TRACING] if tracing else [DEPENDENCIES]
        return [str(self.built[function])] + [str(self.built[name] / "python") for name in layers]


def build(
    root: Path,
    target: Target,
    functions: Iterable[str] = FUNCTIONS,
    layers: Iterable[str] = (DEPENDENCIES,),
) -> Package:
    """Run ``make build-<name>`` for each layer and function into ``root/<name>``."""
    package = Package(root, target)
    for name in [*layers, *functions]:
        artifacts = root / name
        artifacts.mkdir(parents=True, exist_ok=True)
        command = [
            "make",
            "--no-print-directory",
            "-C",
            str(SRC),
            f"build-{name}",
            f"ARTIFACTS_DIR={artifacts}",
            f"LAMBDA_PYTHON={target.python}",
            f"PYTHON_VERSION={target.python_version}",
            f"PLATFORM={target.platform}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildFailed(f"make build-{name} failed:\n{done.stdout}\n{done.stderr}")
        package.built[name] = artifacts
    return package
