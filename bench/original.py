"""The original design's fan-out (../shared/fanout-strategy.md, "Production Architecture"),
implemented literally so its requests can be counted the same way as qrie's:

* job handler: one job item (``AccountStatuses`` map with every account ``in_progress``), then
  one ``send_message`` per account;
* worker: per record, the account's inventory (here: no-op collectors, the same credentials
  call qrie makes), then ``update_job_progress``: one ``UpdateItem`` per account that sets the
  account's entry in the map and adds to ``CompletedAccounts``;
* polling service (every 2 minutes): reads the in-progress jobs, checks queue emptiness
  (``GetQueueAttributes``, twice per poll: the inventory and the scan queue), and when the queue
  is empty and ``CompletedAccounts + FailedAccounts == TotalAccounts`` sets the final status.

Items live in qrie's table under their own keys (``ORIGJOB#<id>``), so nothing collides.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from qrie.aws import AccountSessions, Clients
from qrie.errors import PermanentTaskError
from qrie.inventory.registry import SERVICES
from qrie.store.dynamo import deserialize, serialize, values

RUNNING_INDEX_PK = "ORIGJOBS#in_progress"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OriginalDesign:
    def __init__(
        self,
        table: str,
        inventory_queue_url: str,
        scan_queue_url: str,
        sessions: AccountSessions,
        clients: Clients | None = None,
    ) -> None:
        self.table = table
        self.inventory_queue_url = inventory_queue_url
        self.scan_queue_url = scan_queue_url
        self.sessions = sessions
        self.clients = clients or Clients()

    @property
    def ddb(self) -> Any:
        return self.clients.get("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.clients.get("sqs")

    @staticmethod
    def key(job_id: str) -> dict[str, Any]:
        return serialize({"PK": f"ORIGJOB#{job_id}", "SK": "JOB"})

    # ------------------------------------------------------------------ job handler
    def start_inventory(self, service: str, accounts: list[str]) -> str:
        job_id = f"inv-{service.replace('*', 'all')}-{secrets.token_hex(4)}"
        job = {
            "PK": f"ORIGJOB#{job_id}",
            "SK": "JOB",
            "GSI1PK": RUNNING_INDEX_PK,
            "GSI1SK": job_id,
            "JobId": job_id,
            "Operation": "inventory",
            "Service": service,
            "Status": "in_progress",
            "TotalAccounts": len(accounts),
            "CompletedAccounts": 0,
            "FailedAccounts": 0,
            "StartedAt": _now(),
            "AccountStatuses": {a: {"status": "in_progress"} for a in accounts},
        }
        self.ddb.put_item(TableName=self.table, Item=serialize(job))
        for account in accounts:  # enqueue_inventory_tasks: one send_message per account
            self.sqs.send_message(
                QueueUrl=self.inventory_queue_url,
                MessageBody=json.dumps(
                    {"job_id": job_id, "account_id": account, "service": service}
                ),
            )
        return job_id

    # ------------------------------------------------------------------ worker
    def worker(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        from bench.noop import NoopCollector

        for record in event["Records"]:
            message = json.loads(record["body"])
            job_id, account = message["job_id"], message["account_id"]
            services = list(SERVICES) if message["service"] == "*" else [message["service"]]
            try:
                session = self.sessions.for_account(account)
                count = 0
                for service in services:
                    collector = NoopCollector(service)
                    for scope in collector.scopes(session, ["us-east-1"]):
                        count += sum(1 for _ in collector.collect(session, scope))
                self.update_job_progress(job_id, account, "completed", resource_count=count)
            except PermanentTaskError as exc:
                self.update_job_progress(job_id, account, "failed", error=exc.reason)
        return {}

    def update_job_progress(self, job_id: str, account: str, status: str, **details: Any) -> None:
        counter = "CompletedAccounts" if status == "completed" else "FailedAccounts"
        self.ddb.update_item(
            TableName=self.table,
            Key=self.key(job_id),
            UpdateExpression="SET AccountStatuses.#a = :entry ADD #c :one",
            ExpressionAttributeNames={"#a": account, "#c": counter},
            ExpressionAttributeValues=values(entry={"status": status, **details}, one=1),
        )

    # ------------------------------------------------------------------ polling service
    def poll(self) -> list[str]:
        """One run of the polling service; the jobs it finalized."""
        response = self.ddb.query(
            TableName=self.table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues=values(pk=RUNNING_INDEX_PK),
        )
        finalized = []
        for raw in response.get("Items", []):
            job = deserialize(raw)
            empty = [self._queue_empty(url) for url in self._queues()]  # both queues, each poll
            if not all(empty):
                continue
            done = int(job["CompletedAccounts"]) + int(job["FailedAccounts"])
            if done == int(job["TotalAccounts"]):
                final = "completed" if int(job["FailedAccounts"]) == 0 else "completed_with_errors"
                self.ddb.update_item(
                    TableName=self.table,
                    Key=self.key(str(job["JobId"])),
                    UpdateExpression="SET #st = :final, CompletedAt = :now REMOVE GSI1PK, GSI1SK",
                    ExpressionAttributeNames={"#st": "Status"},
                    ExpressionAttributeValues=values(final=final, now=_now()),
                )
                finalized.append(str(job["JobId"]))
        return finalized

    def _queues(self) -> list[str]:
        return [self.inventory_queue_url, self.scan_queue_url]

    def _queue_empty(self, url: str) -> bool:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]) == 0
            and int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
        )

    def job(self, job_id: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key=self.key(job_id), ConsistentRead=True)
        return deserialize(item["Item"]) if "Item" in item else None
