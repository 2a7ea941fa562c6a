"""The finishing steps of the Lambda package, run by src/Makefile with the functions' Python.

``python -m qrie_build.package layer DIR``
    DIR is a layer's ``python/`` folder after ``pip install --target``: keep only the botocore
    (and boto3) service models of :data:`qrie.aws_services.AWS_SERVICES`, drop the console
    scripts, then compile as below.
``python -m qrie_build.package compile DIR``
    Precompile every module under DIR to bytecode. ``/var/task`` and ``/opt`` are read-only on
    Lambda, so without it every cold start compiles every module it imports. Unchecked-hash
    ``.pyc`` files are used as they are, with no source check (nothing changes in a deployed
    package); the interpreter that compiles must be the functions' runtime version.

Standard library only: this runs with a bare Python, before any dependency is installed.
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qrie.aws_services import AWS_SERVICES

# The SDK folders whose sub-folders are per-service models; files directly inside them
# (endpoints.json, partitions.json, sdk-default-configuration.json, _retry.json) are kept.
MODEL_DIRS = ("botocore/data", "boto3/data")
PARALLEL_FROM = 200  # modules


class BuildError(Exception):
    """The package cannot be built as asked (a missing folder, a kept service with no model)."""


@dataclass
class PruneReport:
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prune_models(site: Path, services: Iterable[str] = AWS_SERVICES) -> PruneReport:
    """Delete every service model folder under ``site`` that ``services`` does not name.

    Fails if botocore is not under ``site`` or a named service has no botocore model (a typo
    in the list would otherwise leave the functions without the model they need)."""
    wanted = set(services)
    botocore_data = site / MODEL_DIRS[0]
    if not botocore_data.is_dir():
        raise BuildError(f"no botocore models under {site} ({MODEL_DIRS[0]} is missing)")
    missing = sorted(s for s in wanted if not (botocore_data / s).is_dir())
    if missing:
        raise BuildError(f"botocore has no model for {', '.join(missing)} (qrie/aws_services.py)")
    report = PruneReport(kept=sorted(wanted))
    for models in (site / d for d in MODEL_DIRS):
        if not models.is_dir():
            continue
        for service in sorted(p for p in models.iterdir() if p.is_dir()):
            if service.name not in wanted:
                report.removed_bytes += tree_bytes(service)
                shutil.rmtree(service)
                report.removed.append(f"{models.relative_to(site)}/{service.name}")
    return report


def remove_scripts(site: Path) -> None:
    """Console scripts that pip puts in ``bin/`` (jmespath's jp.py): nothing runs them."""
    shutil.rmtree(site / "bin", ignore_errors=True)


def compile_tree(root: Path) -> int:
    """Replace any bytecode under ``root`` with unchecked-hash bytecode of this interpreter.
    Returns the number of modules compiled."""
    if not root.is_dir():
        raise BuildError(f"{root} is not a folder")
    for cache in sorted(root.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    sources = sum(1 for _ in root.rglob("*.py"))
    ok = compileall.compile_dir(
        root,
        quiet=1,
        # a process per core pays off for a layer, not for the 44 modules of a function
        workers=0 if sources > PARALLEL_FROM else 1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise BuildError(f"some modules under {root} do not compile with Python {sys.version}")
    return sum(1 for _ in root.rglob("*.pyc"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qrie_build.package", description=__doc__)
    parser.add_argument("step", choices=("layer", "compile"))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.step == "layer":
            report = prune_models(args.directory)
            remove_scripts(args.directory)
            print(
                f"kept the models of {', '.join(report.kept)}; removed {len(report.removed)} "
                f"service folders ({report.removed_bytes / 1e6:.1f} MB)"
            )
        modules = compile_tree(args.directory)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"compiled {modules} modules under {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
