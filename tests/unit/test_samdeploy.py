"""make deploy hands the ExternalId to sam without a command line or an echo: from
$QRIE_EXTERNAL_ID (or a hidden prompt) into a private copy of samconfig.toml that keeps Stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from qrie_local import samdeploy

ROOT = Path(__file__).resolve().parents[2]
SECRET = "qrie-test-external-id-7f3a"

# Stands in for the sam executable: writes what it was given (arguments, the config file it was
# pointed at, that file's mode, its environment's QRIE_EXTERNAL_ID) to $SAM_RECORD.
RECORDER = """
import json, os, stat, sys
args = sys.argv[1:]
config = args[args.index("--config-file") + 1] if "--config-file" in args else None
record = {"args": args, "env_secret": os.environ.get("QRIE_EXTERNAL_ID")}
if config:
    record["config"] = open(config).read()
    record["mode"] = stat.S_IMODE(os.stat(config).st_mode)
    record["folder_mode"] = stat.S_IMODE(os.stat(os.path.dirname(config)).st_mode)
    record["path"] = config
json.dump(record, open(os.environ["SAM_RECORD"], "w"))
"""


@pytest.fixture
def sam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "sam"
    script.write_text(f"#!{sys.executable}\n{RECORDER}")
    script.chmod(0o700)
    monkeypatch.setenv("SAM_RECORD", str(tmp_path / "record.json"))
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "samconfig.toml", tmp_path / "samconfig.toml")
    return script


def recorded(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "record.json").read_text())
    return data


def test_the_external_id_reaches_sam_only_in_a_private_config_file(
    sam: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the ExternalId in the environment of make deploy ENV=prod
    monkeypatch.setenv(samdeploy.ENV_VARIABLE, SECRET)
    # WHEN sam deploy is run
    code = samdeploy.main(["--config-env", "prod", "--sam", str(sam)])
    # THEN sam's command line and environment never hold it, and neither does the output
    assert code == 0
    record = recorded(tmp_path)
    assert SECRET not in " ".join(record["args"])
    assert record["args"][:3] == ["deploy", "--config-env", "prod"]
    assert record["env_secret"] is None
    out, err = capfd.readouterr()
    assert SECRET not in out + err
    # AND sam read it from a 0600 file in a 0700 folder, removed since, whose overrides keep
    # the environment's own (Stage) and the rest of its settings
    assert (record["mode"], record["folder_mode"]) == (0o600, 0o700)
    assert not Path(record["path"]).exists()
    config = tomllib.loads(record["config"])
    deploy = config["prod"]["deploy"]["parameters"]
    assert deploy["parameter_overrides"] == f"Stage=prod ExternalId={SECRET}"
    assert deploy["confirm_changeset"] is True
    assert config["prod"]["global"]["parameters"]["stack_name"] == "qrie-prod"


def test_without_an_external_id_sam_keeps_the_stacks(
    sam: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(samdeploy.ENV_VARIABLE, raising=False)
    assert samdeploy.main(["--config-env", "dev", "--sam", str(sam), "--no-ask"]) == 0
    assert recorded(tmp_path)["args"] == ["deploy", "--config-env", "dev"]


def test_a_malformed_external_id_is_refused_without_being_printed(
    sam: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(samdeploy.ENV_VARIABLE, "short'")
    assert samdeploy.main(["--config-env", "dev", "--sam", str(sam)]) == 2
    assert not (tmp_path / "record.json").exists()
    _, err = capfd.readouterr()
    assert "8 to 1224 characters" in err
    assert "short'" not in err


def test_make_refuses_the_external_id_on_its_command_line() -> None:
    # GIVEN make deploy as a user would type it, the secret on the command line
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    refused = subprocess.run(
        ["make", "-n", "deploy", f"EXTERNAL_ID={SECRET}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    # THEN it stops before running anything and says how to pass it instead
    assert refused.returncode != 0
    assert "QRIE_EXTERNAL_ID" in refused.stderr
    # AND the recipe it would run holds no ExternalId, only the helper
    plan = subprocess.run(
        ["make", "-n", "deploy"], cwd=ROOT, capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "ExternalId" not in plan
    assert "python -m qrie_local.samdeploy --config-env dev" in plan
