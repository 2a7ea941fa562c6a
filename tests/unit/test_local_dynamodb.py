"""The local AWS's DynamoDB Query (``qrie_local.moto_patches``): it reads only the partition
asked for (moto lists and sorts the whole table for every Query) and answers exactly as moto
does: same items, same order, same pages, same LastEvaluatedKey."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support import REGION, Stack

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "P#1"}}},
    {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "P#2"}, ":p": {"S": "b#"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "P#3"}, ":odd": {"N": "1"}},
        "FilterExpression": "N2 = :odd",
        "Limit": 7,
    },
    {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "P#1"}},
        "ExclusiveStartKey": {"PK": {"S": "P#1"}, "SK": {"S": "b#0005"}},
        "Limit": 4,
    },
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "none"}}},
    {
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :g AND begins_with(GSI1SK, :s)",
        "ExpressionAttributeValues": {":g": {"S": "G#a"}, ":s": {"S": "high#"}},
        "Limit": 5,
    },
    {
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :g",
        "ExpressionAttributeValues": {":g": {"S": "G#b"}},
        "ScanIndexForward": False,
    },
]


@pytest.fixture
def table(stack: Stack) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    for p in range(1, 4):
        for n in range(12):
            item = {
                "PK": {"S": f"P#{p}"},
                "SK": {"S": f"{'ab'[n % 2]}#{n:04d}"},
                "N2": {"N": str(n % 2)},
            }
            if n % 3:
                item["GSI1PK"] = {"S": f"G#{'ab'[p % 2]}"}
                item["GSI1SK"] = {"S": f"{('high', 'low')[n % 2]}#{p}#{n:04d}"}
            client.put_item(TableName=stack.table, Item=item)
    return client


def answers(client: Any, table_name: str) -> list[dict[str, Any]]:
    return [
        {
            k: v
            for k, v in client.query(TableName=table_name, **q).items()
            if k != "ResponseMetadata"
        }
        for q in QUERIES
    ]


def test_partition_queries_answer_as_moto_does(table: Any, stack: Stack) -> None:
    from moto.dynamodb.models.table import Table

    # GIVEN the patched Query's answers
    patched = answers(table, stack.table)
    # WHEN the same queries run on moto's own Query
    saved = Table.query
    Table.query = saved.__wrapped__  # type: ignore[attr-defined,method-assign]
    try:
        plain = answers(table, stack.table)
    finally:
        Table.query = saved  # type: ignore[method-assign]
    # THEN every answer is the same, items, order, counts and keys
    assert patched == plain
    # (P#3's first 7 keys hold 1 odd item; after b#0005: b#0007..b#0011; G#a = P#2: 4 "high";
    # G#b = P#1 and P#3: 2 x 8)
    assert [len(a["Items"]) for a in patched] == [12, 6, 1, 3, 0, 4, 16]
    assert "LastEvaluatedKey" in patched[2]
    # and the patch leaves nothing behind on the table
    assert "all_items" not in vars(next(iter(_tables())))


def _tables() -> Iterator[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    yield from dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.values()
