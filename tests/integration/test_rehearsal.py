"""The deploy rehearsal's deploy-and-drive core (qrie_local.rehearsal): the real ``sam deploy``
onto the local AWS, the runner attached to what was deployed, and the README's
``qrie --stack-name`` commands against an organization of member accounts, once for the module;
the tests then read what the rehearsal left running.

``sam build`` is left to ``make rehearse``: it installs the functions' dependencies for
python3.13 on arm64 (about a minute, several under load), and the runner takes dependencies
from this interpreter anyway. Without it ``sam deploy`` packages the template's code folders as
they are: the same stack, the functions' own code in their packages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qrie.domain import JobStatus
from qrie.store.table import Store
from qrie_cli.target import REQUIRED_OUTPUTS
from qrie_local.identity import local_client
from qrie_local.rehearsal import STACK_NAME, Rehearsal

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = 2  # members; the hub (the organization's management account) is onboarded too
SERVICES = 3
WORKERS = ("InventoryWorkerFunction", "ScanWorkerFunction")
QUEUE_VARIABLES = {
    "INVENTORY_QUEUE_URL": "InventoryQueueUrl",
    "SCAN_QUEUE_URL": "ScanQueueUrl",
    "DLQ_URL": "DeadLetterQueueUrl",
}


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    state_dir = tmp_path_factory.mktemp("rehearsal")
    with (state_dir / "rehearsal.log").open("w", encoding="utf-8") as log:
        rehearsal = Rehearsal(project=ROOT, state_dir=state_dir, accounts=ACCOUNTS, out=log)
        try:
            rehearsal.start()
            rehearsal.deploy()
            rehearsal.attach()
            rehearsal.member_accounts()
            rehearsal.drive()
            yield rehearsal
        finally:
            rehearsal.stop()


def client(rehearsal: Rehearsal, service: str) -> Any:
    assert rehearsal.stack is not None
    return local_client(service, rehearsal.stack.endpoint, rehearsal.stack.region)


def test_sam_deploy_made_a_complete_stack_with_the_outputs_the_cli_reads(
    rehearsed: Rehearsal,
) -> None:
    [stack] = client(rehearsed, "cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert set(REQUIRED_OUTPUTS) <= set(outputs)
    assert outputs == rehearsed.report.outputs
    table = client(rehearsed, "dynamodb").describe_table(TableName=outputs["TableName"])
    assert table["Table"]["TableStatus"] == "ACTIVE"


def test_the_runner_runs_the_deployed_functions_as_lambda_has_them(rehearsed: Rehearsal) -> None:
    assert rehearsed.stack is not None
    outputs = rehearsed.stack.outputs
    functions = rehearsed.stack.functions
    assert set(functions) == {"JobHandlerFunction", *WORKERS, "PollingServiceFunction"}
    lam = client(rehearsed, "lambda")
    for logical_id, spec in functions.items():
        # the deployed function, its configuration as Lambda answers it
        assert spec.function_name == outputs[f"{logical_id.removesuffix('Function')}FunctionName"]
        config = lam.get_function_configuration(FunctionName=spec.function_name)
        assert (spec.handler, spec.timeout, spec.memory) == (
            config["Handler"],
            config["Timeout"],
            config["MemorySize"],
        )
        assert spec.environment == config["Environment"]["Variables"]
        # the environment names what the stack made
        assert spec.environment["TABLE_NAME"] == outputs["TableName"]
        for variable, output in QUEUE_VARIABLES.items():
            if variable in spec.environment:
                assert spec.environment[variable] == outputs[output]
        # its code is its deployment package's
        module = spec.handler.rsplit(".", 1)[0].replace(".", "/")
        assert (Path(spec.code_dir) / f"{module}.py").is_file()


def test_the_workers_event_sources_are_the_deployed_mappings(rehearsed: Rehearsal) -> None:
    assert rehearsed.stack is not None
    sqs = client(rehearsed, "sqs")
    queues = {"InventoryWorkerFunction": "InventoryQueueUrl", "ScanWorkerFunction": "ScanQueueUrl"}
    for worker in WORKERS:
        spec = rehearsed.stack.functions[worker]
        [event] = spec.sqs_events
        attributes = sqs.get_queue_attributes(
            QueueUrl=rehearsed.stack.outputs[queues[worker]], AttributeNames=["All"]
        )["Attributes"]
        assert event.queue_arn == attributes["QueueArn"]
        assert event.reports_batch_item_failures  # the workers answer batchItemFailures
        assert 1 <= event.batch_size <= 10
        assert event.max_concurrency is not None
        assert event.max_concurrency >= 2
        # what the workers' code assumes of their queue
        redrive = json.loads(attributes["RedrivePolicy"])
        assert int(spec.environment["MAX_RECEIVE_COUNT"]) == redrive["maxReceiveCount"]
        assert int(attributes["VisibilityTimeout"]) >= 6 * spec.timeout
    [schedule] = rehearsed.stack.functions["PollingServiceFunction"].schedules
    assert schedule.enabled
    assert schedule.expression.startswith("rate(")


def test_the_readme_commands_succeed_against_the_stack_by_name(rehearsed: Rehearsal) -> None:
    runs = rehearsed.report.commands
    assert [run.command[run.command.index("--stack-name") + 1] for run in runs] == [STACK_NAME] * 4
    assert [run.exit_code for run in runs] == [0, 0, 0, 0], [run.output for run in runs]
    sync, _inventory, _scan, findings = runs
    assert f"synced {ACCOUNTS + 1} accounts from Organizations" in sync.output
    assert "iam.root_mfa" in findings.output  # no member account's root has MFA


def test_the_jobs_ran_through_lambda_invoke_and_the_deployed_workers(
    rehearsed: Rehearsal,
) -> None:
    assert rehearsed.stack is not None
    with rehearsed.stack.apply_env():
        jobs = list(Store(rehearsed.stack.outputs["TableName"]).list_jobs())
    assert sorted(str(job.operation) for job in jobs) == ["inventory", "scan"]
    tasks = (ACCOUNTS + 1) * SERVICES
    for job in jobs:
        assert job.status == JobStatus.COMPLETED, job
        assert (job.total, job.succeeded, job.failed, job.remaining) == (tasks, tasks, 0, 0)
    assert rehearsed._runner is not None
    stats = rehearsed._runner.stats()
    assert stats["JobHandlerFunction"]["invocations"] == 2  # lambda:Invoke from the CLI
    for worker in WORKERS:
        assert stats[worker]["records_deleted"] == tasks
        assert stats[worker]["errors"] == stats[worker]["crashes"] == 0
