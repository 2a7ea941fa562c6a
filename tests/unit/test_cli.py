"""The qrie CLI: --json outputs parse, exit codes (0 ok, 1 job with errors or refused, 2 usage
error), messages of bad arguments, and the deployed-stack target.

The commands run against qrie's table and queues on moto (the ``stack`` fixture) through a
target whose job handler is the real ``lambda_handler``; queued tasks are delivered to the real
worker handlers with ``tests.support.pump``.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from qrie.domain import Job, JobStatus, TaskKind
from qrie.policies.registry import all_policies
from qrie_cli import main as cli
from qrie_cli import watch
from qrie_cli.output import Output
from qrie_cli.target import DeployedTarget, TargetError
from tests.support import REGION, Stack, onboard
from tests.unit.cli_support import MotoTarget, Run, as_json, drain, flat, non_snake_keys, register

ONBOARDED = "210000000001"
NO_ROLE = "210000000002"


# ---------------------------------------------------------------------------- --json parses
def test_accounts_add_list_and_remove_as_json(run: Run) -> None:
    # GIVEN an account added with a name and tags
    added = run("accounts", "add", ONBOARDED, "--name", "prod", "--tag", "team=sec", "--json")
    assert added.exit_code == 0, added.output
    assert as_json(added)["tags"] == {"team": "sec"}

    # WHEN the accounts are listed as JSON
    listed = run("accounts", "list", "--json")

    # THEN the output parses and holds the account
    assert listed.exit_code == 0
    assert as_json(listed) == [
        {
            "account_id": ONBOARDED,
            "name": "prod",
            "status": "ACTIVE",
            "source": "manual",
            "tags": {"team": "sec"},
            "added_at": as_json(listed)[0]["added_at"],
            "updated_at": as_json(listed)[0]["updated_at"],
        }
    ]
    # AND removing it twice succeeds once, then says it is not registered (exit 1)
    assert run("accounts", "remove", ONBOARDED).exit_code == 0
    again = run("accounts", "remove", ONBOARDED)
    assert again.exit_code == 1
    assert "not registered" in again.output


def test_policies_list_as_json_and_as_a_table(run: Run) -> None:
    # WHEN the policies are listed
    result = run("policies", "list", "--json")
    # THEN every registered policy is there with id, severity, CIS ids and title
    assert result.exit_code == 0
    policies = as_json(result)
    assert {p["id"] for p in policies} == set(all_policies())
    assert all({"id", "severity", "cis", "title"} <= set(p) for p in policies)
    table = run("policies", "list", "--service", "s3")
    assert table.exit_code == 0
    assert "s3." in table.stdout
    assert "iam." not in table.stdout


def test_inventory_start_and_jobs_list_as_json(run: Run) -> None:
    # GIVEN two registered accounts
    register(run, ONBOARDED, NO_ROLE)

    # WHEN an S3 inventory starts over every account
    started = run("inventory", "start", "--service", "s3", "--json")

    # THEN the job handler's answer is printed as JSON
    assert started.exit_code == 0, started.output
    response = as_json(started)
    assert response["total_tasks"] == 2
    assert response["total_accounts"] == 2
    # AND the job is listed, running
    jobs = as_json(run("jobs", "list", "--json"))
    assert [j["job_id"] for j in jobs] == [response["job_id"]]
    assert jobs[0]["status"] == "IN_PROGRESS"
    # AND inventory status says in_progress with the job
    status = as_json(run("inventory", "status", "--json"))
    assert status["status"] == "in_progress"
    assert [j["job_id"] for j in status["jobs"]] == [response["job_id"]]


def test_inventory_status_is_idle_without_running_jobs(run: Run) -> None:
    # GIVEN no job  WHEN the status is asked  THEN idle (exit 0)
    result = run("inventory", "status")
    assert result.exit_code == 0
    assert result.stdout.strip() == "idle"
    assert as_json(run("inventory", "status", "--json")) == {"status": "idle", "jobs": []}


# ---------------------------------------------------------------------------- exit codes
def test_a_job_that_finished_with_errors_exits_1_with_the_failure_table(
    run: Run, stack: Stack
) -> None:
    # GIVEN one onboarded account and one whose role cannot be assumed
    onboard([ONBOARDED])
    register(run, ONBOARDED, NO_ROLE)
    job_id = as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"]

    # WHEN the workers drain the queue and the job is watched without a live bar
    drain(stack)
    watched = run("jobs", "watch", job_id, "--no-progress")

    # THEN it exits 1, printed its progress line and a failure table naming the account and
    # the reason
    assert watched.exit_code == 1, watched.output
    text = flat(watched.stdout)
    assert f"{job_id}: 2/2 done, 1 failed" in text
    assert "COMPLETED_WITH_ERRORS" in text
    assert NO_ROLE in text
    assert "AccessDenied" in text
    # AND the result line counts the tasks, and the failure table names the failed task
    assert "1 succeeded, 1 failed of 2 tasks over 2 accounts" in text
    assert "inventory/s3" in text
    # AND --json prints only the final job with its failed tasks
    final = run("jobs", "watch", job_id, "--json")
    assert final.exit_code == 1
    data = as_json(final)
    assert data["job"]["status"] == "COMPLETED_WITH_ERRORS"
    assert [t["account_id"] for t in data["failed_tasks"]] == [NO_ROLE]
    # AND jobs show lists the task states
    shown = as_json(run("jobs", "show", job_id, "--json"))
    assert shown["task_counts"] == {"SUCCEEDED": 1, "FAILED": 1}
    assert {t["account_id"]: t["status"] for t in shown["tasks"]} == {
        ONBOARDED: "SUCCEEDED",
        NO_ROLE: "FAILED",
    }


def test_a_completed_job_exits_0_and_findings_are_listed(run: Run, stack: Stack) -> None:
    # GIVEN an onboarded account with an unencrypted, unversioned bucket
    onboard([ONBOARDED])
    register(run, ONBOARDED)
    from qrie_local.members import member_session

    member_session(ONBOARDED).client("s3").create_bucket(Bucket="qrie-cli-test-bucket")

    # WHEN an inventory then a scan of the S3 policies run and are watched
    inventory = as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"]
    drain(stack)
    assert run("jobs", "watch", inventory, "--no-progress").exit_code == 0
    scan = as_json(run("scan", "start", "--policy", "s3.*", "--json"))["job_id"]
    drain(stack)
    watched = run("jobs", "watch", scan, "--json")

    # THEN the scan completed (exit 0)
    assert watched.exit_code == 0, watched.output
    assert as_json(watched)["job"]["status"] == "COMPLETED"
    # AND its findings parse as JSON, filtered by account and policy
    findings = as_json(run("findings", "list", "--account", ONBOARDED, "--json"))
    assert findings
    assert {f["account_id"] for f in findings} == {ONBOARDED}
    # (the bucket, and the account's S3 settings: no trail logs its S3 object events)
    assert {f["resource_arn"] for f in findings} == {
        "arn:aws:s3:::qrie-cli-test-bucket",
        f"arn:aws:s3::{ONBOARDED}:account",
    }
    only = as_json(run("findings", "list", "--policy", "s3.versioning", "--json"))
    assert {f["policy_id"] for f in only} == {"s3.versioning"}
    by_service = as_json(run("findings", "list", "--policy", "s3.*", "--limit", "0", "--json"))
    assert len(by_service) == len(findings)
    # AND the summary counts them
    summary = as_json(run("findings", "summary", "--json"))
    assert summary["open"] == len(findings)
    assert summary["by_account"][ONBOARDED]["open"] == len(findings)
    # AND the CSV export streams one row per finding after the header
    csv_out = run("findings", "export", "--format", "csv")
    assert csv_out.exit_code == 0
    assert len(csv_out.stdout.strip().splitlines()) == len(findings) + 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("inventory", "start", "--service", "nope"), "choose from s3, ec2, iam, all"),
        (("inventory", "start", "--accounts", "123"), "account ids must be 12 digits: '123'"),
        (("scan", "start", "--policy", "nope"), "unknown policy 'nope'; valid: *, ec2.*"),
        (("findings", "list", "--severity", "urgent"), "choose from critical, high, medium, low"),
        (("findings", "list", "--state", "closed"), "choose from open, muted, resolved, all"),
        (("findings", "list", "--account", "12345"), "account id must be 12 digits"),
        (("accounts", "add", "1234"), "account id must be 12 digits"),
        (("accounts", "add", "123456789012", "--tag", "novalue"), "expected key=value"),
        (("jobs", "watch", "not-a-job"), "malformed job id 'not-a-job'"),
        (("jobs", "list", "--limit", "0"), "--limit"),
    ],
)
def test_a_bad_argument_exits_2_naming_the_problem_and_the_choices(
    run: Run, args: tuple[str, ...], expected: str
) -> None:
    # GIVEN a bad argument  WHEN the command runs
    result = run(*args)
    # THEN it exits 2 and says what is wrong and what is valid
    assert result.exit_code == 2, result.output
    assert expected in flat(result.output)


def test_a_refused_request_exits_2_with_the_handlers_message(run: Run) -> None:
    # GIVEN no registered account
    # WHEN an inventory over every account starts
    result = run("inventory", "start", "--json")
    # THEN the job handler's ValidationError is surfaced, as JSON and on stderr, with exit 2
    # (refused: nothing was done)
    assert result.exit_code == 2
    assert as_json(result) == {
        "error": {
            "code": "ValidationError",
            "message": 'accounts: "*" matched no ACTIVE registered account; '
            "register accounts first",
            "field": "accounts",
        }
    }
    assert "matched no ACTIVE registered account" in flat(result.stderr)
    # AND an unknown job is not found (exit 1), by cancel, retry, show and watch alike
    for command in ("cancel", "retry", "show", "watch"):
        unknown = run("jobs", command, "inv-all-20250101T000000Z-abcdef", "--json")
        assert unknown.exit_code == 1, command
        assert as_json(unknown)["error"]["code"] == "NotFound"
        assert "unknown job" in flat(unknown.stderr)


def test_without_a_target_the_cli_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN no local stack in the state directory and no --stack-name
    monkeypatch.setenv("QRIE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("QRIE_STACK_NAME", raising=False)
    # WHEN a command needs a stack
    result = CliRunner().invoke(cli.app, ["jobs", "list"])
    # THEN it exits 2 and names both ways out
    assert result.exit_code == 2
    assert "qrie local up" in result.stderr
    assert "--stack-name" in result.stderr
    insist = CliRunner().invoke(cli.app, ["jobs", "list", "--local", "--json"])
    assert insist.exit_code == 2
    assert "no local stack is running" in as_json(insist)["error"]["message"]


# ---------------------------------------------------------------------------- accounts sync
def test_accounts_sync_from_organizations(run: Run) -> None:
    # GIVEN an organization with three members, one closed (SUSPENDED)
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    members = [
        org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")["CreateAccountStatus"][
            "AccountId"
        ]
        for i in range(3)
    ]
    org.close_account(AccountId=members[1])
    register(run, "999988887777")

    # WHEN the registry is synced
    result = run("accounts", "sync", "--json")

    # THEN the report parses: 4 accounts seen, the closed one suspended, the account outside
    # the organization reported and kept
    assert result.exit_code == 0, result.output
    report = as_json(result)
    assert report["seen"] == 4
    assert report["suspended"] == [members[1]]
    assert report["not_in_org"] == ["999988887777"]
    statuses = {a["account_id"]: a["status"] for a in as_json(run("accounts", "list", "--json"))}
    assert statuses[members[1]] == "SUSPENDED"
    assert statuses[members[0]] == "ACTIVE"
    assert statuses["999988887777"] == "ACTIVE"
    # AND the human report names the suspended account
    text = flat(run("accounts", "sync").stdout)
    assert "1 suspended" in text
    assert members[1] in text


# ---------------------------------------------------------------------------- deployed target
def test_deployed_target_reads_outputs_and_surfaces_function_errors(stack: Stack) -> None:
    # GIVEN a deployed stack whose outputs name the table and the job handler
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TableName": {"Value": stack.table},
            "JobHandlerFunctionName": {"Value": "qrie-prod-JobHandler"},
            "InventoryQueueUrl": {"Value": stack.inventory_queue},
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="qrie-prod", TemplateBody=json.dumps(template)
    )

    # WHEN the CLI targets it
    target = DeployedTarget("qrie-prod", REGION)

    # THEN the names come from the outputs
    assert target.function_name == "qrie-prod-JobHandler"
    assert target.store.table_name == stack.table
    assert target.settings.inventory_queue_url == stack.inventory_queue

    # AND a response is parsed, and a function error is reported with its type and message
    class FakeLambda:
        def __init__(self, payload: dict[str, Any], error: str | None = None) -> None:
            self.payload, self.error = payload, error
            self.calls: list[dict[str, Any]] = []

        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.payload).encode())}
            if self.error:
                response["FunctionError"] = self.error
            return response

    ok = FakeLambda({"jobs": []})
    target._lambda = ok
    assert target.invoke({"operation": "list"}) == {"jobs": []}
    assert ok.calls[0]["FunctionName"] == "qrie-prod-JobHandler"
    assert json.loads(ok.calls[0]["Payload"]) == {"operation": "list"}
    target._lambda = FakeLambda(
        {"errorType": "ConfigurationError", "errorMessage": "TABLE_NAME is not set"}, "Unhandled"
    )
    with pytest.raises(TargetError, match="ConfigurationError: TABLE_NAME is not set"):
        target.invoke({"operation": "list"})


def test_an_unknown_stack_name_exits_2(stack: Stack) -> None:
    # GIVEN no CloudFormation stack named qrie-nope
    # WHEN a command targets it
    result = CliRunner().invoke(
        cli.app, ["jobs", "list", "--stack-name", "qrie-nope", "--region", REGION]
    )
    # THEN it exits 2 saying the stack does not exist
    assert result.exit_code == 2
    assert "qrie-nope" in result.stderr
    assert "does not exist" in result.stderr


# ---------------------------------------------------------------------------- watching
def test_watch_reports_rate_and_eta_from_the_counters() -> None:
    # GIVEN a job whose counters move 0 -> 4 -> 10 of 10 while the clock advances 1 s per poll
    states = [
        Job("j", TaskKind.INVENTORY, JobStatus.IN_PROGRESS, 10, 0, 0, 10),
        Job("j", TaskKind.INVENTORY, JobStatus.IN_PROGRESS, 10, 3, 1, 6),
        Job("j", TaskKind.INVENTORY, JobStatus.COMPLETED_WITH_ERRORS, 10, 8, 2, 0),
    ]

    class Jobs:
        def get_job(self, job_id: str) -> Job:
            return states.pop(0) if len(states) > 1 else states[0]

    ticks = iter(range(100))
    out = Output(json=False, progress=False)
    captured = io.StringIO()

    # WHEN it is watched without a live bar
    with contextlib.redirect_stdout(captured):
        job = watch.watch_job(
            Jobs(),  # type: ignore[arg-type]
            "j",
            out,
            clock=lambda: float(next(ticks)),
            sleep=lambda _s: None,
        )

    # THEN one line per change with done/total, failed, rate and ETA, ending at the final state
    lines = captured.getvalue().splitlines()
    assert lines[1] == "j: 4/10 done, 1 failed, 2.0 tasks/s, ETA 00:03 [IN_PROGRESS]"
    assert lines[-1].endswith(
        "10/10 done, 2 failed, 3.3 tasks/s, ETA 00:00 [COMPLETED_WITH_ERRORS]"
    )
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    assert watch.exit_code_of("COMPLETED") == 0
    assert {watch.exit_code_of(s) for s in ("COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED")} == {1}


def test_the_live_bar_ends_on_the_final_counters() -> None:
    # GIVEN a job that is already final
    final = Job("j", TaskKind.INVENTORY, JobStatus.COMPLETED, 6, 6, 0, 0)

    class Jobs:
        def get_job(self, job_id: str) -> Job:
            return final

    captured = io.StringIO()
    # WHEN it is watched with the live bar (rich draws its last frame on a non-terminal)
    with contextlib.redirect_stdout(captured):
        watch.watch_job(Jobs(), "j", Output())  # type: ignore[arg-type]
    # THEN the bar shows done/total and the failed count
    text = captured.getvalue()
    assert "6/6" in text
    assert "0 failed" in text


def test_the_demo_checks_the_inventory_against_the_seed() -> None:
    from qrie_cli.demo import resources_check

    # GIVEN two seeded accounts, one of them unassumable, and what the inventory found
    seeded = {"resources": {"1": {"s3": 2, "iam": 1}, "2": {"s3": 5, "iam": 3}}}
    found = {"by_account": {"1": {"s3": 2, "iam": 0}, "2": {"s3": 0, "iam": 0}}}
    # WHEN they are compared
    check = resources_check(seeded, found, unassumable=["2"])
    # THEN only the reachable account counts, and its IAM difference is reported
    assert check["expected_by_service"]["s3"] == 2
    assert check["match"] is False
    assert check["mismatches"] == [{"account": "1", "service": "iam", "seeded": 1, "found": 0}]


# ---------------------------------------------------------------------------- one vocabulary
def test_every_json_output_speaks_snake_case(
    run: Run, stack: Stack, moto_target: MotoTarget, tmp_path: Path
) -> None:
    # GIVEN an organization member, an onboarded account and one whose role cannot be assumed
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    org.create_account(AccountName="m", Email="m@example.com")
    onboard([ONBOARDED])
    documents: list[tuple[str, Any]] = []

    def record(*args: str) -> Any:
        result = run(*args, "--json")
        assert result.stdout, (args, result.output)
        documents.append((" ".join(args), json.loads(result.stdout)))
        return documents[-1][1]

    # WHEN every command that prints JSON runs
    record("accounts", "add", ONBOARDED, "--name", "prod", "--tag", "team=sec")
    record("accounts", "add", NO_ROLE)
    record("accounts", "sync", "--dry-run")
    record("accounts", "list")
    running = record("inventory", "start", "--service", "s3")["job_id"]
    record("inventory", "status")
    record("scan", "status")
    record("jobs", "cancel", running)
    moto_target.drain = True
    inventory = record("inventory", "start", "--service", "s3", "--watch")["job"]["job_id"]
    record("scan", "start", "--policy", "s3.*", "--refresh", "--watch")
    record("jobs", "list")
    record("jobs", "show", inventory)
    record("jobs", "watch", inventory)
    record("jobs", "retry", inventory)
    record("findings", "list", "--state", "all")
    record("findings", "summary")
    record("findings", "export", "--output", str(tmp_path / "f.json"))
    record("policies", "list")
    record("local", "status", "--state-dir", str(tmp_path))
    record("accounts", "remove", NO_ROLE)
    record("findings", "list", "--severity", "nope")  # a usage error
    record("jobs", "cancel", running)  # a refusal
    # THEN every key is snake_case (maps keyed by account, policy, service … excepted)
    assert len(documents) == 22
    assert [(cmd, bad) for cmd, doc in documents if (bad := non_snake_keys(doc))] == []
    # AND they speak the records' vocabulary, errors included
    by_command = dict(documents)
    assert by_command["jobs list"][0]["job_id"]
    assert by_command[f"jobs show {inventory}"]["tasks"][0]["account_id"]
    assert {doc["error"]["code"] for _, doc in documents[-2:]} == {"UsageError", "ValidationError"}


# ---------------------------------------------------------------------------- unregistered ids
def test_allow_unregistered_is_sent_only_when_asked(run: Run, moto_target: MotoTarget) -> None:
    # GIVEN a registered account
    register(run, ONBOARDED)
    # WHEN jobs start over it with and without --allow-unregistered
    run("inventory", "start", "--accounts", ONBOARDED, "--json")
    run("scan", "start", "--accounts", ONBOARDED, "--json")
    run("inventory", "start", "--accounts", ONBOARDED, "--allow-unregistered", "--json")
    run("scan", "start", "--accounts", ONBOARDED, "--allow-unregistered", "--json")
    # THEN the request carries allow_unregistered only when the flag was given
    starts = [e for e in moto_target.events if e["operation"] in {"inventory", "scan"}]
    assert [e.get("allow_unregistered") for e in starts] == [None, None, True, True]
    assert all(e["accounts"] == [ONBOARDED] for e in starts)


@pytest.mark.parametrize("command", ["inventory", "scan"])
def test_a_typo_in_an_account_id_is_refused_before_any_work(run: Run, command: str) -> None:
    # GIVEN one registered account
    register(run, ONBOARDED)
    # WHEN a job starts over it and an id that is not registered (a typo)
    result = run(command, "start", "--accounts", f"{ONBOARDED},999999999999")
    # THEN it is refused (exit 2), naming the unknown id and how to go on
    assert result.exit_code == 2, result.output
    text = flat(result.stderr)
    assert "999999999999" in text
    assert ONBOARDED not in text.split("999999999999")[0].split("refused:")[-1]
    assert "--allow-unregistered" in text
    # AND as JSON the handler's refusal names the field
    refused = as_json(run(command, "start", "--accounts", "999999999999", "--json"))
    assert refused["error"]["field"] == "accounts"
    assert "999999999999" in refused["error"]["message"]
    # AND no job was started
    assert as_json(run("jobs", "list", "--json")) == []


def test_allow_unregistered_runs_an_unregistered_account(run: Run) -> None:
    # GIVEN no registered account
    # WHEN an inventory starts over an unregistered id, explicitly allowed
    result = run(
        "inventory", "start", "--accounts", "999999999999", "--allow-unregistered", "--json"
    )
    # THEN the job starts over it
    assert result.exit_code == 0, result.output
    assert as_json(result)["total_accounts"] == 1


def watch_stalled(stuck_polls: int, hint: Callable[[], str | None]) -> str:
    """What watching prints for a job stuck at 3/10 for ``stuck_polls`` polls of 1 s, then done,
    with ``hint`` as the target's answer to why it might not progress."""
    states = [Job("j", TaskKind.INVENTORY, JobStatus.IN_PROGRESS, 10, 3, 0, 7)] * stuck_polls
    states.append(Job("j", TaskKind.INVENTORY, JobStatus.COMPLETED, 10, 10, 0, 0))

    class Jobs:
        def get_job(self, job_id: str) -> Job:
            return states.pop(0) if len(states) > 1 else states[0]

    ticks = iter(range(1000))
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        watch.watch_job(
            Jobs(),  # type: ignore[arg-type]
            "j",
            Output(json=False, progress=False),
            clock=lambda: float(next(ticks)),
            sleep=lambda _s: None,
            stalled=hint,
        )
    return captured.getvalue()


def test_watch_asks_about_the_runner_once_when_a_job_stalls() -> None:
    # GIVEN a job stuck for 40 s, and a target whose runner is down
    # WHEN it is watched
    printed = watch_stalled(40, lambda: "is the runner running? (`qrie local status`)")
    # THEN after 30 s without progress it says so, once, with the target's hint
    hints = [line for line in printed.splitlines() if "no progress" in line]
    assert hints == ["no progress for 30 s — is the runner running? (`qrie local status`)"]


def test_watch_says_nothing_of_a_stall_the_target_explains_away() -> None:
    # GIVEN a job stuck for 60 s while its runner runs (the target's hint answers None)
    # WHEN it is watched THEN no stall line is printed
    assert "no progress" not in watch_stalled(60, lambda: None)


def test_jobs_show_prints_the_jobs_aws_cost_by_part(run: Run, stack: Stack) -> None:
    # GIVEN an inventory job of one onboarded account, run to its end
    onboard([ONBOARDED])
    register(run, ONBOARDED)
    job_id = as_json(run("inventory", "start", "--service", "s3", "--json"))["job_id"]
    drain(stack)
    # WHEN it is shown as JSON and as a table
    data = as_json(run("jobs", "show", job_id, "--json"))
    table = run("jobs", "show", job_id)
    # THEN the JSON carries its measured usage and its cost by part, priced for us-east-1 arm64
    usage = data["job"]["usage"]
    assert usage["tasks"] == 1
    assert usage["invocations"] == pytest.approx(2.0)  # the job handler's and one batch's
    assert usage["requests_by_service"]["sqs"] >= 3  # a send, a receive, a delete
    priced = data["cost"]
    assert set(priced["parts"]) == {"lambda_compute", "lambda_requests", "sqs", "dynamodb"}
    assert priced["total"] == pytest.approx(sum(priced["parts"].values()))
    assert priced["parts"]["dynamodb"] > 0
    assert priced["prices"]["architecture"] == "arm64"
    # AND the table shows the same parts
    assert table.exit_code == 0, table.output
    text = flat(table.stdout)
    for label in ("Lambda compute", "Lambda requests", "SQS", "DynamoDB", "1 tasks measured"):
        assert label in text
