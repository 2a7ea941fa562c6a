"""Every sample event in events/ replayed through the handler template.yaml names for it, with
the function's environment read from the template, so events, template and code cannot drift."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from qrie.config import VARIABLES
from qrie.domain import Account, Coverage, Job, JobStatus, TaskKey, TaskKind, TaskStatus
from qrie.handlers.runtime import runtime
from qrie_local.events import LambdaContext
from qrie_local.template import load_template
from tests.support import EXTERNAL_ID, Stack, onboard

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
EVENTS = sorted((ROOT / "events").glob("*/*.json"))
INVENTORY_JOB = "inv-s3-20261129T143022Z-a1b2c3"
SCAN_JOB = "scan-s3-20261129T143522Z-d4e5f6"
SAMPLE_ACCOUNTS = ["111111111111", "222222222222"]


def function_props(logical_id: str) -> dict[str, Any]:
    resource = TEMPLATE["Resources"][logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    merged: dict[str, Any] = dict(TEMPLATE.get("Globals", {}).get("Function", {}))
    props = resource["Properties"]
    merged.update({k: v for k, v in props.items() if k != "Environment"})
    variables = dict(merged.get("Environment", {}).get("Variables", {}))
    variables.update(props.get("Environment", {}).get("Variables", {}))
    merged["Environment"] = {"Variables": variables}
    return merged


def resolve(value: Any, stack: Stack) -> str:
    """The template's environment values: literals, Refs to its resources and parameters, or
    an Fn::If on a condition that compares a parameter (default values)."""
    if isinstance(value, str | int):
        return str(value)
    if "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        left, right = TEMPLATE["Conditions"][condition]["Fn::Equals"]
        taken = resolve(left, stack) == resolve(right, stack)
        return resolve(when_true if taken else when_false, stack)
    ref = value["Ref"]
    resources = {
        "QrieTable": stack.table,
        "InventoryQueue": stack.inventory_queue,
        "ScanQueue": stack.scan_queue,
        "DeadLetterQueue": stack.dlq,
    }
    if ref in resources:
        return resources[ref]
    if ref == "ExternalId":
        return EXTERNAL_ID
    return str(TEMPLATE["Parameters"][ref]["Default"])


def invoke(path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler with its template environment and no other setting: what it reads but the
    template does not give it would be missing here, as on AWS."""
    props = function_props(path.parent.name)
    variables = props["Environment"]["Variables"]
    for name in set(VARIABLES) - set(variables):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, resolve(value, stack))
    if "REGIONS" in variables:
        monkeypatch.setenv("REGIONS", "us-east-1")  # what the moto accounts are seeded in
    module_name, function = props["Handler"].rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function)
    context = LambdaContext(path.parent.name, int(props["Timeout"]))
    return handler(json.loads(path.read_text()), context)


def seed_sample_jobs() -> None:
    """The jobs the sample SQS and status events refer to, and their accounts."""
    store = runtime().store
    store.put_accounts(Account(a) for a in SAMPLE_ACCOUNTS)
    onboard(SAMPLE_ACCOUNTS[:1])  # the second account never deployed the member role
    for job_id, kind in ((INVENTORY_JOB, "inventory"), (SCAN_JOB, "scan")):
        store.create_job(
            Job(
                job_id=job_id,
                operation=TaskKind(kind),
                status=JobStatus.IN_PROGRESS,
                total=2,
                remaining=2,
                created_at="2026-11-29T14:30:22.000000Z",
                deadline=4_102_444_800,
            ),
            [TaskKey(a, TaskKind(kind), "s3") for a in SAMPLE_ACCOUNTS],
        )
    # the scan sample's accounts were inventoried before (a scan needs that evidence)
    for account in SAMPLE_ACCOUNTS:
        store.record_coverage(
            Coverage(
                account, TaskKind.INVENTORY, "s3", "inv-earlier", "2026-11-29T14:00:00.000000Z"
            )
        )


def check(name: str, response: Any) -> None:
    store = runtime().store
    if name.startswith("JobHandlerFunction/invalid"):
        assert response["error"]["code"] == "ValidationError"
        assert response["error"]["field"] in {"accounts", "operation"}
    elif name == "JobHandlerFunction/status.json":
        assert response["job"]["job_id"] == INVENTORY_JOB
        assert response["task_counts"] == {"PENDING": 2}
    elif name == "JobHandlerFunction/list.json":
        assert {j["job_id"] for j in response["jobs"]} == {INVENTORY_JOB, SCAN_JOB}
    elif name.startswith("JobHandlerFunction/"):
        job = json.loads((ROOT / "events" / name).read_text())
        services = 3 if job.get("service") == "*" or job.get("policy") == "*" else 1
        stages = 2 if job.get("refresh") else 1
        assert response["total_tasks"] == len(SAMPLE_ACCOUNTS) * services * stages
        assert response["status"] == JobStatus.IN_PROGRESS
    elif name == "InventoryWorkerFunction/sqs-batch.json":
        assert response == {"batchItemFailures": []}
        done = {t.key: t for t in store.iter_tasks(INVENTORY_JOB)}
        ok, denied = (done[TaskKey(a, TaskKind.INVENTORY, "s3")] for a in SAMPLE_ACCOUNTS)
        assert ok.status == TaskStatus.SUCCEEDED
        assert denied.status == TaskStatus.FAILED
        assert "AccessDenied" in denied.reason
    elif name == "InventoryWorkerFunction/sqs-malformed.json":
        assert response == {"batchItemFailures": []}
        assert "malformed task message" in store.bad_messages()[0].error
    elif name == "ScanWorkerFunction/sqs-batch.json":
        assert response == {"batchItemFailures": []}
        job = store.get_job(SCAN_JOB)
        assert job is not None
        assert (job.succeeded, job.status) == (2, JobStatus.COMPLETED)
    elif name == "PollingServiceFunction/schedule.json":
        assert response["running"] == 2
        assert response["finalized"] == []
    else:  # pragma: no cover - a new sample event needs its expectation here
        pytest.fail(f"no expectation for {name}")


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_event_replays_through_its_template_handler(
    path: Path, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the jobs and accounts the sample events refer to
    seed_sample_jobs()
    # WHEN the event goes through the handler the template names, with its environment
    response = invoke(path, stack, monkeypatch)
    # THEN the handler answers as that event's case requires
    check(f"{path.parent.name}/{path.name}", response)


def test_every_function_has_sample_events_and_every_folder_a_function() -> None:
    functions = {
        name
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert {p.parent.name for p in EVENTS} == functions


def test_max_receive_count_matches_the_redrive_policy() -> None:
    for function, queue in (
        ("InventoryWorkerFunction", "InventoryQueue"),
        ("ScanWorkerFunction", "ScanQueue"),
    ):
        env = function_props(function)["Environment"]["Variables"]
        redrive = TEMPLATE["Resources"][queue]["Properties"]["RedrivePolicy"]
        assert int(env["MAX_RECEIVE_COUNT"]) == int(redrive["maxReceiveCount"])
