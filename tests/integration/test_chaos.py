"""The chaos run of ``make chaos`` (qrie_local.chaos), small and seeded: 6 member accounts, an
inventory job, a scan job and a job cancelled in its middle on the local stack, with transient
bursts and denials in member-account calls, duplicate deliveries, crashes mid-batch and a poison
message that reaches the dead-letter queue; then every invariant (qrie_local.invariants)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrie_local import faults
from qrie_local.chaos import ChaosReport, ChaosSettings, run_chaos
from qrie_local.server import RequestInfo
from qrie_local.sources import Delivery

ROOT = Path(__file__).resolve().parents[2]

# Seed 230 plans, for these 6 accounts: 1 denied and 2 bursting (account, service) pairs in the
# inventory, a poison scan message, 4 duplicates and 2 crashes (scan, first receive). Every
# fault is a hash of the seed and the task, so the run injects them all, every time. The denied
# pair is an account's EC2: it fails that account's EC2 inventory and its IAM inventory, whose
# regions (for IAM Access Analyzer) come from EC2's DescribeRegions.
SMALL = ChaosSettings(
    accounts=6,
    seed=230,
    transient=0.2,
    permanent=0.1,
    duplicates=0.1,
    crashes=0.02,
    poison=0.05,
    burst_throttle_share=0.0,  # 5xx bursts: botocore backs off 50 ms, not 1 s, per attempt
    regions="us-east-1",
    concurrency=4,
    time_scale=0.0005,  # a crashed batch is back after 0.9 s
    schedule_interval=1.0,
    cancel_service="iam",
    via_handler=False,  # jobs start in-process: no execution environment to spawn per job
)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> ChaosReport:
    state_dir = Path(tmp_path_factory.mktemp("chaos"))
    return run_chaos(SMALL, state_dir, ROOT / "template.yaml", log=lambda *_args: None)


def test_every_kind_of_fault_was_injected(chaos: ChaosReport) -> None:
    aws = chaos.injected_aws["counts"]
    runner = chaos.injected_runner["counts"]
    assert aws["burst"] > 0, aws  # transient errors in member-account calls
    assert aws["denied"] > 0, aws  # AccessDenied in member-account calls
    assert runner["duplicates"] > 0, runner
    # crashes mid-batch: the poison message's receives (it reached the dead-letter queue) and
    # the planned crashes (unless a poison message before them in a batch crashed it first)
    crashes = sum(runner.get(k, 0) for k in ("crashes", "crashes_during_record", "poison_crashes"))
    assert crashes >= 3, runner
    assert chaos.injected_runner["poisoned"], chaos.injected_runner
    assert chaos.cancelled_tasks > 0
    stats = chaos.runner
    assert stats["InventoryWorkerFunction"]["crashes"] + stats["ScanWorkerFunction"]["crashes"] > 0


@pytest.mark.parametrize("job", ["inventory", "scan", "cancel"])
def test_job_accounting_held(chaos: ChaosReport, job: str) -> None:
    checks = [c for c in chaos.checks if c.name.startswith(f"{job}:")]
    assert len(checks) >= 4
    broken = [f"{c.name}: {c.detail}" for c in checks if not c.held]
    assert not broken, broken


def test_no_resource_or_finding_lost_or_duplicated(chaos: ChaosReport) -> None:
    checks = [c for c in chaos.checks if c.name.startswith(("inventory: no res", "findings:"))]
    assert len(checks) == 4
    broken = [f"{c.name}: {c.detail}" for c in checks if not c.held]
    assert not broken, broken
    assert chaos.resources > 0
    assert chaos.findings > 0


def test_failures_are_isolated_and_bursts_retried(chaos: ChaosReport) -> None:
    (inventory,) = [j for j in chaos.jobs if j.label == "inventory"]
    (scan,) = [j for j in chaos.jobs if j.label == "scan"]
    # the denied tasks failed at once; each burst cost a redelivery through the backoff (but a
    # duplicate delivery of a bursting task shares its failing calls: it may need none). The
    # redelivery may itself come back once more: the scaled visibility timeout (0.9 s) can be
    # shorter than the batch it is worked on in, accounted when the whole batch is done
    assert inventory.reasons == {"denied": 2}, inventory.reasons
    duplicated = set(chaos.injected_runner["duplicated"])
    bursts = [f"inventory:{t}" for t in chaos.injected_aws["burst_tasks"]]
    alone = [t for t in bursts if t not in duplicated]
    assert bursts, chaos.injected_aws
    retried = sum(n for attempts, n in inventory.attempts.items() if int(attempts) >= 2)
    assert retried >= len(alone), (inventory.attempts, alone)
    assert inventory.status == "COMPLETED_WITH_ERRORS"
    # the poison message was dead-lettered (with any batch-mates its crashes took along)
    assert scan.reasons.get("dead-lettered", 0) >= 1, scan.reasons
    # and every failure is explained by a fault planned against the task; bursts were retried
    checks = [
        c
        for c in chaos.checks
        if c.name.endswith(("without a fault planned against it", "in success", "permanently)"))
    ]
    assert len(checks) == 6
    broken = [f"{c.name}: {c.detail}" for c in checks if not c.held]
    assert not broken, broken


def test_every_invariant_held(chaos: ChaosReport) -> None:
    broken = [f"{c.name}: {c.detail}" for c in chaos.checks if not c.held]
    assert not broken, broken


def message(i: int, receive: int = 1) -> dict[str, object]:
    """A scan task message as ReceiveMessage returns it."""
    body = f'{{"kind": "scan", "account_id": "{200_000_000_000 + i:012d}", "service": "s3"}}'
    return {
        "MessageId": f"m{i}",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": str(receive)},
    }


def test_runner_plans_crashes_duplicates_and_poison() -> None:
    # GIVEN a batch where every kind of runner fault is certain
    batch = [message(i) for i in range(5)]
    crash_all = faults.RunnerFaults(faults.RunnerFaultConfig(seed=1, crash_rate=1.0))
    # WHEN the runner plans it: the first record crashes the invocation before or during it
    plan = crash_all.plan("ScanWorkerFunction", batch)
    assert plan is not None
    assert plan.crash is not None
    assert plan.crash.after_records == 0
    assert plan.reason == "crash"
    # and the records after it lose that receive
    assert sum(crash_all.starved.values()) == 4
    # duplicates only on a first receive, poison on every receive, nothing for other functions
    dup_all = faults.RunnerFaults(faults.RunnerFaultConfig(seed=1, duplicate_rate=1.0))
    dup_plan = dup_all.plan("ScanWorkerFunction", batch)
    assert dup_plan is not None
    assert dup_plan.duplicates == {f"m{i}" for i in range(5)}
    assert dup_all.plan("ScanWorkerFunction", [message(1, receive=2)]) is None
    poison = faults.RunnerFaults(faults.RunnerFaultConfig(seed=1, poison_rate=1.0))
    for receive in (1, 2, 3):
        poison_plan = poison.plan("ScanWorkerFunction", [message(7, receive)])
        assert poison_plan is not None
        assert poison_plan.reason == "poison"
    assert poison.counts["poison_crashes"] == 3
    assert crash_all.plan("JobHandlerFunction", batch) is None


def test_runner_faults_reach_the_runner_as_a_delivery_plan() -> None:
    # GIVEN a batch whose first record crashes and whose every record is duplicated
    messages = [message(i) for i in range(3)]
    event = {"Records": [{"messageId": m["MessageId"]} for m in messages]}
    config = faults.RunnerFaultConfig(seed=1, crash_rate=1.0, duplicate_rate=1.0)
    hook = faults.RunnerFaults(config)
    # WHEN the runner asks the hook about the delivery
    plan = hook.before_delivery(Delivery("ScanWorkerFunction", messages, event))
    # THEN the execution environment gets a faulted event that crashes at the first record, and
    # every record is delivered again
    assert plan is not None
    assert isinstance(plan.payload, faults.FaultedEvent)
    assert plan.payload.event == event
    assert plan.payload.crash.after_records == 0
    assert [m["MessageId"] for m in plan.redeliver] == ["m0", "m1", "m2"]
    # AND the repeated delivery itself, and other functions, get no fault
    assert hook.before_delivery(Delivery("ScanWorkerFunction", messages, event, True)) is None
    assert hook.before_delivery(Delivery("JobHandlerFunction", messages, event)) is None


def test_fault_decisions_are_deterministic() -> None:
    # GIVEN the same seed, the same (account, service) pairs get the same faults
    config = faults.FaultConfig(enabled=True, seed=8, burst_rate=0.2, deny_rate=0.1)
    pairs = [(f"{200_000_000_000 + i:012d}", s) for i in range(200) for s in ("s3", "iam")]
    first = [config.task_fault(a, s) for a, s in pairs]
    assert first == [config.task_fault(a, s) for a, s in pairs]
    # and the rates hold roughly
    assert 0.05 < first.count("deny") / len(pairs) < 0.15
    assert 0.15 < first.count("burst") / len(pairs) < 0.25
    # a disabled layer plans nothing
    assert faults.FaultConfig().task_fault(*pairs[0]) is None


def test_a_denied_s3_task_is_denied_its_cloudtrail_calls_too() -> None:
    # GIVEN a fault layer that denies every member task, and a member role's session
    hook = faults.FaultHook(faults.FaultConfig(enabled=True, seed=3, deny_rate=1.0))
    member = "200000000007"
    hook._members["AKIAMEMBER"] = faults._Member(member, "QrieReadOnly")
    environ = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAMEMBER/20260101/us-east-1/"
        "cloudtrail/aws4_request, SignedHeaders=host, Signature=x"
    }
    # WHEN the S3 task's CloudTrail read (DescribeTrails) comes in
    info = RequestInfo("cloudtrail", "DescribeTrails", "POST", "/", "us-east-1", environ)
    reply = hook(info)
    # THEN it is denied as part of the account's s3 task, in CloudTrail's JSON error format
    assert reply is not None
    assert reply.status == 403
    assert json.loads(reply.body)["__type"] == "AccessDenied"
    assert hook.denied_tasks == {f"{member}:s3"}
