"""The deploy rehearsal: what a user does to reach production, run against the local AWS.

    python -m qrie_local.rehearsal [--accounts N] [--keep] [--report FILE]   (make rehearse)

1. **Local AWS**: the moto server of :class:`~qrie_local.stack.LocalStack`, with nothing on it,
   state in ``.qrie-rehearsal/`` (never the ``.qrie/`` of ``qrie local up``).
2. **Build**: the real ``sam build --config-env rehearsal`` of the project (samconfig.toml),
   with the functions' runtime (python3.13: ``$LAMBDA_PYTHON``, on PATH, or pyenv's).
   ``--no-build`` skips it (the integration test does: it is the slowest step): ``sam deploy``
   then packages the template's code folders as they are.
3. **Deploy**: the real ``sam deploy --config-env rehearsal`` of what was built, its AWS requests
   sent to the local AWS (``AWS_ENDPOINT_URL``, fake credentials, no AWS config or profile
   read: nothing can reach an AWS account). ``sam deploy`` creates its artifact bucket stack,
   uploads, creates and executes the change set and waits for the stack.
4. **Attach**: the runner plays Lambda for the deployed stack -- functions, event source
   mappings and schedule read from the local AWS's Lambda and EventBridge APIs, each
   function's code from its deployment package (:mod:`qrie_local.deployed`) -- and answers
   Lambda's Invoke.
5. **Member accounts**: an AWS Organization with ``--accounts`` members, each onboarded with the
   member role (the ExternalId and role name the deployed workers use) and demo resources.
6. **Drive**: the README's deploy-section commands, as a user types them:
   ``qrie --stack-name <stack> accounts sync``, ``inventory start --service all --watch``,
   ``scan start --policy '*' --watch``, ``findings list --severity critical``. Each must exit 0.

It prints the stack's Outputs and the time of each phase, and writes them (with the commands'
exit codes and the runner's invocations per function) to ``--report``. The local AWS is stopped
at the end unless ``--keep`` (then a runner daemon keeps serving the stack: ``qrie local down
--state-dir .qrie-rehearsal`` stops both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from qrie_local.stack import REGION, LocalStack, clean_aws_environment

__all__ = [
    "CliRun",
    "Rehearsal",
    "RehearsalError",
    "RehearsalReport",
    "lambda_python",
    "main",
    "readme_commands",
]

DEFAULT_STATE_DIR = Path(".qrie-rehearsal")
CONFIG_ENV = "rehearsal"
STACK_NAME = "qrie-rehearsal"  # samconfig.toml [rehearsal.global.parameters] stack_name
DEFAULT_ACCOUNTS = 3
SAM_TIMEOUT_SECONDS = 900
CLI_TIMEOUT_SECONDS = 300  # a command of the drive (a --watch follows its job to the end)
SCHEDULE_INTERVAL_SECONDS = 3.0  # the polling service's rate(2 minutes), locally
INVENTORY_WORKER = "InventoryWorkerFunction"


class RehearsalError(Exception):
    """A step of the rehearsal failed (the message says which, and where its output is)."""


@dataclass
class CliRun:
    command: list[str]
    exit_code: int
    seconds: float
    output: str = ""


@dataclass
class RehearsalReport:
    stack_name: str
    endpoint: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    commands: list[CliRun] = field(default_factory=list)
    invocations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for run in data["commands"]:
            run.pop("output", None)
        return data


def _python_313(candidate: str) -> Path | None:
    """The interpreter ``candidate`` really runs (a pyenv shim is not one) if it is 3.13."""
    try:
        probe = subprocess.run(
            [
                candidate,
                "-c",
                "import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return None
    found = probe.stdout.strip()
    return Path(found) if probe.returncode == 0 and found else None


def lambda_python() -> Path | None:
    """The functions' runtime for ``sam build``: ``$LAMBDA_PYTHON``, ``python3.13`` on PATH, or
    pyenv's 3.13."""
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which("python3.13") or ""]
    candidates += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))]
    for candidate in filter(None, candidates):
        found = _python_313(candidate)
        if found is not None:
            return found
    return None


def readme_commands(stack_name: str) -> list[list[str]]:
    """The README's deploy-section commands (after ``qrie``), in order."""
    stack = ["--stack-name", stack_name]
    return [
        [*stack, "accounts", "sync"],
        [*stack, "inventory", "start", "--service", "all", "--watch"],
        [*stack, "scan", "start", "--policy", "*", "--watch"],
        [*stack, "findings", "list", "--severity", "critical"],
    ]


def _qrie() -> list[str]:
    script = Path(sys.executable).with_name("qrie")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from qrie_cli.main import main; main()"]


def _root_option_first(env: Mapping[str, str]) -> bool:
    """Whether this CLI takes ``--stack-name`` before the command (``qrie --stack-name S
    accounts sync``, the README's form); older ones take it after the command."""
    probe = subprocess.run(
        [*_qrie(), "--stack-name", STACK_NAME, "--help"],
        env=dict(env),
        capture_output=True,
        check=False,
        timeout=60,
    )
    return probe.returncode == 0


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _placed(command: list[str], root_first: bool) -> list[str]:
    """``command`` with the leading ``--stack-name NAME`` moved after the subcommand words when
    the CLI takes it there."""
    if root_first or command[:1] != ["--stack-name"]:
        return command
    option, rest = command[:2], command[2:]
    words = 0
    while words < len(rest) and not rest[words].startswith("-"):
        words += 1
    return [*rest[:words], *option, *rest[words:]]


class Rehearsal:
    """One rehearsal, step by step (each step is a method; :meth:`run` does them all)."""

    def __init__(
        self,
        project: Path = Path(),
        state_dir: Path = DEFAULT_STATE_DIR,
        accounts: int = DEFAULT_ACCOUNTS,
        seed: int = 7,
        sam: Path | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.project = project.resolve()
        self.state_dir = (self.project / state_dir).resolve()
        self.accounts = accounts
        self.seed = seed
        self.sam = sam or self.project / ".venv-sam" / "bin" / "sam"
        self.out = out or sys.stdout
        self.stack: LocalStack | None = None
        self.report = RehearsalReport(stack_name=STACK_NAME)
        self.built = False
        self._runner: Any = None

    # ------------------------------------------------------------------ helpers
    def say(self, text: str) -> None:
        self.out.write(f"[rehearsal] {text}\n")
        self.out.flush()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        self.say(f"{name} ...")
        try:
            yield
        finally:
            seconds = round(time.monotonic() - started, 2)
            self.report.seconds[name] = seconds
            self.say(f"{name}: {seconds:.1f} s")

    def aws_env(self) -> dict[str, str]:
        """The environment of every AWS client the rehearsal starts: the local AWS, fake
        credentials, and no AWS configuration of the user's (no profile, SSO or endpoint can
        send a request to an AWS account)."""
        if self.stack is None:
            raise RehearsalError("the local AWS is not started")
        env = clean_aws_environment(os.environ)
        for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env[name] = str(self.state_dir / "no-aws-config")
        env.update(self.stack.base_env())
        env["SAM_CLI_TELEMETRY"] = "0"
        return env

    def _run(
        self, command: Sequence[str], env: Mapping[str, str], timeout: float, shown: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run a command from the project folder, echoing it and its output."""
        self.say("$ " + (shown or " ".join(command)))
        process = subprocess.run(
            list(command),
            cwd=self.project,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=timeout,
        )
        self.out.write(process.stdout)
        return process

    def _sam(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        process = self._run([str(self.sam), *args], env, SAM_TIMEOUT_SECONDS)
        if process.returncode != 0:
            raise RehearsalError(
                f"sam {args[0]} failed (exit code {process.returncode}):\n{_tail(process.stdout)}"
            )

    # ------------------------------------------------------------------ steps
    def start(self) -> None:
        with self.phase("start"):
            current = LocalStack.current(self.state_dir)
            if current is not None:  # a rehearsal left running (--keep): start afresh
                current.down()
            self.stack = LocalStack.start(self.state_dir)
            self.report.endpoint = self.stack.endpoint
            self.say(f"local AWS at {self.stack.endpoint} (state in {self.state_dir})")

    def build(self) -> None:
        with self.phase("build"):
            python = lambda_python()
            if python is None:
                raise RehearsalError(
                    "sam build needs python3.13 (the functions' runtime): put it on PATH or "
                    "set LAMBDA_PYTHON=/path/to/python3.13"
                )
            env = {**self.aws_env(), "LAMBDA_PYTHON": str(python)}
            env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
            self._sam(["build", *self.config, "--build-dir", str(self.build_dir)], env)
            self.built = True

    @property
    def build_dir(self) -> Path:
        return self.state_dir / "build"

    @property
    def template(self) -> Path:
        return self.project / "template.yaml"

    @property
    def config(self) -> list[str]:
        """The project's samconfig.toml, its rehearsal environment (sam deploy would look for a
        samconfig.toml beside the built template)."""
        return ["--config-file", str(self.project / "samconfig.toml"), "--config-env", CONFIG_ENV]

    def deploy(self) -> None:
        """``sam deploy`` of what :meth:`build` built; without a build, of the project's template
        as it is (the SAM CLI zips each CodeUri folder: the functions' code without their
        dependencies, which the runner takes from this interpreter anyway)."""
        with self.phase("deploy"):
            template = self.build_dir / "template.yaml" if self.built else self.template
            self._sam(["deploy", *self.config, "--template-file", str(template)], self.aws_env())

    def attach(self) -> None:
        from qrie_local.runner import Runner  # noqa: PLC0415

        if self.stack is None:
            raise RehearsalError("the local AWS is not started")
        with self.phase("attach"):
            self.stack.attach(STACK_NAME)
            self.report.outputs = dict(self.stack.outputs)
            self.report.functions = {
                logical_id: {
                    "name": spec.name,
                    "handler": spec.handler,
                    "timeout": spec.timeout,
                    "memory": spec.memory,
                    "sqs_events": [asdict(e) for e in spec.sqs_events],
                    "schedules": [asdict(s) for s in spec.schedules],
                }
                for logical_id, spec in self.stack.functions.items()
            }
            self._runner = Runner(
                self.stack,
                schedule_interval=SCHEDULE_INTERVAL_SECONDS,
                log_path=self.state_dir / "runner.log",
            ).start()
        width = max(len(k) for k in self.stack.outputs) if self.stack.outputs else 0
        self.say(f"stack {STACK_NAME} deployed; Outputs:")
        for key, value in sorted(self.stack.outputs.items()):
            self.out.write(f"  {key:<{width}}  {value}\n")

    def member_accounts(self) -> None:
        from qrie_local.seed import seed_organization  # noqa: PLC0415

        if self.stack is None:
            raise RehearsalError("the local AWS is not started")
        with self.phase("seed"):
            worker = self.stack.functions.get(INVENTORY_WORKER)
            env = worker.environment if worker is not None else {}
            if not env.get("EXTERNAL_ID") or not env.get("MEMBER_ROLE_NAME"):
                raise RehearsalError(
                    f"the deployed {INVENTORY_WORKER} has no EXTERNAL_ID / MEMBER_ROLE_NAME"
                )
            report = seed_organization(
                self.stack,
                self.accounts,
                role_name=env["MEMBER_ROLE_NAME"],
                external_id=env["EXTERNAL_ID"],
                hub_stack_name=STACK_NAME,
                seed=self.seed,
            )
            self.report.accounts = sorted(report.resources)
            self.say(
                f"organization: {len(report.accounts)} member accounts with demo resources "
                "and the member role, and the hub (the management account) onboarded"
            )

    def drive(self) -> None:
        with self.phase("drive"):
            env = self.aws_env()
            root_first = _root_option_first(env)
            if not root_first:
                self.say(
                    "this qrie takes --stack-name after the command, not before it (the "
                    "README's form): running the commands that way"
                )
            for command in readme_commands(STACK_NAME):
                placed = _placed(command, root_first)
                started = time.monotonic()
                process = self._run(
                    [*_qrie(), *placed], env, CLI_TIMEOUT_SECONDS, "qrie " + " ".join(placed)
                )
                seconds = round(time.monotonic() - started, 2)
                run = CliRun(placed, process.returncode, seconds, process.stdout)
                self.report.commands.append(run)
                if process.returncode != 0:
                    raise RehearsalError(
                        f"`qrie {' '.join(run.command)}` exited {process.returncode}:\n"
                        f"{_tail(process.stdout)}"
                    )

    def stop(self, keep: bool = False) -> None:
        if self._runner is not None:
            self._runner.stop()
            self.report.invocations = self._runner.stats()
            self._runner = None
        if self.stack is None:
            return
        if keep:
            pid = self.stack.start_runner(schedule_interval=SCHEDULE_INTERVAL_SECONDS)
            self.say(
                f"kept: local AWS at {self.stack.endpoint}, runner pid {pid}. Use it with "
                f"AWS_ENDPOINT_URL={self.stack.endpoint} AWS_ACCESS_KEY_ID=testing "
                f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION} "
                f"qrie --stack-name {STACK_NAME} ...; stop it: qrie local down --state-dir "
                f"{self.state_dir}"
            )
        else:
            self.stack.down()

    def run(self, build: bool = True, keep: bool = False) -> RehearsalReport:
        """Every step; the local AWS is stopped at the end (or kept), even after a failure."""
        started = time.monotonic()
        try:
            self.start()
            if build:
                self.build()
            self.deploy()
            self.attach()
            self.member_accounts()
            self.drive()
        finally:
            self.stop(keep)
            self.report.seconds["total"] = round(time.monotonic() - started, 2)
        return self.report


def print_summary(report: RehearsalReport, say: Callable[[str], None]) -> None:
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    say(f"done: {phases}")
    for run in report.commands:
        say(f"  qrie {' '.join(run.command)}: exit {run.exit_code} in {run.seconds:.1f} s")
    for name, stats in sorted(report.invocations.items()):
        say(f"  {name}: {stats.get('invocations', 0)} invocations")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qrie_local.rehearsal",
        description="sam build + sam deploy onto the local AWS, then the README's CLI commands",
    )
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS, help="member accounts")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the demo resources")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="no sam build: sam deploy packages template.yaml's code folders as they are",
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--report", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args(argv)
    if args.accounts < 1:
        parser.error("--accounts must be >= 1")
    rehearsal = Rehearsal(state_dir=args.state_dir, accounts=args.accounts, seed=args.seed)
    failure: RehearsalError | None = None
    try:
        rehearsal.run(build=not args.no_build, keep=args.keep)
    except RehearsalError as exc:
        failure = exc
    report = rehearsal.report
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    print_summary(report, rehearsal.say)
    if failure is not None:
        rehearsal.say(f"FAILED: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
