"""``Store``: every read and write qrie makes to its DynamoDB table (see keys.py for the design).

Exactly-once task accounting (``complete_tasks``): a task becomes SUCCEEDED or FAILED in one
``TransactWriteItems`` that (1) updates the task with ``Status = PENDING`` as its condition and
(2) adds to the job's ``Succeeded``/``Failed`` counters and subtracts from ``Remaining`` with
``Remaining > k`` as its condition. A duplicate delivery fails (1) and changes nothing. When (2)
fails because ``Remaining == k``, this call holds the job's last pending tasks: it retries as the
*finalizing* transaction (``Remaining = k``) that also sets the final status and removes the
running marker. So completion is event-driven; several tasks of one job go in one transaction
(a worker's batch, a cancel, timeouts, dead letters: up to 98 tasks per call), so a batch of
ten records costs one write on the job item, not ten.

Usage: each task item gets the usage its outcome carries (``Usage`` map), and the job's usage
attributes are ADDed the sum, in the same transaction. That transaction's own share (one
request, and the write units DynamoDB's size rules give for the items it writes) is added to the
outcomes before it is sent: the transaction cannot carry the answer it has not had yet.
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from qrie.aws import Clients, backoff, error_code
from qrie.domain import (
    Account,
    Coverage,
    Evaluation,
    Finding,
    FindingState,
    Job,
    JobStatus,
    Mute,
    PolicyTally,
    Resource,
    Severity,
    Task,
    TaskKey,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    Usage,
    final_status,
    now_iso,
)
from qrie.store import items, keys, sizes
from qrie.store.dynamo import Dynamo, deserialize, serialize, values

TXN_TASKS = 98  # tasks per transaction: + the job update + the running marker = 100 actions
MAX_TXN_ATTEMPTS = 60
MAX_REASON = 500
WRITE_THREADS = 8  # parallel BatchWriteItem calls when a job writes its task items
BAD_MESSAGE_DAYS = 14
JOB_INDEXES = 1  # GSI1 holds the job item (projection ALL): each update writes it there too
JOB_ITEM_BYTES = 700  # a job item's size until one has been read (typical, without skips)
KNOWN_JOB_SIZES = 1000


@dataclass
class Completion:
    applied: list[TaskKey] = field(default_factory=list)  # moved to terminal by this call
    skipped: list[TaskKey] = field(default_factory=list)  # already terminal: no change
    final_status: JobStatus | None = None  # the job's final status, when this call finalized it
    job_found: bool = True


@dataclass(frozen=True)
class BadMessage:
    received_at: str
    message_id: str
    body: str
    error: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return {
            "received_at": self.received_at,
            "message_id": self.message_id,
            "error": self.error,
            "source": self.source,
            "body": self.body,
        }


class Store:
    """Data access for jobs, tasks, accounts, resources and findings, in domain records."""

    def __init__(self, table_name: str, clients: Clients | None = None) -> None:
        self.clients = clients or Clients()
        self.table_name = table_name
        self._db: Dynamo | None = None
        self._lock = threading.Lock()
        # each job item's last size seen (the accounting's capacity) and its task shards
        self._job_sizes: dict[str, int] = {}
        self._task_shards: dict[str, int] = {}

    @property
    def db(self) -> Dynamo:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self._db = Dynamo(self.clients.get("dynamodb"), self.table_name)
        return self._db

    # ---------------------------------------------------------------- jobs and tasks
    def create_job(self, job: Job, tasks: Sequence[TaskKey]) -> Job:
        """Write the tasks (PENDING), then the job and, while it runs, its marker
        (BatchWriteItem, unprocessed items retried). A job is only visible once all its tasks
        exist. A large job's task items are spread over several partition keys (keys.py);
        returns the job as written."""
        job = dataclasses.replace(job, task_shards=keys.task_shards(len(tasks)))
        self._task_shards[job.job_id] = job.task_shards
        task_items = [
            items.new_task_item(job.job_id, key, job.expires_at, job.task_shards) for key in tasks
        ]
        self.db.batch_write(puts=task_items, threads=WRITE_THREADS)
        puts = [items.job_item(job)]
        if job.running:
            puts.append(
                {
                    "PK": keys.RUNNING_PK,
                    "SK": job.job_id,
                    "Deadline": job.deadline,
                    "ExpiresAt": job.expires_at,
                }
            )
        self.db.batch_write(puts=puts)
        return job

    def get_job(self, job_id: str) -> Job | None:
        item = self.db.get(keys.job_pk(job_id), keys.JOB_SK)
        if not item:
            return None
        self._saw_job(job_id, item)
        return items.job_of(item)

    def _saw_job(self, job_id: str, item: dict[str, Any]) -> None:
        if len(self._job_sizes) >= KNOWN_JOB_SIZES:
            self._job_sizes.clear()
            self._task_shards.clear()
        self._job_sizes[job_id] = sizes.item_size(item)
        self._task_shards[job_id] = items.job_of(item).task_shards

    def _shards(self, job_id: str) -> int:
        """How many partition keys the job's task items are spread over (read once)."""
        if job_id not in self._task_shards:
            job = self.get_job(job_id)
            return job.task_shards if job is not None else 1
        return self._task_shards[job_id]

    def task_partitions(self, job_id: str) -> list[str]:
        """The partition keys holding the job's task items."""
        shards = self._shards(job_id)
        if shards <= 1:
            return [keys.job_pk(job_id)]
        return [keys.task_shard_pk(job_id, shard) for shard in range(shards)]

    def add_job_usage(self, job_id: str, usage: Usage) -> None:
        """ADD ``usage`` to the job's (its creation: the job handler's requests and time),
        with this UpdateItem's own share: one request and the job item's write units."""
        job_size = self._job_sizes.get(job_id, JOB_ITEM_BYTES)
        usage = usage + Usage(
            requests={"dynamodb.UpdateItem": 1},
            write_units=(1 + JOB_INDEXES) * sizes.write_units(job_size),
        )
        adds = items.job_usage_adds(usage)
        names = {f"#u{i}": name for i, name in enumerate(adds)}
        try:
            self.db.update(
                Key=serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
                UpdateExpression="ADD " + ", ".join(f"#u{i} :u{i}" for i in range(len(adds))),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(
                    **{f"u{i}": value for i, value in enumerate(adds.values())}
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def get_task(self, job_id: str, key: TaskKey) -> Task | None:
        item = self.db.get(items.task_pk(job_id, key, self._shards(job_id)), items.task_sk(key))
        return items.task_of(job_id, item) if item else None

    def list_jobs(self, limit: int = 20) -> list[Job]:
        found = self.db.query(keys.JOBS_GSI_PK, index=keys.JOBS_INDEX, forward=False, limit=limit)
        return [items.job_of(item) for item in found]

    def running_job_ids(self) -> list[str]:
        return [str(item["SK"]) for item in self.db.query(keys.RUNNING_PK)]

    def iter_tasks(self, job_id: str, status: TaskStatus | None = None) -> Iterator[Task]:
        """The job's tasks in task order (account, kind, service), page by page (the shards of a
        large job merged)."""

        def query(pk: str) -> Iterator[dict[str, Any]]:
            if status is None:
                return self.db.query(pk, sk_prefix=keys.TASK_PREFIX)
            return self.db.query(
                pk,
                sk_prefix=keys.TASK_PREFIX,
                names={"#st": "Status"},
                filter_expression="#st = :st",
                filter_values=values(st=status.value),
            )

        partitions = [query(pk) for pk in self.task_partitions(job_id)]
        for item in heapq.merge(*partitions, key=lambda i: str(i["SK"])):
            yield items.task_of(job_id, item)

    def mark_cancelled(self, job_id: str) -> Job | None:
        """Flag a running job as cancelled; returns the job, or None if it is not running."""
        try:
            response = self.db.update(
                Key=serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
                UpdateExpression="SET Cancelled = :t, UpdatedAt = :now",
                ConditionExpression="#st = :running",
                ExpressionAttributeNames={"#st": "Status"},
                ExpressionAttributeValues=values(
                    t=True, now=now_iso(), running=JobStatus.IN_PROGRESS.value
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return items.job_of(deserialize(response["Attributes"]))

    def complete_tasks(self, job_id: str, outcomes: Iterable[TaskOutcome]) -> Completion:
        """Move tasks to their terminal state exactly once and count them on the job."""
        result = Completion()
        # One action per item: DynamoDB refuses a transaction with two operations on one item
        # (a dead letter delivered twice, a task named twice). The first outcome of a task wins.
        unique: dict[TaskKey, TaskOutcome] = {}
        for outcome in outcomes:
            unique.setdefault(outcome.key, outcome)
        outcome_list = list(unique.values())
        for start in range(0, len(outcome_list), TXN_TASKS):
            self._complete_chunk(job_id, outcome_list[start : start + TXN_TASKS], result)
            if not result.job_found:
                break
        return result

    def _complete_chunk(self, job_id: str, chunk: list[TaskOutcome], result: Completion) -> None:
        shards = self._shards(job_id)
        pending = list(chunk)
        finalizing: Job | None = None  # the job as read when we hold its last tasks
        for attempt in range(MAX_TXN_ATTEMPTS):
            if not pending:
                return
            now = now_iso()
            k = len(pending)
            s = sum(1 for o in pending if o.status is TaskStatus.SUCCEEDED)
            sent = self._with_accounting(job_id, pending, now, finalizing is not None, shards)
            actions = [self._task_update(job_id, o, now, shards) for o in sent]
            usage = _sum_usage(sent)
            actions.append(self._job_update(job_id, k, s, k - s, now, finalizing, usage))
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
                self.db.transact(actions)
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
                    result.skipped += [o.key for o in pending]
                    return
                done = [
                    pending[i]
                    for i, r in enumerate(task_reasons)
                    if r.get("Code") == "ConditionalCheckFailed"
                ]
                if done:  # already terminal: a duplicate, cancelled or timed out meanwhile
                    result.skipped += [o.key for o in done]
                    pending = [o for o in pending if o not in done]
                    finalizing = None
                    continue
                if job_reason.get("Code") == "ConditionalCheckFailed":
                    raw = deserialize(job_reason["Item"])
                    self._saw_job(job_id, raw)
                    old = items.job_of(raw)
                    if old.remaining == k:
                        finalizing = old
                    else:
                        finalizing = None
                        backoff(attempt, base=0.01)
                    continue
                # conflicts with a concurrent transaction on the same items
                backoff(attempt)
                continue
            result.applied += [o.key for o in pending]
            if finalizing is not None:
                result.final_status = final_status(
                    finalizing.succeeded + s, finalizing.failed + (k - s), finalizing.cancelled
                )
            return
        raise RuntimeError(f"could not record {len(pending)} task outcomes of job {job_id}")

    def _with_accounting(
        self, job_id: str, pending: list[TaskOutcome], now: str, finalizing: bool, shards: int
    ) -> list[TaskOutcome]:
        """The outcomes with this transaction's share added to the usage of those that carry
        one (the workers'): one request split among them, each task's own write units, and the
        job item's (and the running marker's) split among them, by DynamoDB's size rules."""
        metered = [o for o in pending if o.usage is not None]
        if not metered:
            return pending
        job_size = self._job_sizes.get(job_id, JOB_ITEM_BYTES) + sizes.item_size(
            items.job_usage_adds(_sum_usage(metered))
        )
        shared = (sizes.TRANSACTION_FACTOR + JOB_INDEXES) * sizes.write_units(job_size)
        if finalizing:
            shared += sizes.TRANSACTION_FACTOR  # the running marker's delete
        share = Usage(
            requests={"dynamodb.TransactWriteItems": 1 / len(metered)},
            write_units=shared / len(metered),
        )
        out = []
        for outcome in pending:
            if outcome.usage is None:
                out.append(outcome)
                continue
            usage = outcome.usage + share
            for _ in range(2):  # the usage map is part of the item it is sized from
                own = sizes.TRANSACTION_FACTOR * sizes.write_units(
                    sizes.item_size(self._task_item_after(job_id, outcome, usage, now, shards))
                )
                sized = outcome.usage + share + Usage(write_units=own)
                if sized == usage:
                    break
                usage = sized
            out.append(dataclasses.replace(outcome, usage=usage))
        return out

    def _task_item_after(
        self, job_id: str, outcome: TaskOutcome, usage: Usage, now: str, shards: int
    ) -> dict[str, Any]:
        """The task item as the accounting leaves it (its size is what DynamoDB charges)."""
        item = items.new_task_item(job_id, outcome.key, int(time.time()), shards)
        item.update({"Status": outcome.status.value, "EndedAt": now})
        if outcome.reason:
            item["Reason"] = outcome.reason[:MAX_REASON]
        item.update({items.camel(n): v for n, v in outcome.counts.items()})
        if outcome.attempts is not None:
            item["Attempts"] = outcome.attempts
        item["Usage"] = items.task_usage_item(usage)
        return item

    def _task_update(
        self, job_id: str, outcome: TaskOutcome, now: str, shards: int
    ) -> dict[str, Any]:
        sets = ["#st = :st", "EndedAt = :now"]
        attr_values: dict[str, Any] = {
            "st": outcome.status.value,
            "now": now,
            "pending": TaskStatus.PENDING.value,
        }
        if outcome.reason:
            sets.append("Reason = :reason")
            attr_values["reason"] = outcome.reason[:MAX_REASON]
        attr_names = {"#st": "Status"}
        extra: dict[str, Any] = {items.camel(n): v for n, v in outcome.counts.items()}
        if outcome.attempts is not None:
            extra["Attempts"] = outcome.attempts
        if outcome.usage is not None:
            extra["Usage"] = items.task_usage_item(outcome.usage)
        for i, (name, value) in enumerate(sorted(extra.items())):
            sets.append(f"#a{i} = :a{i}")
            attr_names[f"#a{i}"] = name
            attr_values[f"a{i}"] = value
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": serialize(
                    {
                        "PK": items.task_pk(job_id, outcome.key, shards),
                        "SK": items.task_sk(outcome.key),
                    }
                ),
                "UpdateExpression": "SET " + ", ".join(sets),
                # no ReturnValuesOnConditionCheckFailure: of a task's cancellation reason,
                # _complete_chunk reads only the Code (ConditionalCheckFailed: already ended)
                "ConditionExpression": "#st = :pending",
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
        finalizing: Job | None,
        usage: Usage | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        adds = items.job_usage_adds(usage) if usage is not None else {}
        names: dict[str, str] = {f"#u{i}": name for i, name in enumerate(adds)}
        added = "".join(f", #u{i} :u{i}" for i in range(len(adds)))
        expr = f"ADD Succeeded :s, Failed :f, Remaining :mk{added} SET UpdatedAt = :now"
        vals: dict[str, Any] = {"s": succeeded, "f": failed, "mk": -k, "k": k, "now": now}
        vals.update({f"u{i}": value for i, value in enumerate(adds.values())})
        if finalizing is None:
            update["ConditionExpression"] = "Remaining > :k"
        else:
            status = final_status(
                finalizing.succeeded + succeeded,
                finalizing.failed + failed,
                finalizing.cancelled,
            )
            expr += ", #st = :final, FinishedAt = :now"
            update["ConditionExpression"] = "Remaining = :k AND Cancelled = :c"
            names["#st"] = "Status"
            vals.update(final=status.value, c=finalizing.cancelled)
        if names:
            update["ExpressionAttributeNames"] = names
        update["UpdateExpression"] = expr
        update["ExpressionAttributeValues"] = values(**vals)
        return {"Update": update}

    def finalize_if_done(self, job_id: str) -> JobStatus | None:
        """Safety net for the polling service: a running job with nothing remaining gets its
        final status (normally the last task's transaction did that already). A marker whose
        job is gone or already final is removed."""
        job = self.get_job(job_id)
        if job is None or not job.running:
            self.db.batch_write(deletes=[{"PK": keys.RUNNING_PK, "SK": job_id}])
            return None
        if job.remaining > 0:
            return None
        status = final_status(job.succeeded, job.failed, job.cancelled)
        try:
            self.db.transact(
                [
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": serialize({"PK": keys.job_pk(job_id), "SK": keys.JOB_SK}),
                            "UpdateExpression": "SET #st = :final, FinishedAt = :now",
                            "ConditionExpression": "#st = :running AND Remaining <= :zero",
                            "ExpressionAttributeNames": {"#st": "Status"},
                            "ExpressionAttributeValues": values(
                                final=status.value,
                                now=now_iso(),
                                running=JobStatus.IN_PROGRESS.value,
                                zero=0,
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
        self.db.batch_write(
            puts=[
                {
                    "PK": keys.BADMSG_PK,
                    "SK": f"{now_iso()}#{message_id}",
                    "Body": body[:4000],
                    "Error": error[:MAX_REASON],
                    "Source": source,
                    "ExpiresAt": int(time.time()) + BAD_MESSAGE_DAYS * 86400,
                }
            ]
        )

    def bad_messages(self, limit: int = 100) -> list[BadMessage]:
        found = self.db.query(keys.BADMSG_PK, forward=False, limit=limit)
        return [
            BadMessage(
                received_at=str(item["SK"]).split("#", 1)[0],
                message_id=str(item["SK"]).split("#", 1)[-1],
                body=str(item.get("Body", "")),
                error=str(item.get("Error", "")),
                source=str(item.get("Source", "")),
            )
            for item in found
        ]

    # ---------------------------------------------------------------- accounts
    def put_accounts(self, accounts: Iterable[Account]) -> int:
        puts = [items.account_item(a) for a in accounts]
        self.db.batch_write(puts=puts)
        return len(puts)

    def remove_account(self, account_id: str) -> bool:
        return self.db.delete_if(keys.ACCOUNT_PK, account_id, "attribute_exists(PK)")

    def list_accounts(self) -> list[Account]:
        return [items.account_of(item) for item in self.db.query(keys.ACCOUNT_PK)]

    def get_account(self, account_id: str) -> Account | None:
        item = self.db.get(keys.ACCOUNT_PK, account_id, consistent=False)
        return items.account_of(item) if item else None

    # ---------------------------------------------------------------- resources
    def put_resources(
        self, resources: Sequence[Resource], job_id: str, collection_id: str, seen_at: str
    ) -> int:
        """Write inventoried resources, stamped with the wall-clock time of this write
        (``SeenAtMs``: what the deletion sweep compares). Returns the requests made."""
        seen_ms = time.time_ns() // 1_000_000
        puts = [items.resource_item(r, job_id, collection_id, seen_at, seen_ms) for r in resources]
        return self.db.batch_write(puts=puts)

    def iter_resources(
        self, account_id: str, service: str, scope: str | None = None
    ) -> Iterator[Resource]:
        """An account's inventory of a service (of one scope), page by page."""
        for item in self.db.query(
            keys.resource_pk(account_id, service), sk_prefix=f"{scope}#" if scope else None
        ):
            yield items.resource_of(item)

    def count_resources(self, account_id: str, service: str) -> int:
        """How many resources of a service the account's inventory holds (Select=COUNT)."""
        return self.db.count(keys.resource_pk(account_id, service))

    def sweep_resources(
        self, account_id: str, service: str, scope: str, collection_id: str, started_ms: int
    ) -> set[str]:
        """Delete the scope's resources that no collection has written since ``started_ms``
        (the collection ``collection_id`` listed the scope completely and did not see them).
        Each delete is conditional: a concurrent collection of the same scope -- SQS's duplicate
        delivery of the task -- keeps what it saw. Returns the ARNs deleted."""
        stale = [
            item
            for item in self.db.query(
                keys.resource_pk(account_id, service),
                sk_prefix=f"{scope}#",
                projection="PK, SK, Arn, CollectionId, SeenAtMs",
            )
            if item.get("CollectionId") != collection_id
            and int(item.get("SeenAtMs") or 0) < started_ms
        ]
        unseen = "attribute_not_exists(SeenAtMs) OR SeenAtMs < :seen"
        seen = values(seen=started_ms)
        return {
            str(item.get("Arn", ""))
            for item in stale
            if self.db.delete_if(item["PK"], item["SK"], unseen, seen)
        }

    # ---------------------------------------------------------------- coverage
    def record_coverage(self, coverage: Coverage) -> None:
        """Record the task of a kind for an (account, service): its success (``at`` set) or its
        failure (``failed_at`` set); the other of the two is kept."""
        expression, names, vals = (
            items.coverage_failure_update(coverage)
            if coverage.at is None
            else items.coverage_success_update(coverage)
        )
        self.db.client.update_item(
            TableName=self.table_name,
            Key=serialize(
                {
                    "PK": keys.coverage_pk(coverage.account_id),
                    "SK": keys.coverage_sk(coverage.kind.value, coverage.service),
                }
            ),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values(**vals),
        )

    def get_coverage(self, account_id: str, kind: TaskKind, service: str) -> Coverage | None:
        item = self.db.get(keys.coverage_pk(account_id), keys.coverage_sk(kind.value, service))
        return items.coverage_of(item) if item else None

    def iter_coverage(self, account_id: str) -> Iterator[Coverage]:
        for item in self.db.query(keys.coverage_pk(account_id)):
            yield items.coverage_of(item)

    # ---------------------------------------------------------------- findings
    def iter_findings(
        self,
        account_id: str,
        policy_id: str | None = None,
        state: FindingState | None = None,
        severity: Severity | None = None,
        page_size: int | None = None,
    ) -> Iterator[Finding]:
        """One account's findings (Query ``FINDING#<account>``, SK prefix ``<policy>#``), state
        and severity applied as filters. Streams page by page."""
        prefix = f"{policy_id}#" if policy_id else ""
        return self.iter_findings_after(account_id, prefix, state, severity, page_size=page_size)

    def iter_open_findings(
        self, policy_id: str, severity: Severity | None = None, page_size: int | None = None
    ) -> Iterator[Finding]:
        """Open findings of one policy across accounts (Query GSI1 ``OPEN#<policy>``, sparse),
        ordered by severity, account, ARN. Streams page by page."""
        return self.iter_open_findings_after(policy_id, severity, page_size=page_size)

    # ------------------------------------------------- keyset reads (pages of the console)
    def get_finding(self, account_id: str, policy_id: str, arn: str) -> Finding | None:
        """One finding by its identity (GetItem), or None."""
        item = self.db.get(keys.finding_pk(account_id), keys.finding_sk(policy_id, arn))
        return items.finding_of(item) if item else None

    def iter_findings_after(
        self,
        account_id: str,
        sk_prefix: str = "",
        state: FindingState | None = None,
        severity: Severity | None = None,
        after: Finding | None = None,
        descending: bool = False,
        page_size: int | None = None,
    ) -> Iterator[Finding]:
        """One account's findings in key order (policy id, then ARN) whose sort key starts with
        ``sk_prefix`` (``"<policy>#"``, ``"<service>."`` or ``""``), resuming just after
        ``after`` (a finding of this account: keyset pagination, a page costs what it reads).
        State and severity are filters."""
        conditions: list[str] = []
        names: dict[str, str] = {}
        filter_values: dict[str, Any] = {}
        if state is not None:
            conditions.append("#state = :state")
            names["#state"] = "State"
            filter_values.update(values(state=state.value))
        if severity is not None:
            conditions.append("#sev = :sev")
            names["#sev"] = "Severity"
            filter_values.update(values(sev=severity.value))
        start = (
            serialize(
                {
                    "PK": keys.finding_pk(account_id),
                    "SK": keys.finding_sk(after.policy_id, after.arn),
                }
            )
            if after is not None
            else None
        )
        for item in self.db.query(
            keys.finding_pk(account_id),
            sk_prefix=sk_prefix or None,
            forward=not descending,
            names=names or None,
            filter_expression=" AND ".join(conditions) or None,
            filter_values=filter_values or None,
            page_size=page_size,
            start_key=start,
        ):
            yield items.finding_of(item)

    def iter_open_findings_after(
        self,
        policy_id: str,
        severity: Severity | None = None,
        after: Finding | None = None,
        descending: bool = False,
        page_size: int | None = None,
    ) -> Iterator[Finding]:
        """Open findings of one policy in the open index's order (severity, account, ARN),
        resuming just after ``after`` (an open finding of this policy)."""
        start = None
        if after is not None:
            start = serialize(
                {
                    "PK": keys.finding_pk(after.account_id),
                    "SK": keys.finding_sk(policy_id, after.arn),
                    "GSI1PK": keys.open_finding_gsi_pk(policy_id),
                    "GSI1SK": items.finding_gsi_sk(
                        after.severity.value, after.account_id, after.arn
                    ),
                }
            )
        for item in self.db.query(
            keys.open_finding_gsi_pk(policy_id),
            sk_prefix=f"{severity.value}#" if severity else None,
            index=keys.JOBS_INDEX,
            forward=not descending,
            page_size=page_size,
            start_key=start,
        ):
            yield items.finding_of(item)

    def iter_tasks_of_accounts(
        self, job_id: str, first_account: str, last_account: str
    ) -> Iterator[Task]:
        """A job's tasks of the accounts ``first_account`` to ``last_account`` (inclusive, in
        account order): a page of a large job's task grid, read without the rest."""
        start = serialize({"PK": keys.job_pk(job_id), "SK": f"{keys.TASK_PREFIX}{first_account}"})
        for item in self.db.query(keys.job_pk(job_id), sk_prefix=keys.TASK_PREFIX, start_key=start):
            task = items.task_of(job_id, item)
            if task.account_id > last_account:
                return
            yield task

    def put_findings(self, findings: Sequence[Finding]) -> int:
        return self.db.batch_write(puts=[items.finding_item(f) for f in findings])

    def put_summary(self, tallies: Iterable[PolicyTally]) -> int:
        """Overwrite per (account, policy) tallies (one item each; idempotent)."""
        return self.db.batch_write(puts=[items.summary_item(t) for t in tallies])

    def summary(self) -> list[PolicyTally]:
        return [items.summary_of(item) for item in self.db.query(keys.SUMMARY_PK)]

    def account_summary(self, account_id: str) -> list[PolicyTally]:
        found = self.db.query(keys.SUMMARY_PK, sk_prefix=f"{account_id}#")
        return [items.summary_of(item) for item in found]

    # ---------------------------------------------------------------- evaluations
    def iter_evaluations(
        self, account_id: str, policy_id: str | None = None
    ) -> Iterator[Evaluation]:
        """Every recorded verdict of an account (of one policy), page by page."""
        for item in self.db.query(
            keys.evaluation_pk(account_id), sk_prefix=f"{policy_id}#" if policy_id else None
        ):
            yield items.evaluation_of(item)

    def put_evaluations(self, evaluations: Sequence[Evaluation]) -> int:
        return self.db.batch_write(puts=[items.evaluation_item(e) for e in evaluations])

    def delete_evaluations(self, account_id: str, policy_arns: Iterable[tuple[str, str]]) -> int:
        deletes = [
            {"PK": keys.evaluation_pk(account_id), "SK": keys.finding_sk(policy_id, arn)}
            for policy_id, arn in policy_arns
        ]
        return self.db.batch_write(deletes=deletes) if deletes else 0

    # ---------------------------------------------------------------- mutes
    def put_mute(self, mute: Mute) -> None:
        self.db.batch_write(puts=[items.mute_item(mute)])

    def delete_mute(self, mute_id: str) -> bool:
        return self.db.delete_if(keys.MUTE_PK, mute_id, "attribute_exists(PK)")

    def list_mutes(self) -> list[Mute]:
        return [items.mute_of(item) for item in self.db.query(keys.MUTE_PK)]


def _sum_usage(outcomes: Iterable[TaskOutcome]) -> Usage:
    """The usage of the outcomes that carry one, each counted as one task."""
    total = Usage()
    for outcome in outcomes:
        if outcome.usage is not None:
            total = total + dataclasses.replace(outcome.usage, tasks=1)
    return total


__all__ = ["BadMessage", "Completion", "Store"]
