"""The Lambda package's recipe: src/Makefile and qrie_build agree with template.yaml, the runtime
requirements are pinned and shipped whole, botocore is pruned to qrie/aws_services.py, and the
bytecode is the kind a read-only /var/task can use. (tests/integration/test_package.py builds
the package and imports every handler from it.)"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qrie.aws_services import AWS_SERVICES
from qrie_build import build as qrie_build
from qrie_build.package import BuildError, compile_tree, main, prune_models
from qrie_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)$")


def _template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _of_type(kind: str) -> dict[str, Any]:
    return {k: v for k, v in _template()["Resources"].items() if v["Type"] == kind}


def _dry_run(target: str) -> str:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(SRC), target, "ARTIFACTS_DIR=/out"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pins(path: Path) -> dict[str, str]:
    """``name -> version`` of a requirements file (``-r`` lines skipped); every line pinned."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-r")):
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[3]
    return pins


# --- the recipe against the template -----------------------------------------------------------


def test_every_function_is_built_by_the_makefile_and_ships_only_qrie() -> None:
    # GIVEN the template's functions
    functions = _of_type("AWS::Serverless::Function")
    # THEN each is built by src/Makefile, and its target copies qrie/ and nothing else
    assert tuple(functions) == qrie_build.FUNCTIONS
    for logical_id, function in functions.items():
        assert function["Metadata"]["BuildMethod"] == "makefile"
        commands = _dry_run(f"build-{logical_id}")
        assert 'cp -R qrie "/out/"' in commands
        assert "qrie_cli" not in commands
        assert "qrie_local" not in commands


@pytest.mark.parametrize("layer", [qrie_build.DEPENDENCIES, qrie_build.TRACING])
def test_layers_are_built_for_the_functions_runtime_and_architecture(layer: str) -> None:
    # GIVEN a layer and the functions' runtime and architecture
    globals_ = _template()["Globals"]["Function"]
    resource = _of_type("AWS::Serverless::LayerVersion")[layer]
    runtime = globals_["Runtime"]
    [architecture] = globals_["Architectures"]
    # WHEN the Makefile's recipe for it is read
    commands = _dry_run(f"build-{layer}")
    # THEN the layer declares that runtime and architecture, and pip installs wheels for them
    assert resource["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": architecture}
    assert resource["Properties"]["CompatibleRuntimes"] == [runtime]
    assert resource["Properties"]["CompatibleArchitectures"] == [architecture]
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]
    version = runtime.removeprefix("python")
    assert f"--platform manylinux2014_{machine}" in commands
    assert f"--python-version {version}" in commands
    assert "--only-binary=:all:" in commands
    assert f"python{version} -m " in commands  # bytecode of the runtime's version
    assert (
        f"manylinux2014_{machine}",
        version,
    ) == (qrie_build.LAMBDA_PLATFORM, qrie_build.LAMBDA_PYTHON_VERSION)


def test_the_dependencies_layer_is_pruned_and_the_tracing_layer_brings_no_botocore() -> None:
    # GIVEN the two layers' recipes
    dependencies = _dry_run(f"build-{qrie_build.DEPENDENCIES}")
    tracing = _dry_run(f"build-{qrie_build.TRACING}")
    # THEN the dependencies are pruned; the X-Ray SDK is installed without its dependencies
    assert "-r requirements.txt" in dependencies
    assert 'qrie_build.package layer "/out/python"' in dependencies
    assert "--no-deps -r requirements-tracing.txt" in tracing


def test_a_build_without_an_artifacts_dir_fails_clearly() -> None:
    # WHEN a target runs outside sam with no ARTIFACTS_DIR
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(SRC), "build-JobHandlerFunction"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    # THEN it stops before writing anything, saying why
    assert done.returncode != 0
    assert "ARTIFACTS_DIR is not set" in done.stderr


# --- requirements ------------------------------------------------------------------------------


def test_runtime_requirements_are_pinned_and_ship_the_sdk_whole() -> None:
    # GIVEN the functions' requirements
    pins = _pins(SRC / "requirements.txt")
    # THEN boto3 and botocore are shipped together, the X-Ray SDK is not (it is the opt-in
    # TracingLayer), and neither is anything of the CLI or the local stack
    assert {"boto3", "botocore", "s3transfer", "aws-lambda-powertools", "pydantic"} <= set(pins)
    assert pins["boto3"].split(".")[:2] == pins["botocore"].split(".")[:2]
    assert not {"aws-xray-sdk", "wrapt", "moto", "typer", "rich", "aws-sam-translator"} & set(pins)
    assert set(_pins(SRC / "requirements-tracing.txt")) == {"aws-xray-sdk", "wrapt"}


def test_the_test_environment_pins_the_runtime_versions() -> None:
    # GIVEN the test environment's requirements, which include the runtime's
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    runtime = _pins(SRC / "requirements.txt") | _pins(SRC / "requirements-tracing.txt")
    # THEN it includes both files and pins none of their packages again (so never differently)
    assert "-r src/requirements.txt" in dev
    assert "-r src/requirements-tracing.txt" in dev
    assert not set(_pins(ROOT / "requirements-dev.txt")) & set(runtime)


# --- pruning -----------------------------------------------------------------------------------


def _site(tmp_path: Path, services: list[str]) -> Path:
    site = tmp_path / "python"
    for models in ("botocore/data", "boto3/data"):
        for service in services:
            (site / models / service / "2020-01-01").mkdir(parents=True)
            (site / models / service / "2020-01-01" / "service-2.json.gz").write_bytes(b"x" * 10)
    for name in ("endpoints.json", "partitions.json", "sdk-default-configuration.json"):
        (site / "botocore/data" / name).write_text("{}")
    (site / "bin").mkdir()
    (site / "bin" / "jp.py").write_text("print('jp')\n")
    return site


def test_pruning_keeps_the_listed_services_and_botocores_own_data(tmp_path: Path) -> None:
    # GIVEN an installed botocore and boto3 with the listed services and two more
    site = _site(tmp_path, [*sorted(AWS_SERVICES), "cloudtrail", "lambda"])
    # WHEN the layer is finished
    assert main(["layer", str(site)]) == 0
    # THEN only the listed services' models remain, with endpoints and partitions, no scripts
    for models in ("botocore/data", "boto3/data"):
        kept = {p.name for p in (site / models).iterdir() if p.is_dir()}
        assert kept == AWS_SERVICES
    files = {p.name for p in (site / "botocore/data").iterdir() if p.is_file()}
    assert files == {"endpoints.json", "partitions.json", "sdk-default-configuration.json"}
    assert not (site / "bin").exists()


def test_pruning_refuses_a_listed_service_without_a_model(tmp_path: Path) -> None:
    # GIVEN a botocore without the model of one listed service
    site = _site(tmp_path, ["sqs", "cloudtrail"])
    # WHEN it is pruned
    with pytest.raises(BuildError, match=r"no model for .*dynamodb"):
        prune_models(site)
    # THEN nothing was removed
    assert (site / "botocore/data/cloudtrail").is_dir()


def test_pruning_refuses_a_folder_without_botocore(tmp_path: Path) -> None:
    assert main(["layer", str(tmp_path)]) == 1


# --- bytecode ----------------------------------------------------------------------------------


def test_bytecode_is_unchecked_hash_and_replaces_stale_caches(tmp_path: Path) -> None:
    # GIVEN a package with a module and a stale cache from another interpreter
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("VALUE = 1\n")
    (package / "__pycache__" / "mod.cpython-36.pyc").write_bytes(b"stale")
    # WHEN it is compiled
    assert compile_tree(package) == 2
    # THEN each module has bytecode for this interpreter, marked hash-based and unchecked
    # (PEP 552: flags 0b01), so a read-only /var/task uses it without looking at the source
    cached = Path(importlib.util.cache_from_source(str(package / "mod.py")))
    flags = int.from_bytes(cached.read_bytes()[4:8], "little")
    assert flags == 0b01
    assert sorted(p.name for p in (package / "__pycache__").iterdir()) == sorted(
        [cached.name, Path(importlib.util.cache_from_source(str(package / "__init__.py"))).name]
    )


def test_a_module_that_does_not_compile_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    assert main(["compile", str(tmp_path)]) == 1


def test_the_build_helper_targets_this_machine() -> None:
    # GIVEN the target for this machine
    target = qrie_build.Target.this_machine()
    # THEN it is this interpreter, its version and its architecture's wheels
    assert target.python == sys.executable
    assert target.python_version == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.fullmatch(r"manylinux2014_(x86_64|aarch64)", target.platform)
