"""``Store``: every read and write qrie makes to its DynamoDB table (see keys.py for the design).

Exactly-once task accounting (``complete_tasks``): a task becomes SUCCEEDED or FAILED in one
``TransactWriteItems`` that (1) updates the task with ``Status = PENDING`` as its condition and
(2) adds to the job's ``Succeeded``/``Failed`` counters and subtracts from ``Remaining`` with
``Remaining > k`` as its condition. A duplicate delivery fails (1) and changes nothing. When (2)
fails because ``Remaining == k``, this call holds the job's last pending tasks: it retries as the
*finalizing* transaction (``Remaining = k``) that also sets the final status and removes the
running marker. So completion is event-driven and costs one request per task; only the last
task pays a second one. Several tasks of one job may go in one transaction (cancel, timeouts,
dead letters: up to 98 tasks per call).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from qrie.aws import Clients, error_code
from qrie.store import keys
from qrie.store.dynamo import Dynamo, backoff, deserialize, serialize, values

# Job states
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
FINAL_STATUSES = frozenset({COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELLED})
# Task states
PENDING = "PENDING"
SUCCEEDED = "SUCCEEDED"

TXN_TASKS = 98  # tasks per transaction: + the job update + the running marker = 100 actions
MAX_TXN_ATTEMPTS = 60
MAX_REASON = 500
WRITE_THREADS = 8  # parallel BatchWriteItem calls when a job writes its task items


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def final_status(succeeded: int, failed: int, cancelled: bool) -> str:
    if cancelled:
        return CANCELLED
    if failed == 0:
        return COMPLETED
    if succeeded == 0:
        return FAILED
    return COMPLETED_WITH_ERRORS


@dataclass(frozen=True)
class TaskOutcome:
    """The terminal state one task should move to."""

    sk: str
    status: str  # SUCCEEDED | FAILED
    reason: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)  # e.g. ResourceCount, Attempts


@dataclass
class Completion:
    applied: list[str] = field(default_factory=list)  # moved to terminal by this call
    skipped: list[str] = field(default_factory=list)  # already terminal: duplicates, no change
    final_status: str | None = None  # the job's final status, when this call finalized it
    job_found: bool = True


class Store:
    """Data access for jobs, tasks, accounts, resources and findings."""

    def __init__(self, table_name: str, clients: Clients | None = None) -> None:
        self.clients = clients or Clients()
        self.table_name = table_name
        self._db: Dynamo | None = None
        self._lock = threading.Lock()

    @property
    def db(self) -> Dynamo:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self._db = Dynamo(self.clients.get("dynamodb"), self.table_name)
        return self._db

    # ---------------------------------------------------------------- jobs and tasks
    def create_job(self, job: dict[str, Any], tasks: Sequence[dict[str, Any]]) -> None:
        """Write the tasks, then the job and its running marker (BatchWriteItem, unprocessed
        items retried). A job is only visible once all its tasks exist."""
        job_id = job["JobId"]
        expires = job.get("ExpiresAt")
        task_items = [
            {"PK": keys.job_pk(job_id), "SK": t["SK"], "Status": PENDING, "ExpiresAt": expires, **t}
            for t in tasks
        ]
        self.db.batch_write(puts=task_items, threads=WRITE_THREADS)
        job_item = {
            "PK": keys.job_pk(job_id),
            "SK": keys.JOB_SK,
            "GSI1PK": keys.JOBS_GSI_PK,
            "GSI1SK": f"{job['CreatedAt']}#{job_id}",
            **job,
        }
        puts = [job_item]
        if job.get("Status") == IN_PROGRESS:
            puts.append(
                {
                    "PK": keys.RUNNING_PK,
                    "SK": job_id,
                    "Deadline": job.get("Deadline"),
                    "ExpiresAt": expires,
                }
            )
        self.db.batch_write(puts=puts)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self.db.get(keys.job_pk(job_id), keys.JOB_SK)

    def get_task(self, job_id: str, sk: str) -> dict[str, Any] | None:
        return self.db.get(keys.job_pk(job_id), sk)

    def list_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(
            self.db.query(keys.JOBS_GSI_PK, index=keys.JOBS_INDEX, forward=False, limit=limit)
        )

    def running_job_ids(self) -> list[str]:
        return [item["SK"] for item in self.db.query(keys.RUNNING_PK)]

    def iter_tasks(self, job_id: str, status: str | None = None) -> Iterator[dict[str, Any]]:
        if status is None:
            yield from self.db.query(keys.job_pk(job_id), sk_prefix=keys.TASK_PREFIX)
            return
        yield from self.db.query(
            keys.job_pk(job_id),
            sk_prefix=keys.TASK_PREFIX,
            names={"#st": "Status"},
            filter_expression="#st = :st",
            filter_values=values(st=status),
        )

    def mark_cancelled(self, job_id: str) -> dict[str, Any] | None:
        """Flag a running job as cancelled; returns the job, or None if it is not running."""
        try:
            response = self.db.client.update_item(
                TableName=self.table_name,
                Key=serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
                UpdateExpression="SET Cancelled = :t, UpdatedAt = :now",
                ConditionExpression="#st = :running",
                ExpressionAttributeNames={"#st": "Status"},
                ExpressionAttributeValues=values(t=True, now=now_iso(), running=IN_PROGRESS),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return deserialize(response["Attributes"])

    def complete_tasks(self, job_id: str, outcomes: Iterable[TaskOutcome]) -> Completion:
        """Move tasks to their terminal state exactly once and count them on the job."""
        result = Completion()
        # One action per item: DynamoDB refuses a transaction with two operations on one item
        # (a dead letter delivered twice, a task named twice). The first outcome of a task wins.
        unique: dict[str, TaskOutcome] = {}
        for outcome in outcomes:
            unique.setdefault(outcome.sk, outcome)
        outcome_list = list(unique.values())
        for start in range(0, len(outcome_list), TXN_TASKS):
            self._complete_chunk(job_id, outcome_list[start : start + TXN_TASKS], result)
            if not result.job_found:
                break
        return result

    def _complete_chunk(self, job_id: str, chunk: list[TaskOutcome], result: Completion) -> None:
        pending = list(chunk)
        finalizing: dict[str, Any] | None = None  # the job as read when we hold its last tasks
        for attempt in range(MAX_TXN_ATTEMPTS):
            if not pending:
                return
            now = now_iso()
            k = len(pending)
            s = sum(1 for o in pending if o.status == SUCCEEDED)
            actions = [self._task_update(job_id, o, now) for o in pending]
            actions.append(self._job_update(job_id, k, s, k - s, now, finalizing))
            if finalizing is not None:
                actions.append(
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": serialize({"PK": keys.RUNNING_PK, "SK": job_id}),
                        }
                    }
                )
            try:
                self.db.client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                code = error_code(exc)
                if code != "TransactionCanceledException":
                    if code in {"TransactionConflictException", "ThrottlingException"}:
                        backoff(attempt)
                        continue
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                task_reasons = reasons[:k]
                job_reason = reasons[k] if len(reasons) > k else {}
                if job_reason.get("Code") == "ConditionalCheckFailed" and not job_reason.get(
                    "Item"
                ):  # the job does not exist
                    result.job_found = False
                    result.skipped += [o.sk for o in pending]
                    return
                done = [
                    pending[i]
                    for i, r in enumerate(task_reasons)
                    if r.get("Code") == "ConditionalCheckFailed"
                ]
                if done:  # already terminal: a duplicate, cancelled or timed out meanwhile
                    result.skipped += [o.sk for o in done]
                    pending = [o for o in pending if o not in done]
                    finalizing = None
                    continue
                if job_reason.get("Code") == "ConditionalCheckFailed":
                    old = deserialize(job_reason["Item"])
                    remaining = int(old.get("Remaining", 0))
                    if remaining == k:
                        finalizing = old
                    else:
                        finalizing = None
                        backoff(attempt, base=0.01)
                    continue
                # conflicts with a concurrent transaction on the same items
                backoff(attempt)
                continue
            result.applied += [o.sk for o in pending]
            if finalizing is not None:
                result.final_status = final_status(
                    int(finalizing.get("Succeeded", 0)) + s,
                    int(finalizing.get("Failed", 0)) + (k - s),
                    bool(finalizing.get("Cancelled", False)),
                )
            return
        raise RuntimeError(f"could not record {len(pending)} task outcomes of job {job_id}")

    def _task_update(self, job_id: str, outcome: TaskOutcome, now: str) -> dict[str, Any]:
        sets = ["#st = :st", "EndedAt = :now"]
        attr_values: dict[str, Any] = {"st": outcome.status, "now": now, "pending": PENDING}
        if outcome.reason:
            sets.append("Reason = :reason")
            attr_values["reason"] = outcome.reason[:MAX_REASON]
        attr_names = {"#st": "Status"}
        for i, (name, value) in enumerate(sorted(outcome.attrs.items())):
            if value is None:
                continue
            sets.append(f"#a{i} = :a{i}")
            attr_names[f"#a{i}"] = name
            attr_values[f"a{i}"] = value
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": serialize({"PK": keys.job_pk(job_id), "SK": outcome.sk}),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "#st = :pending",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                "ExpressionAttributeNames": attr_names,
                "ExpressionAttributeValues": values(**attr_values),
            }
        }

    def _job_update(
        self,
        job_id: str,
        k: int,
        succeeded: int,
        failed: int,
        now: str,
        finalizing: dict[str, Any] | None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        expr = "ADD Succeeded :s, Failed :f, Remaining :mk SET UpdatedAt = :now"
        vals: dict[str, Any] = {"s": succeeded, "f": failed, "mk": -k, "k": k, "now": now}
        if finalizing is None:
            update["ConditionExpression"] = "Remaining > :k"
        else:
            cancelled = bool(finalizing.get("Cancelled", False))
            status = final_status(
                int(finalizing.get("Succeeded", 0)) + succeeded,
                int(finalizing.get("Failed", 0)) + failed,
                cancelled,
            )
            expr += ", #st = :final, FinishedAt = :now"
            update["ConditionExpression"] = "Remaining = :k AND Cancelled = :c"
            update["ExpressionAttributeNames"] = {"#st": "Status"}
            vals.update(final=status, c=cancelled)
        update["UpdateExpression"] = expr
        update["ExpressionAttributeValues"] = values(**vals)
        return {"Update": update}

    def finalize_if_done(self, job_id: str) -> str | None:
        """Safety net for the polling service: a running job with nothing remaining gets its
        final status (normally the last task's transaction did that already)."""
        job = self.get_job(job_id)
        if job is None:
            self.db.batch_write(deletes=[{"PK": keys.RUNNING_PK, "SK": job_id}])
            return None
        if job.get("Status") != IN_PROGRESS:
            self.db.batch_write(deletes=[{"PK": keys.RUNNING_PK, "SK": job_id}])
            return None
        if int(job.get("Remaining", 0)) > 0:
            return None
        status = final_status(
            int(job.get("Succeeded", 0)), int(job.get("Failed", 0)), bool(job.get("Cancelled"))
        )
        try:
            self.db.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
                            "UpdateExpression": "SET #st = :final, FinishedAt = :now",
                            "ConditionExpression": "#st = :running AND Remaining <= :zero",
                            "ExpressionAttributeNames": {"#st": "Status"},
                            "ExpressionAttributeValues": values(
                                final=status, now=now_iso(), running=IN_PROGRESS, zero=0
                            ),
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": serialize({"PK": keys.RUNNING_PK, "SK": job_id}),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                return None
            raise
        return status

    # ---------------------------------------------------------------- bad messages
    def record_bad_message(self, message_id: str, body: str, error: str, source: str) -> None:
        """Keep a malformed or unknown task message for inspection (14 days)."""
        now = now_iso()
        self.db.batch_write(
            puts=[
                {
                    "PK": keys.BADMSG_PK,
                    "SK": f"{now}#{message_id}",
                    "Body": body[:4000],
                    "Error": error[:MAX_REASON],
                    "Source": source,
                    "ExpiresAt": int(time.time()) + 14 * 86400,
                }
            ]
        )

    def bad_messages(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db.query(keys.BADMSG_PK, forward=False, limit=limit))

    # ---------------------------------------------------------------- accounts
    def put_accounts(self, accounts: Iterable[dict[str, Any]]) -> int:
        items = [{"PK": keys.ACCOUNT_PK, "SK": a["AccountId"], **a} for a in accounts]
        self.db.batch_write(puts=items)
        return len(items)

    def remove_account(self, account_id: str) -> bool:
        return self.db.delete_if(keys.ACCOUNT_PK, account_id, "attribute_exists(PK)")

    def list_accounts(self) -> list[dict[str, Any]]:
        return list(self.db.query(keys.ACCOUNT_PK))

    def get_account(self, account_id: str) -> dict[str, Any] | None:
        return self.db.get(keys.ACCOUNT_PK, account_id, consistent=False)

    # ---------------------------------------------------------------- resources
    def put_resources(self, items: Sequence[dict[str, Any]]) -> int:
        return self.db.batch_write(puts=list(items))

    def iter_resources(
        self, account_id: str, service: str, scope: str | None = None, keys_only: bool = False
    ) -> Iterator[dict[str, Any]]:
        yield from self.db.query(
            keys.resource_pk(account_id, service),
            sk_prefix=f"{scope}#" if scope else None,
            projection="PK, SK, Arn, CollectionId, SeenAtMs" if keys_only else None,
        )

    def delete_items(self, item_keys: Sequence[dict[str, str]]) -> int:
        return self.db.batch_write(deletes=list(item_keys))

    def delete_resources_unseen_since(
        self, items: Sequence[dict[str, Any]], seen_before_ms: int
    ) -> list[dict[str, Any]]:
        """Delete each resource item unless a collection wrote it at or after ``seen_before_ms``
        (a conditional DeleteItem each: a concurrent collection of the same scope -- SQS's
        duplicate delivery of the task -- keeps what it saw). Returns the items deleted."""
        unseen = "attribute_not_exists(SeenAtMs) OR SeenAtMs < :seen"
        seen = values(seen=seen_before_ms)
        return [item for item in items if self.db.delete_if(item["PK"], item["SK"], unseen, seen)]

    # ---------------------------------------------------------------- findings
    def iter_findings(
        self, account_id: str, policy_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        yield from self.db.query(
            keys.finding_pk(account_id), sk_prefix=f"{policy_id}#" if policy_id else None
        )

    def iter_open_findings_by_policy(self, policy_id: str) -> Iterator[dict[str, Any]]:
        yield from self.db.query(
            keys.open_finding_gsi_pk(policy_id), index=keys.JOBS_INDEX, forward=True
        )

    def put_findings(self, items: Sequence[dict[str, Any]]) -> int:
        return self.db.batch_write(puts=list(items))

    def put_summary(self, account_id: str, counts: dict[str, dict[str, Any]]) -> int:
        """Overwrite the open-finding counts of an account per policy (idempotent)."""
        items = [
            {"PK": keys.SUMMARY_PK, "SK": f"{account_id}#{policy_id}", **c}
            for policy_id, c in counts.items()
        ]
        return self.db.batch_write(puts=items)

    def summary(self) -> list[dict[str, Any]]:
        return list(self.db.query(keys.SUMMARY_PK))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
