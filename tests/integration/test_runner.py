"""Runner semantics (Lambda's SQS event source mapping and schedules) on the local stack's moto
server, with the small test handlers of conftest.py and a test template per case."""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qrie_local import faults
from qrie_local.identity import local_client
from qrie_local.provision import provision
from qrie_local.runner import InvocationError, Runner
from qrie_local.sources import Delivery, DeliveryPlan
from qrie_local.stack import LocalStack, LocalStackError
from tests.integration.conftest import MarkedEvent, read_records

HANDLERS = "tests.integration.conftest"
ROOT = Path(__file__).resolve().parents[2]


def template(
    handler: str,
    out_dir: Path,
    *,
    batch_size: int = 10,
    max_concurrency: int | None = None,
    visibility: int = 60,
    window: int = 0,
    schedule: str | None = None,
    timeout: int = 30,
) -> dict[str, Any]:
    """A queue with a DLQ (3 receives) feeding one function, or a scheduled function."""
    events: dict[str, Any] = {}
    if schedule is None:
        properties: dict[str, Any] = {
            "Queue": {"Fn::GetAtt": ["WorkQueue", "Arn"]},
            "BatchSize": batch_size,
            "MaximumBatchingWindowInSeconds": window,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
        if max_concurrency is not None:
            properties["ScalingConfig"] = {"MaximumConcurrency": max_concurrency}
        events["Work"] = {"Type": "SQS", "Properties": properties}
    else:
        events["Tick"] = {"Type": "Schedule", "Properties": {"Schedule": schedule}}
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Timeout": timeout, "MemorySize": 256}},
        "Resources": {
            "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "WorkQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": visibility,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                        "maxReceiveCount": 3,
                    },
                },
            },
            "TestFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    # the package sam deploy would upload; the runner imports the handler from
                    # this checkout (the stack is provisioned without a code root)
                    "CodeUri": "tests/integration",
                    "Runtime": "python3.13",
                    "Handler": f"{HANDLERS}.{handler}",
                    "Environment": {"Variables": {"OUT_DIR": str(out_dir)}},
                    "Events": events,
                },
            },
        },
    }


Deploy = Callable[..., LocalStack]


@pytest.fixture
def deploy(local_stack: LocalStack, tmp_path: Path) -> Deploy:
    """Deploy a test template on the module's server (its own stack); a LocalStack view holding
    only it."""

    def _deploy(handler: str, **kwargs: Any) -> LocalStack:
        provisioned = provision(
            template(handler, tmp_path, **kwargs),
            local_stack.endpoint,
            local_stack.region,
            {},
            stack_name=f"t{uuid.uuid4().hex[:8]}",
            base_dir=ROOT,
        )
        return dataclasses.replace(local_stack, provisioned=provisioned)

    return _deploy


def queue_url(stack: LocalStack, logical_id: str = "WorkQueue") -> str:
    return stack.provisioned.queues[logical_id].url


def send(stack: LocalStack, bodies: list[dict[str, Any]]) -> list[str]:
    sqs = local_client("sqs", stack.endpoint, stack.region)
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        response = sqs.send_message_batch(
            QueueUrl=queue_url(stack),
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(body)}
                for i, body in enumerate(bodies[start : start + 10])
            ],
        )
        ids += [entry["MessageId"] for entry in response["Successful"]]
    return ids


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    sqs = local_client("sqs", stack.endpoint, stack.region)
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url(stack, logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def processed_ids(tmp_path: Path, name: str) -> list[str]:
    return [r["id"] for call in read_records(tmp_path, name) for r in call["records"]]


# ------------------------------------------------------------------------------------- tests
def test_batch_size_is_respected_and_every_record_is_deleted(
    deploy: Deploy, tmp_path: Path
) -> None:
    # GIVEN 10 messages on a queue whose event source has BatchSize 3
    stack = deploy("record_batch", batch_size=3)
    ids = send(stack, [{"n": n} for n in range(10)])
    # WHEN the runner delivers them
    with Runner(stack) as runner:
        wait_for(lambda: sorted(processed_ids(tmp_path, "record_batch")) == sorted(ids))
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0)
        stats = runner.stats()["TestFunction"]
    # THEN no batch was bigger than 3, each record came once with a real SQS event shape
    calls = read_records(tmp_path, "record_batch")
    assert all(1 <= call["size"] <= 3 for call in calls)
    assert max(call["size"] for call in calls) == 3
    assert all(r["receive_count"] == 1 for call in calls for r in call["records"])
    assert {r["source"] for call in calls for r in call["records"]} == {
        stack.provisioned.queues["WorkQueue"].arn
    }
    # the context's remaining time follows the template's Timeout (30 s); its name is Lambda's
    assert all(25_000 < call["remaining_ms"] <= 30_000 for call in calls)
    deployed_name = stack.functions["TestFunction"].name
    assert deployed_name.startswith(f"{stack.provisioned.stack_name}-TestFunction-")
    assert all(call["function"] == deployed_name for call in calls)
    assert stats["records_received"] == 10
    assert stats["records_deleted"] == 10
    assert stats["records_failed"] == 0


def test_partial_failures_are_redelivered_alone(deploy: Deploy, tmp_path: Path) -> None:
    # GIVEN 8 messages, 3 of which the handler reports as failures on their first receive
    stack = deploy("fail_marked_once", batch_size=10)
    ids = send(stack, [{"n": n, "fail": n in (1, 4, 6)} for n in range(8)])
    failing = {ids[1], ids[4], ids[6]}
    # WHEN the runner runs with visibility scaled from 60 s down to 1 s
    with Runner(stack, time_scale=1 / 60) as runner:
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0)
        stats = runner.stats()["TestFunction"]
    # THEN exactly the failed records came back, once, and everything was deleted in the end
    records = [r for call in read_records(tmp_path, "fail_marked_once") for r in call["records"]]
    redelivered = {r["id"] for r in records if r["receive_count"] > 1}
    assert redelivered == failing
    assert sorted(r["id"] for r in records if r["receive_count"] == 1) == sorted(ids)
    assert stats["records_failed"] == 3
    assert stats["records_deleted"] == 8
    assert queue_depth(stack, "DeadLetters") == 0


def test_maximum_concurrency_is_respected(deploy: Deploy, tmp_path: Path) -> None:
    # GIVEN 8 single-record batches and MaximumConcurrency 2, each invocation taking 0.4 s
    stack = deploy("count_concurrency", batch_size=1, max_concurrency=2)
    send(stack, [{"n": n} for n in range(8)])
    # WHEN the runner delivers them
    with Runner(stack) as runner:
        wait_for(lambda: len(read_records(tmp_path, "count_concurrency")) == 8, timeout=60)
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0)
        stats = runner.stats()["TestFunction"]
    # THEN never more than 2 ran at once (and 2 did), in at most 2 execution environments
    calls = read_records(tmp_path, "count_concurrency")
    assert max(call["running"] for call in calls) == 2
    assert len({call["pid"] for call in calls}) <= 2
    assert stats["peak_concurrency"] <= 2
    assert stats["cold_starts"] <= 2


def test_max_concurrency_argument_overrides_the_template(deploy: Deploy, tmp_path: Path) -> None:
    stack = deploy("count_concurrency", batch_size=1, max_concurrency=5)
    send(stack, [{"n": n} for n in range(4)])
    with Runner(stack, max_concurrency=1) as runner:
        wait_for(lambda: len(read_records(tmp_path, "count_concurrency")) == 4, timeout=60)
        stats = runner.stats()["TestFunction"]
    assert max(call["running"] for call in read_records(tmp_path, "count_concurrency")) == 1
    assert stats["peak_concurrency"] == 1


def test_always_failing_records_go_to_the_dlq_after_3_receives(
    deploy: Deploy, tmp_path: Path
) -> None:
    # GIVEN a handler that fails every record, a queue with maxReceiveCount 3
    stack = deploy("always_fail", batch_size=10)
    ids = send(stack, [{"n": n} for n in range(3)])
    # WHEN the runner runs with redelivery after 1 s
    with Runner(stack, time_scale=1 / 60) as runner:
        wait_for(lambda: queue_depth(stack, "DeadLetters") == 3, timeout=60)
        stats = runner.stats()["TestFunction"]
    # THEN each record was received exactly 3 times, then moved to the dead-letter queue
    records = [r for call in read_records(tmp_path, "always_fail") for r in call["records"]]
    for message_id in ids:
        counts = sorted(r["receive_count"] for r in records if r["id"] == message_id)
        assert counts == [1, 2, 3]
    assert queue_depth(stack, "WorkQueue") == 0
    assert stats["records_deleted"] == 0
    sqs = local_client("sqs", stack.endpoint, stack.region)
    dead = sqs.receive_message(
        QueueUrl=queue_url(stack, "DeadLetters"), MaxNumberOfMessages=10, WaitTimeSeconds=1
    )["Messages"]
    assert sorted(m["MessageId"] for m in dead) == sorted(ids)


def test_handler_exception_returns_the_whole_batch(deploy: Deploy, tmp_path: Path) -> None:
    # GIVEN a handler that raises on the first delivery of a batch
    stack = deploy("raise_once", batch_size=10, window=1)
    ids = send(stack, [{"n": n} for n in range(5)])
    # WHEN the runner runs
    with Runner(stack, time_scale=1 / 60) as runner:
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0, timeout=60)
        stats = runner.stats()["TestFunction"]
    # THEN nothing was deleted after the exception: every record came back and succeeded
    records = [r for call in read_records(tmp_path, "raise_once") for r in call["records"]]
    assert sorted(r["id"] for r in records if r["receive_count"] == 2) == sorted(ids)
    assert stats["errors"] >= 1
    assert stats["records_deleted"] == 5
    assert stats["records_failed"] == 5  # each record went back once


def test_a_crashed_environment_is_replaced_and_its_batch_returns(
    deploy: Deploy, tmp_path: Path
) -> None:
    stack = deploy("crash_once", batch_size=10, window=1)
    ids = send(stack, [{"n": n} for n in range(4)])
    with Runner(stack, time_scale=1 / 60) as runner:
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0, timeout=60)
        stats = runner.stats()["TestFunction"]
    records = [r for call in read_records(tmp_path, "crash_once") for r in call["records"]]
    assert sorted(r["id"] for r in records if r["receive_count"] == 2) == sorted(ids)
    assert stats["crashes"] >= 1
    assert stats["records_deleted"] == 4
    pids = {call["pid"] for call in read_records(tmp_path, "crash_once")}
    assert len(pids) >= 2  # a new execution environment after the crash


def test_messages_a_dead_runner_held_are_delivered_when_a_runner_starts(
    deploy: Deploy, tmp_path: Path
) -> None:
    # GIVEN a queue with qrie's 30-minute visibility timeout, and 3 of its 5 messages received
    # by a consumer that then died without deleting them (a runner killed mid-batch)
    stack = deploy("record_batch", visibility=1800)
    ids = send(stack, [{"n": n} for n in range(5)])
    sqs = local_client("sqs", stack.endpoint, stack.region)
    held = sqs.receive_message(QueueUrl=queue_url(stack), MaxNumberOfMessages=3)["Messages"]
    assert len(held) == 3
    # WHEN a runner starts
    with Runner(stack):
        wait_for(lambda: len(processed_ids(tmp_path, "record_batch")) == 5, timeout=20)
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0, timeout=20)
    # THEN every message was delivered within seconds, the held ones on their second receive
    records = [r for call in read_records(tmp_path, "record_batch") for r in call["records"]]
    assert sorted(r["id"] for r in records) == sorted(ids)
    second = sorted(r["id"] for r in records if r["receive_count"] == 2)
    assert second == sorted(m["MessageId"] for m in held)


class RedeliverFirst:
    """A delivery hook: asks for the first record of each original delivery to be delivered
    again, marks the payload of that repeated delivery, and keeps every delivery it saw."""

    def __init__(self) -> None:
        self.seen: list[Delivery] = []

    def before_delivery(self, delivery: Delivery) -> DeliveryPlan | None:
        self.seen.append(delivery)
        if delivery.injected:
            return DeliveryPlan(payload=MarkedEvent(delivery.event, "again"))
        return DeliveryPlan(redeliver=(delivery.messages[0],))


def test_delivery_hooks_replace_the_payload_and_deliver_again(
    deploy: Deploy, tmp_path: Path
) -> None:
    # GIVEN 3 messages and a hook that has the first record of every delivery delivered again
    stack = deploy("record_batch", batch_size=10, window=1)
    ids = send(stack, [{"n": n} for n in range(3)])
    hook = RedeliverFirst()
    # WHEN the runner delivers them with the hook
    with Runner(stack, hooks=[hook]) as runner:
        wait_for(lambda: queue_depth(stack, "WorkQueue") == 0)
        originals = [d for d in hook.seen if not d.injected]
        wait_for(lambda: len(read_records(tmp_path, "marked")) == len(originals))
        # the runner counts an invocation when its slot answers, just after the handler wrote
        expected = len(originals) + len([d for d in hook.seen if d.injected])
        wait_for(lambda: runner.stats()["TestFunction"]["invocations"] >= expected)
        stats = runner.stats()["TestFunction"]
    # THEN every record reached the handler once in an original delivery; each delivery's first
    # record once more, in its own invocation, whose payload the hook replaced
    assert sorted(m["MessageId"] for d in originals for m in d.messages) == sorted(ids)
    firsts = sorted(str(d.messages[0]["MessageId"]) for d in originals)
    injected = [d for d in hook.seen if d.injected]
    assert sorted(str(m["MessageId"]) for d in injected for m in d.messages) == firsts
    assert sorted(i for call in read_records(tmp_path, "marked") for i in call["ids"]) == firsts
    assert {call["mark"] for call in read_records(tmp_path, "marked")} == {"again"}
    assert sorted(processed_ids(tmp_path, "record_batch")) == sorted(ids + firsts)
    assert stats["invocations"] == len(originals) + len(injected)


def test_a_stack_carries_the_server_hooks_it_was_started_with(tmp_path: Path) -> None:
    # GIVEN a local stack started with the fault layer as a request hook of its server
    state_dir = tmp_path / "state"
    stack = LocalStack.up(
        state_dir=state_dir, template=ROOT / "template.yaml", hooks=[faults.HOOK_SPEC]
    )
    try:
        # THEN the server answers the hook's control path, and the state names the hook
        assert faults.fault_report(stack.endpoint)["config"]["enabled"] is False
        saved = LocalStack.load(state_dir)
        assert saved is not None
        assert saved.hooks == (faults.HOOK_SPEC,)
        # WHEN it is started again with no hooks, or the same ones, it is reused
        assert LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml").pid == stack.pid
        # BUT a hook its server does not run is refused, not silently left out
        with pytest.raises(LocalStackError, match=r"example\.hooks:extra"):
            LocalStack.up(
                state_dir=state_dir,
                template=ROOT / "template.yaml",
                hooks=[faults.HOOK_SPEC, "example.hooks:extra"],
            )
    finally:
        stack.down()


def test_scheduled_function_is_called_at_the_interval(deploy: Deploy, tmp_path: Path) -> None:
    # GIVEN a function on rate(2 minutes), scaled to a 0.5 s local interval
    stack = deploy("on_schedule", schedule="rate(2 minutes)")
    # WHEN the runner runs for a while
    with Runner(stack, schedule_interval=0.5) as runner:
        wait_for(lambda: len(read_records(tmp_path, "on_schedule")) >= 5, timeout=30)
    calls = read_records(tmp_path, "on_schedule")
    # THEN it was called with EventBridge's scheduled event, about every 0.5 s, one at a time
    assert all(call["detail_type"] == "Scheduled Event" for call in calls)
    rule = stack.functions["TestFunction"].schedules[0].rule_arn
    assert all(call["resources"] == [rule] for call in calls)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(calls)]
    assert 0.3 <= statistics.median(gaps) <= 0.9
    assert len({call["pid"] for call in calls}) == 1  # one warm environment
    assert runner.stats()["TestFunction"]["invocations"] >= 5


def test_invoke_runs_one_event_in_a_fresh_environment(deploy: Deploy, tmp_path: Path) -> None:
    stack = deploy("echo")
    runner = Runner(stack, env_overrides={"EXTRA": "yes"})
    result = runner.invoke("TestFunction", {"hello": "world"})
    assert result == {
        "event": {"hello": "world"},
        "function": stack.functions["TestFunction"].name,
        "endpoint": stack.endpoint,
        "out_dir": str(tmp_path),
        "extra": "yes",
    }
    failing = deploy("explode")
    with pytest.raises(InvocationError, match="ValueError: no such thing") as caught:
        Runner(failing).invoke("TestFunction", {})
    assert caught.value.error_type == "ValueError"
    assert "Traceback" in caught.value.trace
    with pytest.raises(KeyError, match="no function"):
        runner.invoke("Nope", {})


def test_stack_lifecycle_with_the_runner_daemon(tmp_path: Path) -> None:
    # GIVEN a local stack started from its own state directory
    state_dir = tmp_path / "state"
    stack = LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml")
    try:
        # WHEN it is started again, it is the same one (provisioning is idempotent)
        again = LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml")
        assert (again.pid, again.endpoint) == (stack.pid, stack.endpoint)
        assert LocalStack.current(state_dir) is not None
        # AND the runner runs as a daemon for it
        pid = stack.start_runner(concurrency=2, schedule_interval=0.5)
        assert (state_dir / "runner.pid").read_text().strip() == str(pid)
        wait_for(lambda: "PollingServiceFunction" in (state_dir / "runner.log").read_text())
        status = stack.status()
        assert status["running"] is True
        assert status["runner"] == {"running": True, "pid": pid}
        assert status["outputs"]["TableName"] == stack.table_name
        assert stack.stats()["by_operation"].get("sqs.ReceiveMessage", 0) > 0
    finally:
        stack.down()
    # THEN down stops both and removes the state (logs stay)
    assert LocalStack.current(state_dir) is None
    assert not (state_dir / "local.json").exists()
    assert not (state_dir / "runner.pid").exists()
    assert (state_dir / "server.log").exists()
    assert "stopped" in (state_dir / "runner.log").read_text()
