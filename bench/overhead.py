"""Bench 2: the requests the job engine itself makes per task, counted by botocore hooks, for qrie
and for the original design, on the same job (N accounts x 3 services) with no-op collectors.
AssumeRole and the coverage write of each successful inventory task (the evidence a scan needs)
are counted apart as work.

Everything runs in this process, one step at a time, so each counted request is attributed to
the step that made it: the job handler's invocation, the event source mapping's ReceiveMessage
(up to 10) and DeleteMessageBatch (the records not reported as failures), the worker's
invocations, and the polling service's runs over the job's life (one run per 2 minutes of the
job's duration, plus one). AssumeRole is counted apart as work: any design needs the member
credentials to inventory an account.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Window, item_size
from bench.esm import EventSourceMapping, Phases
from bench.original import OriginalDesign
from qrie.aws import AccountSessions, Clients
from qrie.config import Settings
from qrie.inventory.registry import SERVICES
from qrie_local.events import LambdaContext, scheduled_event
from qrie_local.identity import ACCOUNT_ID
from qrie_local.stack import LocalStack

WORKER = "InventoryWorkerFunction"
POLLER = "PollingServiceFunction"
ORCHESTRATION = (
    "create job",
    "enqueue",
    "receive",
    "delete",
    "accounting",
    "finalization",
    "polling",
    "other",
)
WORK = ("credentials (work)", "coverage (work)")
POLL_INTERVAL_SECONDS = 120


def polls_for(duration_seconds: float) -> int:
    """Polling-service runs over a job of this duration at rate(2 minutes): the ones during the
    job, and the one that sees it finished."""
    return 1 + int(duration_seconds // POLL_INTERVAL_SECONDS)


def _categorize(
    by_phase: dict[str, dict[str, int]], rules: dict[tuple[str, str], str]
) -> dict[str, int]:
    result = dict.fromkeys((*ORCHESTRATION, *WORK), 0)
    for phase, operations in by_phase.items():
        for operation, n in operations.items():
            category = rules.get((phase, operation)) or rules.get((phase, "*")) or "other"
            result[category] += n
    return result


QRIE_RULES = {
    ("job handler", "sqs.SendMessageBatch"): "enqueue",
    ("job handler", "dynamodb.BatchWriteItem"): "create job",
    ("job handler", "dynamodb.Query"): "create job",  # the registered accounts
    ("job handler", "dynamodb.UpdateItem"): "create job",  # the creation's usage on the job
    ("receive", "*"): "receive",
    ("delete", "*"): "delete",
    ("invoke", "dynamodb.TransactWriteItems"): "accounting",
    ("invoke", "sts.AssumeRole"): "credentials (work)",
    # each successful inventory task records its coverage (the evidence a scan needs): work
    # of the inventory, like its resources, not of the job machinery
    # (an UpdateItem of the account's COVERAGE item: a success keeps the last failure's record)
    ("invoke", "dynamodb.UpdateItem"): "coverage (work)",
    ("polling", "*"): "polling",
}
ORIGINAL_RULES = {
    ("job handler", "dynamodb.PutItem"): "create job",
    ("job handler", "sqs.SendMessage"): "enqueue",
    ("receive", "*"): "receive",
    ("delete", "*"): "delete",
    ("invoke", "dynamodb.UpdateItem"): "accounting",
    ("invoke", "sts.AssumeRole"): "credentials (work)",
    ("polling", "dynamodb.UpdateItem"): "finalization",
    ("polling", "*"): "polling",
}


def _summary(
    categories: dict[str, int], units: int, accounts: int, by_phase: dict[str, Any]
) -> dict[str, Any]:
    orchestration = sum(categories[c] for c in ORCHESTRATION)
    return {
        "categories": categories,
        "orchestration_requests": orchestration,
        "per_task": round(orchestration / units, 3),
        "per_account": round(orchestration / accounts, 3),
        "credentials_per_account": round(categories["credentials (work)"] / accounts, 3),
        "by_phase": by_phase,
    }


def run_qrie(stack: LocalStack, accounts: list[str], polls: int) -> dict[str, Any]:
    from bench import noop
    from qrie.handlers import runtime as runtime_module

    runtime_module.reset()
    inventory_worker = noop.worker_handler(stub_credentials=False)
    try:
        with stack.apply_env(WORKER):
            from qrie.handlers import job_handler, polling_service

            queue = stack.provisioned.queues["InventoryQueue"]
            rule = stack.functions[POLLER].schedules[0].rule_arn
            current = runtime_module.runtime()  # warm environments: clients exist
            _ = current.store.db
            _ = current.queue.sqs
            current.clients.get("sts")
            sqs = Clients().get("sqs")
            phases = Phases()
            request = {"operation": "inventory", "service": "*", "accounts": accounts}
            with Window(stack) as window:
                started = time.perf_counter()
                with phases.phase("job handler"):
                    response = job_handler.lambda_handler(
                        request, LambdaContext("JobHandlerFunction", 120)
                    )
                esm = EventSourceMapping(
                    sqs,
                    queue.url,
                    queue.arn,
                    stack.region,
                    inventory_worker,
                    WORKER,
                    300,
                    phases,
                )
                esm.drain()
                work_seconds = time.perf_counter() - started
                for _ in range(polls):
                    with phases.phase("polling"):
                        polling_service.lambda_handler(
                            scheduled_event(rule, stack.region, ACCOUNT_ID),
                            LambdaContext(POLLER, 60),
                        )
                window.stop()
            found = current.store.get_job(str(response["job_id"]))
            job = found.to_dict() if found else {}
    finally:
        runtime_module.reset()
    by_phase = phases.by_phase()
    categories = _categorize(by_phase, QRIE_RULES)
    tasks = int(job.get("total", 0))
    # each invocation accounts its batch in one transaction (one job here); a transaction
    # beyond that is the one that found the job's last pending tasks and finalized it
    transactions = by_phase.get("invoke", {}).get("dynamodb.TransactWriteItems", 0)
    categories["accounting"] = min(transactions, esm.invocations)
    categories["finalization"] = max(0, transactions - esm.invocations)
    result = _summary(categories, tasks, len(accounts), by_phase)
    creation = by_phase.get("job handler", {}).get("dynamodb.UpdateItem", 0)
    # writes on the job item while the job runs: its accounting and finalizing transactions
    # and the creation's usage (the original design: one UpdateItem per message)
    result["job_item_writes"] = transactions + creation
    result.update(
        job_id=response["job_id"],
        status=job.get("status"),
        tasks=tasks,
        succeeded=int(job.get("succeeded", 0)),
        accounts=len(accounts),
        invocations=esm.invocations,
        polling_runs=polls,
        seconds=round(work_seconds, 2),
        counted_total=phases.total(),
        server_total=window.requests,
        job_item_bytes=item_size(job),
    )
    return result


def run_original(stack: LocalStack, accounts: list[str], polls: int) -> dict[str, Any]:
    with stack.apply_env(WORKER):
        settings = Settings.from_env()
        queue = stack.provisioned.queues["InventoryQueue"]
        clients = Clients()
        sessions = AccountSessions(settings.member_role_name, settings.external_id, hub=clients)
        design = OriginalDesign(
            settings.table_name,
            settings.inventory_queue_url,
            settings.scan_queue_url,
            sessions,
            clients,
        )
        _ = design.ddb, design.sqs
        clients.get("sts")
        sqs = Clients().get("sqs")
        phases = Phases()
        with Window(stack) as window:
            started = time.perf_counter()
            with phases.phase("job handler"):
                job_id = design.start_inventory("*", accounts)
            esm = EventSourceMapping(
                sqs, queue.url, queue.arn, stack.region, design.worker, WORKER, 300, phases
            )
            esm.drain()
            work_seconds = time.perf_counter() - started
            for _ in range(polls):
                with phases.phase("polling"):
                    design.poll()
            window.stop()
        job = design.job(job_id) or {}
    by_phase = phases.by_phase()
    categories = _categorize(by_phase, ORIGINAL_RULES)
    units = len(accounts) * len(SERVICES)
    result = _summary(categories, units, len(accounts), by_phase)
    result["job_item_writes"] = categories["accounting"] + categories["finalization"]
    result.update(
        job_id=job_id,
        status=job.get("Status"),
        messages=len(accounts),
        units=units,
        accounts=len(accounts),
        invocations=esm.invocations,
        polling_runs=polls,
        seconds=round(work_seconds, 2),
        counted_total=phases.total(),
        server_total=window.requests,
        job_item_bytes=item_size(job),
    )
    return result


def original_job_item_bytes(accounts: int, resource_count: int = 45) -> dict[str, Any]:
    """The original design's job item once ``accounts`` accounts completed (its schema: every
    account's status in one map), by DynamoDB's size rules; and how many accounts fit in 400 KB."""

    def item(n: int) -> dict[str, Any]:
        return {
            "JobId": "inv-s3-20240126-143022",
            "Operation": "inventory",
            "Service": "s3",
            "Policy": None,
            "Status": "completed",
            "TotalAccounts": n,
            "CompletedAccounts": n,
            "FailedAccounts": 0,
            "StartedAt": "2024-01-26T14:30:22Z",
            "CompletedAt": "2024-01-26T14:41:09Z",
            "AccountStatuses": {
                f"{200_000_000_000 + i:012d}": {
                    "status": "completed",
                    "resource_count": resource_count,
                }
                for i in range(n)
            },
        }

    size = item_size(item(accounts))
    base = item_size(item(0))
    per_account = (item_size(item(100)) - base) / 100
    return {
        "accounts": accounts,
        "bytes": size,
        "per_account_bytes": round(per_account, 1),
        "max_accounts_in_400kb": int((400 * 1024 - base) // per_account),
    }
