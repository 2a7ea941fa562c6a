"""Running the qrie CLI in tests: against qrie's table and queues on moto (the ``stack``
fixture) through a target whose job handler is the real ``lambda_handler``; queued tasks are
delivered to the real worker handlers with ``tests.support.pump``."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from typer.testing import CliRunner, Result

from qrie.config import Settings
from qrie.domain import Finding, FindingState, Severity
from qrie.store.table import Store
from qrie_cli import main as cli
from qrie_cli.target import Target, quiet_handler_output
from qrie_local.events import LambdaContext
from tests.support import REGION, Stack, pump

Run = Callable[..., Result]


class MotoTarget(Target):
    """The CLI's target over the moto stack: the real job handler, in process. With ``drain``
    every request that starts a job delivers its tasks to the workers before it returns, as a
    running stack would (so ``--watch`` finds the job finished)."""

    description = "moto"

    def __init__(self, stack: Stack, drain: bool = False) -> None:
        self.stack = stack
        self.drain = drain
        self.settings = Settings.from_env()
        self.store = Store(stack.table)
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        from qrie.handlers.job_handler import lambda_handler

        quiet_handler_output()  # as LocalTarget: the handlers log to this command's stderr
        self.events.append(event)
        with contextlib.redirect_stdout(sys.stderr):
            response = dict(lambda_handler(event, LambdaContext("JobHandlerFunction", 120)))
        if self.drain and "job_id" in response and "error" not in response:
            drain(self.stack)
        return response

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def runner_for(target: Target) -> Run:
    """``run("jobs", "list", "--json")``: the CLI against ``target``."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli.app, list(args))

    return invoke


def drain(stack: Stack) -> None:
    """Deliver every queued task to its worker, as Lambda's event source mappings do."""
    from qrie.handlers import inventory_worker, scan_worker

    quiet_handler_output()
    for url, handler in (
        (stack.inventory_queue, inventory_worker.lambda_handler),
        (stack.scan_queue, scan_worker.lambda_handler),
    ):
        for _ in pump(url, handler):
            pass


def flat(text: str) -> str:
    """Output without rich's box drawing and line wrapping, for substring checks."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─┃━]", " ", text))


def as_json(result: Result) -> Any:
    assert result.stdout, result.output
    return json.loads(result.stdout)


def register(run: Run, *accounts: str) -> None:
    for account in accounts:
        assert run("accounts", "add", account).exit_code == 0


def put_findings(stack: Stack, findings: Iterable[Finding]) -> None:
    """Store findings directly (as a scan would), e.g. with evidence no policy writes."""
    Store(stack.table).put_findings(list(findings))


def finding(
    account: str,
    policy: str = "s3.versioning",
    arn: str = "arn:aws:s3:::qrie-bucket",
    evidence: str = "versioning is not enabled",
    severity: Severity = Severity.MEDIUM,
    last_seen: str = "2025-01-02T03:04:05.000000Z",
) -> Finding:
    return Finding(
        account_id=account,
        policy_id=policy,
        arn=arn,
        state=FindingState.OPEN,
        severity=severity,
        title=policy,
        evidence=evidence,
        resource_type="s3.bucket",
        scope="global",
        region="us-east-1",
        service=policy.split(".", 1)[0],
        first_seen=last_seen,
        last_seen=last_seen,
    )


SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# maps keyed by data, not by the vocabulary: account ids, policy ids, services, severities, tags,
# the template's output names, task states
DATA_KEYED = frozenset(
    {
        "by_account",
        "by_policy",
        "by_service",
        "by_severity",
        "tags",
        "org_statuses",
        "outputs",
        "task_counts",
        "resources",
        "non_compliant",
        "expected_by_service",
        "requests",  # a job's or a task's usage: requests by service (and operation)
        "requests_by_service",
    }
)


def non_snake_keys(document: Any, path: str = "$", keyed_by_data: bool = False) -> list[str]:
    """Every key of ``document`` that is not snake_case (the keys of maps keyed by data are
    not vocabulary; their values are checked)."""
    bad: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if not keyed_by_data and not SNAKE_CASE.match(str(key)):
                bad.append(f"{path}.{key}")
            bad.extend(non_snake_keys(value, f"{path}.{key}", str(key) in DATA_KEYED))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            bad.extend(non_snake_keys(value, f"{path}[{index}]"))
    return bad
