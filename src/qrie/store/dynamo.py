"""Low-level DynamoDB helpers: (de)serialization, paginated queries, batched writes.

Every request asks for ``ReturnConsumedCapacity=TOTAL`` and hands the answer to the current
meter (``qrie.metering``): what each task consumes is DynamoDB's own figure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from qrie.aws import backoff, error_code
from qrie.metering import ContextThreadPool, record_capacity

_SER = TypeSerializer()
_DESER = TypeDeserializer()

BATCH_WRITE_SIZE = 25
MAX_UNPROCESSED_ROUNDS = 12
CAPACITY = {"ReturnConsumedCapacity": "TOTAL"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_plain(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESER.deserialize(v)) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments (``v_x=1`` -> ``{":v_x": {"N": "1"}}``)."""
    return {f":{k}": _SER.serialize(v) for k, v in kwargs.items()}


class Dynamo:
    """Thin wrapper over one table with a low-level client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table,
            Key=serialize({"PK": pk, "SK": sk}),
            ConsistentRead=consistent,
            **CAPACITY,
        )
        record_capacity("GetItem", response)
        item = response.get("Item")
        return deserialize(item) if item else None

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """UpdateItem on this table (``kwargs``: Key, UpdateExpression, ...)."""
        response: dict[str, Any] = self.client.update_item(
            TableName=self.table, **kwargs, **CAPACITY
        )
        record_capacity("UpdateItem", response)
        return response

    def transact(self, actions: list[dict[str, Any]]) -> dict[str, Any]:
        """TransactWriteItems (raises botocore's ClientError as the client does)."""
        response: dict[str, Any] = self.client.transact_write_items(
            TransactItems=actions, **CAPACITY
        )
        record_capacity("TransactWriteItems", response)
        return response

    def delete_if(
        self, pk: str, sk: str, condition: str, condition_values: dict[str, Any] | None = None
    ) -> bool:
        """DeleteItem under ``condition``; False (nothing deleted) when the condition fails."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": serialize({"PK": pk, "SK": sk}),
            "ConditionExpression": condition,
        }
        if condition_values:
            kwargs["ExpressionAttributeValues"] = condition_values
        try:
            record_capacity("DeleteItem", self.client.delete_item(**kwargs, **CAPACITY))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def query(
        self,
        pk: str,
        sk_prefix: str | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        projection: str | None = None,
        names: dict[str, str] | None = None,
        filter_expression: str | None = None,
        filter_values: dict[str, Any] | None = None,
        page_size: int | None = None,
        start_key: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a partition (optionally under an SK prefix), page by page."""
        pk_name, sk_name = ("GSI1PK", "GSI1SK") if index else ("PK", "SK")
        expr = "#pk = :pk"
        attr_names = {"#pk": pk_name, **(names or {})}
        attr_values = values(pk=pk)
        if sk_prefix:
            expr += " AND begins_with(#sk, :skp)"
            attr_names["#sk"] = sk_name
            attr_values.update(values(skp=sk_prefix))
        if filter_values:
            attr_values.update(filter_values)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": expr,
            "ExpressionAttributeNames": attr_names,
            "ExpressionAttributeValues": attr_values,
            "ScanIndexForward": forward,
        }
        if index:
            kwargs["IndexName"] = index
        else:
            # base-table reads are strongly consistent: the deletion sweep and the scan read
            # what the same task (or the inventory stage just before) has written
            kwargs["ConsistentRead"] = True
        if projection:
            kwargs["ProjectionExpression"] = projection
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if page_size:
            kwargs["Limit"] = page_size
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        returned = 0
        while True:
            response = self.client.query(**kwargs, **CAPACITY)
            record_capacity("Query", response)
            for raw in response.get("Items", []):
                yield deserialize(raw)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def count(self, pk: str) -> int:
        """How many items a partition holds (Query with Select=COUNT, every page)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "PK"},
            "ExpressionAttributeValues": values(pk=pk),
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        while True:
            response = self.client.query(**kwargs, **CAPACITY)
            record_capacity("Query", response)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def batch_write(
        self,
        puts: list[dict[str, Any]] | None = None,
        deletes: list[dict[str, str]] | None = None,
        threads: int = 1,
    ) -> int:
        """BatchWriteItem in chunks of 25 (``threads`` chunks in parallel), retrying unprocessed
        items with backoff. Returns the number of requests made."""
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": serialize(item)}} for item in puts or []
        ]
        requests += [{"DeleteRequest": {"Key": serialize(key)}} for key in deletes or []]
        chunks = [
            requests[start : start + BATCH_WRITE_SIZE]
            for start in range(0, len(requests), BATCH_WRITE_SIZE)
        ]
        if threads > 1 and len(chunks) > 1:
            with ContextThreadPool(max_workers=min(threads, len(chunks))) as pool:
                return sum(pool.map(self._write_chunk, chunks))
        return sum(self._write_chunk(chunk) for chunk in chunks)

    def _write_chunk(self, pending: list[dict[str, Any]]) -> int:
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            response = self.client.batch_write_item(RequestItems={self.table: pending}, **CAPACITY)
            record_capacity("BatchWriteItem", response)
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return attempt + 1
            backoff(attempt)
        raise RuntimeError(f"BatchWriteItem left {len(pending)} items unprocessed")
