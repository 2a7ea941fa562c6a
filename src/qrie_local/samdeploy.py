"""``make deploy``: ``sam deploy --config-env ENV`` with the ExternalId passed as a secret.

    python -m qrie_local.samdeploy --config-env dev [--sam PATH] [--config samconfig.toml]

The ExternalId comes from ``$QRIE_EXTERNAL_ID`` or, on a terminal, from a prompt that does not
echo it (Enter: none). Without one, ``sam deploy`` runs as configured and CloudFormation keeps
the stack's previous ExternalId (sam sends UsePreviousValue), which is what every deploy after
the first wants. With one, it never reaches a command line (``ps`` shows every process's
arguments to every user) nor the output: it goes into a copy of samconfig.toml whose
``[ENV.deploy.parameters] parameter_overrides`` gets ``ExternalId=...`` appended to its own list
(a ``--parameter-overrides`` on the command line would replace that list, ``Stage`` included),
written 0600 in a private temporary directory, given to sam with ``--config-file`` and removed
when sam exits. sam's own environment does not carry ``QRIE_EXTERNAL_ID`` either.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qrie_local.private import write_private

__all__ = ["ENV_VARIABLE", "DeployError", "main", "with_external_id"]

ENV_VARIABLE = "QRIE_EXTERNAL_ID"
# The template's ExternalId parameter: 8-1224 of the STS ExternalId alphabet (no quotes or
# spaces, so it is safe inside samconfig's parameter_overrides string).
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{8,1224}")


class DeployError(Exception):
    """The deploy cannot start (message says why; it never holds the ExternalId)."""


def _toml_value(value: Any) -> str:
    """A samconfig value as TOML: strings, booleans, numbers and lists of them (JSON's strings
    and arrays are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise DeployError(f"samconfig value of type {type(value).__name__} is not supported")


def _dump(config: Mapping[str, Any]) -> str:
    """samconfig.toml's shape: ``version`` and ``[env.command.parameters]`` tables."""
    lines = [f"version = {_toml_value(config.get('version', 0.1))}"]
    for env, commands in config.items():
        if not isinstance(commands, Mapping):
            continue
        for command, sections in commands.items():
            for section, values in dict(sections).items():
                lines.append(f"\n[{env}.{command}.{section}]")
                lines += [f"{key} = {_toml_value(value)}" for key, value in dict(values).items()]
    return "\n".join(lines) + "\n"


def with_external_id(config: Mapping[str, Any], env: str, external_id: str) -> dict[str, Any]:
    """A copy of ``config`` whose ``env`` deploy parameter_overrides also set ExternalId."""
    if not EXTERNAL_ID.fullmatch(external_id):
        raise DeployError(
            "the ExternalId must be 8 to 1224 characters of letters, digits and +=,.@:/-_"
        )
    if env not in config:
        raise DeployError(f"samconfig has no environment {env!r}: {', '.join(sorted(config))}")
    copied: dict[str, Any] = json.loads(json.dumps(config))
    deploy = copied[env].setdefault("deploy", {}).setdefault("parameters", {})
    overrides = deploy.get("parameter_overrides", [])
    items = overrides.split() if isinstance(overrides, str) else list(overrides)
    items = [i for i in items if not str(i).startswith("ExternalId=")]
    deploy["parameter_overrides"] = " ".join([*items, f"ExternalId={external_id}"])
    return copied


def _external_id(ask: bool) -> str:
    given = os.environ.get(ENV_VARIABLE, "")
    if given or not ask or not sys.stdin.isatty():
        return given
    return getpass.getpass("ExternalId for a first deploy (not shown; Enter keeps the stack's): ")


def deploy(
    env: str, sam: Sequence[str], config_path: Path, ask: bool = True, extra: Sequence[str] = ()
) -> int:
    """Run sam deploy for ``env``; its exit code."""
    external_id = _external_id(ask).strip()
    child_env = {k: v for k, v in os.environ.items() if k != ENV_VARIABLE}
    command = [*sam, "deploy", "--config-env", env]
    if not external_id:
        print(f"sam deploy --config-env {env} (the stack keeps its ExternalId)", flush=True)
        return subprocess.call([*command, *extra], env=child_env)
    config = with_external_id(tomllib.loads(config_path.read_text("utf-8")), env, external_id)
    with tempfile.TemporaryDirectory(prefix="qrie-deploy-") as folder:  # 0700
        secret_config = Path(folder) / "samconfig.toml"
        write_private(secret_config, _dump(config).encode())
        print(
            f"sam deploy --config-env {env} (ExternalId from "
            f"{'$' + ENV_VARIABLE if os.environ.get(ENV_VARIABLE) else 'the prompt'}, "
            "through a private copy of samconfig.toml)",
            flush=True,
        )
        return subprocess.call(  # our own argv, no secret in it
            [*command, "--config-file", str(secret_config), *extra], env=child_env
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qrie_local.samdeploy",
        description="sam deploy with the ExternalId from $QRIE_EXTERNAL_ID or a hidden prompt",
    )
    parser.add_argument("--config-env", required=True)
    parser.add_argument("--sam", default="sam", help="the sam executable")
    parser.add_argument("--config", type=Path, default=Path("samconfig.toml"))
    parser.add_argument("--no-ask", action="store_true", help="never prompt")
    args, extra = parser.parse_known_args(argv)
    try:
        return deploy(args.config_env, [args.sam], args.config, not args.no_ask, extra)
    except (DeployError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
