"""Bench 5: peak memory of one inventory worker process against the size of the account.

For each account size, one onboarded account with B buckets and U IAM users; a job over it
through the job handler (three tasks: s3, ec2, iam); the three queued messages are received as
the event source mapping would and handed, as one SQS event, to the real worker handler in a
fresh process (``python -m bench.memory --child``). The child reports its peak resident set
(VmHWM) after importing the handler and building its clients (the baseline), and at the end.

Run against a server without added latency: memory does not depend on it, and the S3 collector
makes 8 sequential calls per bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT
from bench.seeding import big_account
from qrie_local.events import LambdaContext, sqs_event
from qrie_local.stack import LocalStack, clean_aws_environment

WORKER = "InventoryWorkerFunction"
CHILD_TIMEOUT_SECONDS = 900


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(out_path: Path) -> int:
    """The worker process: one invocation of the real handler with the event on stdin."""
    event = json.load(sys.stdin)
    from qrie.handlers import inventory_worker
    from qrie.handlers.runtime import runtime

    current = runtime()
    _ = current.store.db
    _ = current.queue.sqs
    current.clients.get("sts")
    baseline = _status_kb("VmHWM")
    started = time.perf_counter()
    result = inventory_worker.lambda_handler(event, LambdaContext(WORKER, 900, 1024))
    wall = time.perf_counter() - started
    out_path.write_text(
        json.dumps(
            {
                "baseline_hwm_kb": baseline,
                "peak_hwm_kb": _status_kb("VmHWM"),
                "rss_at_end_kb": _status_kb("VmRSS"),
                "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "seconds": round(wall, 2),
                "result": result,
            }
        ),
        encoding="utf-8",
    )
    return 0


def measure(stack: LocalStack, account: str, buckets: int, users: int, log: Path) -> dict[str, Any]:
    """Seed the account, inventory it in a fresh worker process; that process's peak memory."""
    from qrie.handlers import job_handler
    from qrie.handlers.runtime import runtime

    with stack.apply_env(WORKER):
        seeded = big_account(stack, account, buckets, users)
        current = runtime()
        store = current.store
        request = {"operation": "inventory", "service": "*", "accounts": [account]}
        response = job_handler.lambda_handler(request, LambdaContext("JobHandlerFunction", 120))
        queue = stack.provisioned.queues["InventoryQueue"]
        sqs = current.queue.sqs
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len(messages) < response["total_tasks"] and time.monotonic() < deadline:
            messages += sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        event = sqs_event(messages, queue.arn, stack.region)
        env = {**clean_aws_environment(os.environ), **stack.env(WORKER)}
    out = log.with_name(f"memory-{account}.json")
    with log.open("ab") as log_file:
        process = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--child", str(out)],
            input=json.dumps(event).encode(),
            stdout=log_file,
            stderr=log_file,
            env=env,
            cwd=ROOT,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    if process.returncode != 0:
        raise RuntimeError(f"the worker process failed (exit {process.returncode}); see {log}")
    report = json.loads(out.read_text(encoding="utf-8"))
    with stack.apply_env(WORKER):
        failed = {f["itemIdentifier"] for f in report["result"].get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        job = store.get_job(str(response["job_id"]))
        resources = {
            t.service: int(t.counts.get("resource_count", 0))
            for t in store.iter_tasks(str(response["job_id"]))
        }
    return {
        "buckets": buckets,
        "users": users,
        "seed_seconds": round(seeded.seconds, 1),
        "job_status": job.status.value if job else None,
        "resources": resources,
        "inventory_seconds": report["seconds"],
        "baseline_mb": round(report["baseline_hwm_kb"] / 1024, 1),
        "peak_mb": round(report["peak_hwm_kb"] / 1024, 1),
        "growth_mb": round((report["peak_hwm_kb"] - report["baseline_hwm_kb"]) / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--child", type=Path, required=True, help="write the report here")
    args = parser.parse_args(argv)
    return child(args.child)


if __name__ == "__main__":
    sys.exit(main())
