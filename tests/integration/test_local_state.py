"""The local stack keeps its state across `qrie local down` / `up`, refuses to stop under a running
job without --force, says when it is down, and keeps its state directory private."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from typer.testing import CliRunner

from qrie.domain import JobStatus
from qrie.store.table import Store
from qrie_cli import main as cli
from qrie_cli.target import LocalTarget
from qrie_local.identity import local_client
from qrie_local.members import member_session
from qrie_local.runner import Runner
from qrie_local.seed import seed
from qrie_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def qrie(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.output


def wait_until_final(stack: LocalStack, job_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    with stack.apply_env():
        store = Store(stack.table_name)
        while time.monotonic() < deadline:
            job = store.get_job(job_id)
            assert job is not None
            if not job.running:
                return str(job.status)
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_job_stopped_by_down_finishes_after_up(tmp_path: Path) -> None:
    # GIVEN a local stack with 2 seeded member accounts and an inventory job started, its tasks
    # queued and 2 of them received by a runner that then went away with the stack
    state_dir = tmp_path / ".qrie"
    stack = LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml")
    try:
        seeded = seed(stack, 2, seed=3, unassumable=0)
        job_id = Runner(stack).invoke("JobHandlerFunction", {"operation": "inventory"})["job_id"]
        sqs = local_client("sqs", stack.endpoint, stack.region)
        queue = stack.outputs["InventoryQueueUrl"]
        assert len(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=2)["Messages"]) == 2
        assert stack.running_jobs() == [job_id]
        # AND jobs watch would ask whether the runner runs (none does)
        with LocalTarget(stack) as target:
            assert target.stall_hint() == "is the runner running? (`qrie local status`)"

        # WHEN it is stopped: refused while the job runs, then forced
        code, output = qrie("local", "down", "--state-dir", str(state_dir))
        assert code == 1
        assert f"1 job(s) still running ({job_id})" in " ".join(output.split())
        assert LocalStack.current(state_dir) is not None
        code, _ = qrie("local", "down", "--state-dir", str(state_dir), "--force")
        assert code == 0
    finally:
        stack.down()
    assert LocalStack.current(state_dir) is None
    assert qrie("local", "status", "--state-dir", str(state_dir))[0] == 1  # down: exit 1

    # THEN the state directory is private, with the saved state in it
    assert mode(state_dir) == 0o700
    saved = state_dir / "aws-state.pickle"
    assert {p.name for p in state_dir.iterdir()} >= {"aws-state.pickle", "server.log"}
    assert {oct(mode(p)) for p in state_dir.iterdir()} == {oct(0o600)}

    # WHEN it is started again
    stack = LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml")
    try:
        assert qrie("local", "status", "--state-dir", str(state_dir))[0] == 0
        restored = stack.status()["saved_state"]["restored"]
        assert restored["found"] is True
        assert restored["path"] == str(saved.resolve())
        # THEN the accounts, the job and the member accounts' resources are back
        with stack.apply_env():
            store = Store(stack.table_name)
            assert {a.account_id for a in store.list_accounts()} == set(seeded.accounts)
            job = store.get_job(job_id)
            assert job is not None
            assert (job.status, job.succeeded + job.failed) == (JobStatus.IN_PROGRESS, 0)
            member = seeded.accounts[0]
            buckets = member_session(member).client("s3").list_buckets()["Buckets"]
            assert len(buckets) == seeded.resources[member]["s3"]
        # AND the job goes on where it stopped: the held tasks too, once a runner starts
        with Runner(stack, schedule_interval=1.0):
            assert wait_until_final(stack, job_id) == JobStatus.COMPLETED
    finally:
        stack.down()
