"""The DynamoDB adapter (``qrie.store.dynamo``) against a recording client: the requests it
sends (keys, expressions, consistency, capacity asked for), the pages it follows, the items it
returns, the capacity it meters, and how it retries a batch's unprocessed items."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qrie.metering import metered
from qrie.store import dynamo
from qrie.store.dynamo import Dynamo

TABLE = "qrie-test"
CAPACITY = {"ReturnConsumedCapacity": "TOTAL"}


class Client:
    """A low-level DynamoDB client that records every call and answers from a script: one
    queued answer per call of an operation (an exception is raised), ``{}`` when none is left."""

    def __init__(self, delay: float = 0.0, **answers: list[Any]) -> None:
        self.delay = delay  # seconds each call takes
        self.answers = {name: list(queue) for name, queue in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: list[int] = []  # the thread of each call
        self._lock = threading.Lock()

    def _answer(self, operation: str, kwargs: dict[str, Any]) -> Any:
        time.sleep(self.delay)
        with self._lock:
            return self._next(operation, kwargs)

    def _next(self, operation: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((operation, kwargs))
        self.threads.append(threading.get_ident())
        queue = self.answers.get(operation, [])
        answer = queue.pop(0) if queue else {}
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def get_item(self, **kwargs: Any) -> Any:
        return self._answer("get_item", kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return self._answer("update_item", kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        return self._answer("transact_write_items", kwargs)

    def delete_item(self, **kwargs: Any) -> Any:
        return self._answer("delete_item", kwargs)

    def query(self, **kwargs: Any) -> Any:
        return self._answer("query", kwargs)

    def batch_write_item(self, **kwargs: Any) -> Any:
        return self._answer("batch_write_item", kwargs)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Operation")


def units(n: float) -> dict[str, Any]:
    """A ConsumedCapacity answer in total units (read or write as the operation is)."""
    return {"ConsumedCapacity": {"TableName": TABLE, "CapacityUnits": n}}


def metered_run(fn: Any) -> tuple[Any, float, float]:
    with metered() as meter:
        result = fn()
    usage = meter.usage()
    return result, usage.read_units, usage.write_units


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch retries' backoff, recorded instead of slept."""
    attempts: list[int] = []
    monkeypatch.setattr(dynamo, "backoff", attempts.append)
    return attempts


# ------------------------------------------------------------------ items in and out
def test_an_item_reads_back_as_plain_python_values() -> None:
    # GIVEN an item with whole and fractional numbers, nested maps, lists and a set
    item = {
        "PK": "JOB#1",
        "Count": 3,
        "Ratio": Decimal("0.25"),
        "Map": {"n": Decimal("2"), "l": [Decimal("1.5"), "x"]},
        "Set": {"a"},
        "Flag": True,
    }
    # WHEN it is serialized and deserialized THEN numbers are ints or floats, sets are lists
    back = dynamo.deserialize(dynamo.serialize(item))
    assert back == {
        "PK": "JOB#1",
        "Count": 3,
        "Ratio": 0.25,
        "Map": {"n": 2, "l": [1.5, "x"]},
        "Set": ["a"],
        "Flag": True,
    }
    assert type(back["Count"]) is int
    assert type(back["Map"]["n"]) is int
    assert type(back["Ratio"]) is float


def test_attributes_without_a_value_are_not_written() -> None:
    # GIVEN an item with a None attribute WHEN it is serialized THEN that attribute is absent
    assert dynamo.serialize({"PK": "a", "Gone": None}) == {"PK": {"S": "a"}}


def test_expression_values_are_named_after_their_keywords() -> None:
    # GIVEN keyword values WHEN turned into ExpressionAttributeValues THEN ":name" -> typed value
    assert dynamo.values(v_x=1, s="a") == {":v_x": {"N": "1"}, ":s": {"S": "a"}}


# ------------------------------------------------------------------ single-item requests
def test_a_get_reads_one_item_consistently_and_meters_its_read() -> None:
    # GIVEN a table holding the item
    client = Client(get_item=[{"Item": {"PK": {"S": "A"}, "N": {"N": "2"}}, **units(0.5)}])
    # WHEN it is read
    item, read, write = metered_run(lambda: Dynamo(client, TABLE).get("A", "B"))
    # THEN one consistent GetItem of that key, its item as plain values, half a read unit
    assert item == {"PK": "A", "N": 2}
    assert client.calls == [
        (
            "get_item",
            {
                "TableName": TABLE,
                "Key": {"PK": {"S": "A"}, "SK": {"S": "B"}},
                "ConsistentRead": True,
                **CAPACITY,
            },
        )
    ]
    assert (read, write) == (0.5, 0.0)


def test_a_get_of_a_missing_item_is_none_and_may_be_eventually_consistent() -> None:
    # GIVEN a table without the item WHEN it is read eventually consistently THEN None
    client = Client(get_item=[{}])
    assert Dynamo(client, TABLE).get("A", "B", consistent=False) is None
    assert client.calls[0][1]["ConsistentRead"] is False


def test_an_update_is_sent_to_the_table_and_metered_as_writes() -> None:
    # GIVEN an update of one item
    client = Client(update_item=[{"Attributes": {"N": {"N": "1"}}, **units(2.0)}])
    # WHEN it is sent
    response, read, write = metered_run(
        lambda: Dynamo(client, TABLE).update(Key={"PK": {"S": "A"}}, UpdateExpression="SET N = :n")
    )
    # THEN the table's UpdateItem with the caller's arguments; its answer; two write units
    assert client.calls == [
        (
            "update_item",
            {
                "TableName": TABLE,
                "Key": {"PK": {"S": "A"}},
                "UpdateExpression": "SET N = :n",
                **CAPACITY,
            },
        )
    ]
    assert response["Attributes"] == {"N": {"N": "1"}}
    assert (read, write) == (0.0, 2.0)


def test_a_transaction_is_sent_whole_and_every_table_it_wrote_is_metered() -> None:
    # GIVEN two actions, DynamoDB answering with one capacity entry per table
    actions = [{"Put": {"TableName": TABLE}}, {"Delete": {"TableName": TABLE}}]
    answer = {"ConsumedCapacity": [{"CapacityUnits": 4.0}, {"CapacityUnits": 2.0}]}
    client = Client(transact_write_items=[answer])
    # WHEN the transaction runs
    response, read, write = metered_run(lambda: Dynamo(client, TABLE).transact(actions))
    # THEN one TransactWriteItems of both actions; its answer; six write units
    assert client.calls == [("transact_write_items", {"TransactItems": actions, **CAPACITY})]
    assert response is answer
    assert (read, write) == (0.0, 6.0)


def test_a_conditional_delete_says_whether_it_deleted() -> None:
    # GIVEN a delete whose condition holds, then one whose condition fails
    client = Client(delete_item=[units(1.0), client_error("ConditionalCheckFailedException")])
    table = Dynamo(client, TABLE)
    # WHEN both are sent
    (deleted, read, write) = metered_run(
        lambda: table.delete_if("A", "B", "Remaining <= :z", dynamo.values(z=0))
    )
    refused = table.delete_if("A", "C", "attribute_exists(PK)")
    # THEN the first deleted (one write unit), the second did not; the condition's values are
    # sent only when given
    assert (deleted, refused) == (True, False)
    assert (read, write) == (0.0, 1.0)
    assert [kwargs for _, kwargs in client.calls] == [
        {
            "TableName": TABLE,
            "Key": {"PK": {"S": "A"}, "SK": {"S": "B"}},
            "ConditionExpression": "Remaining <= :z",
            "ExpressionAttributeValues": {":z": {"N": "0"}},
            **CAPACITY,
        },
        {
            "TableName": TABLE,
            "Key": {"PK": {"S": "A"}, "SK": {"S": "C"}},
            "ConditionExpression": "attribute_exists(PK)",
            **CAPACITY,
        },
    ]


def test_a_delete_failing_for_another_reason_raises() -> None:
    # GIVEN DynamoDB throttling the delete WHEN it is sent THEN the error reaches the caller
    client = Client(delete_item=[client_error("ThrottlingException")])
    with pytest.raises(ClientError, match="ThrottlingException"):
        Dynamo(client, TABLE).delete_if("A", "B", "attribute_exists(PK)")


# ------------------------------------------------------------------ queries
def page(items: list[str], last: str | None = None, n: float = 0.5) -> dict[str, Any]:
    answer: dict[str, Any] = {"Items": [{"SK": {"S": sk}} for sk in items], **units(n)}
    if last:
        answer["LastEvaluatedKey"] = {"SK": {"S": last}}
    return answer


def sks(found: Iterator[dict[str, Any]]) -> list[str]:
    return [item["SK"] for item in found]


def test_a_query_reads_a_partition_consistently_page_by_page() -> None:
    # GIVEN a partition of five items in three pages
    client = Client(query=[page(["a", "b"], "b"), page(["c", "d"], "d"), page(["e"])])
    # WHEN the partition is queried
    found, read, write = metered_run(lambda: sks(Dynamo(client, TABLE).query("P#1")))
    # THEN every item, in order; each page asked from where the last one stopped, every
    # page's reads metered
    assert found == ["a", "b", "c", "d", "e"]
    first = {
        "TableName": TABLE,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "PK"},
        "ExpressionAttributeValues": {":pk": {"S": "P#1"}},
        "ScanIndexForward": True,
        "ConsistentRead": True,
        **CAPACITY,
    }
    assert [kwargs for _, kwargs in client.calls] == [
        first,
        {**first, "ExclusiveStartKey": {"SK": {"S": "b"}}},
        {**first, "ExclusiveStartKey": {"SK": {"S": "d"}}},
    ]
    assert (read, write) == (1.5, 0.0)


def test_a_query_under_a_prefix_with_every_option() -> None:
    # GIVEN a query of the base table with every option
    client = Client(query=[page(["x"])])
    found = sks(
        Dynamo(client, TABLE).query(
            "P#1",
            sk_prefix="TASK#",
            forward=False,
            projection="#s, SK",
            names={"#s": "Status"},
            filter_expression="#s = :st",
            filter_values=dynamo.values(st="FAILED"),
            page_size=50,
            start_key={"PK": {"S": "P#1"}, "SK": {"S": "TASK#9"}},
        )
    )
    # WHEN it runs THEN one request says all of it
    assert found == ["x"]
    assert client.calls == [
        (
            "query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :skp)",
                "ExpressionAttributeNames": {"#pk": "PK", "#s": "Status", "#sk": "SK"},
                "ExpressionAttributeValues": {
                    ":pk": {"S": "P#1"},
                    ":skp": {"S": "TASK#"},
                    ":st": {"S": "FAILED"},
                },
                "ScanIndexForward": False,
                "ConsistentRead": True,
                "ProjectionExpression": "#s, SK",
                "FilterExpression": "#s = :st",
                "Limit": 50,
                "ExclusiveStartKey": {"PK": {"S": "P#1"}, "SK": {"S": "TASK#9"}},
                **CAPACITY,
            },
        )
    ]


def test_a_query_of_the_index_names_its_keys_and_cannot_be_consistent() -> None:
    # GIVEN a query of the GSI under a prefix
    client = Client(query=[page([])])
    # WHEN it runs
    assert sks(Dynamo(client, TABLE).query("G#a", sk_prefix="high#", index="GSI1")) == []
    # THEN the index's key names, its name, and no ConsistentRead (a GSI refuses it)
    kwargs = client.calls[0][1]
    assert kwargs["IndexName"] == "GSI1"
    assert kwargs["ExpressionAttributeNames"] == {"#pk": "GSI1PK", "#sk": "GSI1SK"}
    assert "ConsistentRead" not in kwargs


def test_a_query_stops_at_its_limit_without_reading_further_pages() -> None:
    # GIVEN a partition of pages of two items
    answers = [page(["a", "b"], "b"), page(["c", "d"], "d"), page(["e"])]
    # WHEN at most 3, then at most 2, items are asked for
    client = Client(query=list(answers))
    three = sks(Dynamo(client, TABLE).query("P#1", limit=3))
    two_client = Client(query=list(answers))
    two = sks(Dynamo(two_client, TABLE).query("P#1", limit=2))
    # THEN exactly those, the first from two pages, the second from the first page alone;
    # the limit is not sent as a page size
    assert (three, len(client.calls)) == (["a", "b", "c"], 2)
    assert (two, len(two_client.calls)) == (["a", "b"], 1)
    assert "Limit" not in client.calls[0][1]


def test_a_count_adds_up_every_page() -> None:
    # GIVEN a partition counted in two pages
    client = Client(
        query=[
            {"Count": 1000, "LastEvaluatedKey": {"SK": {"S": "k"}}, **units(10.0)},
            {"Count": 7, **units(0.5)},
        ]
    )
    # WHEN its items are counted
    total, read, write = metered_run(lambda: Dynamo(client, TABLE).count("P#1"))
    # THEN the sum, from consistent COUNT queries, the second from where the first stopped
    assert total == 1007
    first = {
        "TableName": TABLE,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "PK"},
        "ExpressionAttributeValues": {":pk": {"S": "P#1"}},
        "Select": "COUNT",
        "ConsistentRead": True,
        **CAPACITY,
    }
    assert [kwargs for _, kwargs in client.calls] == [
        first,
        {**first, "ExclusiveStartKey": {"SK": {"S": "k"}}},
    ]
    assert (read, write) == (10.5, 0.0)


def test_an_empty_partition_counts_zero() -> None:
    # GIVEN an answer without a Count WHEN counted THEN zero
    assert Dynamo(Client(query=[{}]), TABLE).count("P#1") == 0


# ------------------------------------------------------------------ batched writes
def written(client: Client) -> list[list[dict[str, Any]]]:
    return [kwargs["RequestItems"][TABLE] for _, kwargs in client.calls]


def test_a_batch_write_sends_puts_then_deletes_in_chunks_of_25(no_sleep: list[int]) -> None:
    # GIVEN 40 puts and 20 deletes
    puts = [{"PK": "P", "SK": f"{i:03}", "Gone": None} for i in range(40)]
    deletes = [{"PK": "P", "SK": f"d{i:03}"} for i in range(20)]
    client = Client(batch_write_item=[units(25.0), units(25.0), units(10.0)])
    # WHEN they are written
    requests, read, write = metered_run(
        lambda: Dynamo(client, TABLE).batch_write(puts=puts, deletes=deletes)
    )
    # THEN three requests of 25, 25 and 10, puts first, in order; every write metered
    assert requests == 3
    chunks = written(client)
    assert [len(chunk) for chunk in chunks] == [25, 25, 10]
    flat = [request for chunk in chunks for request in chunk]
    assert flat[0] == {"PutRequest": {"Item": {"PK": {"S": "P"}, "SK": {"S": "000"}}}}
    assert flat[39] == {"PutRequest": {"Item": {"PK": {"S": "P"}, "SK": {"S": "039"}}}}
    assert flat[40] == {"DeleteRequest": {"Key": {"PK": {"S": "P"}, "SK": {"S": "d000"}}}}
    assert flat[59] == {"DeleteRequest": {"Key": {"PK": {"S": "P"}, "SK": {"S": "d019"}}}}
    assert all(kwargs["ReturnConsumedCapacity"] == "TOTAL" for _, kwargs in client.calls)
    assert (read, write) == (0.0, 60.0)
    assert no_sleep == []
    assert set(client.threads) == {threading.get_ident()}, "one thread unless asked for more"


def test_a_batch_write_of_nothing_sends_nothing() -> None:
    # GIVEN nothing to write WHEN written THEN no request
    client = Client()
    assert Dynamo(client, TABLE).batch_write() == 0
    assert client.calls == []


def test_unprocessed_items_are_sent_again_after_a_growing_backoff(no_sleep: list[int]) -> None:
    # GIVEN DynamoDB leaving two items, then one, unprocessed
    puts = [{"PK": "P", "SK": s} for s in "abc"]
    item = {k: dynamo.serialize(put) for k, put in zip("abc", puts, strict=True)}
    client = Client(
        batch_write_item=[
            {
                "UnprocessedItems": {
                    TABLE: [
                        {"PutRequest": {"Item": item["b"]}},
                        {"PutRequest": {"Item": item["c"]}},
                    ]
                }
            },
            {"UnprocessedItems": {TABLE: [{"PutRequest": {"Item": item["c"]}}]}},
            {"UnprocessedItems": {}},
        ]
    )
    # WHEN the items are written
    requests = Dynamo(client, TABLE).batch_write(puts=puts)
    # THEN three requests, each of what was left, with backoffs after attempts 0 and 1
    assert requests == 3
    assert [[r["PutRequest"]["Item"]["SK"]["S"] for r in chunk] for chunk in written(client)] == [
        ["a", "b", "c"],
        ["b", "c"],
        ["c"],
    ]
    assert no_sleep == [0, 1]


def test_items_left_unprocessed_twelve_times_fail_the_write(no_sleep: list[int]) -> None:
    # GIVEN DynamoDB never processing one of two items
    left = {"UnprocessedItems": {TABLE: [{"DeleteRequest": {"Key": {"PK": {"S": "P"}}}}]}}
    client = Client(batch_write_item=[left] * 20)
    # WHEN they are written THEN after 12 requests the write fails, saying how many were left
    with pytest.raises(RuntimeError, match=r"^BatchWriteItem left 1 items unprocessed$"):
        Dynamo(client, TABLE).batch_write(deletes=[{"PK": "P", "SK": "a"}, {"PK": "P", "SK": "b"}])
    assert len(client.calls) == 12
    assert no_sleep == list(range(12))


def test_chunks_are_written_in_parallel_and_every_request_is_counted_and_metered(
    no_sleep: list[int],
) -> None:
    # GIVEN 60 puts (three chunks), two threads, and a chunk needing a second request
    unprocessed = {"UnprocessedItems": {TABLE: [{"PutRequest": {"Item": {}}}]}, **units(1.0)}
    client = Client(0.2, batch_write_item=[unprocessed, units(1.0), units(1.0), units(1.0)])
    puts = [{"PK": "P", "SK": f"{i:03}"} for i in range(60)]
    # WHEN written, metered
    requests, read, write = metered_run(
        lambda: Dynamo(client, TABLE).batch_write(puts=puts, threads=2)
    )
    # THEN every item was sent once plus the retry, in four requests metered to the caller,
    # from two threads, none of them the caller's
    assert requests == 4
    assert sorted(len(chunk) for chunk in written(client)) == [1, 10, 25, 25]
    assert (read, write) == (0.0, 4.0)
    assert threading.get_ident() not in client.threads
    assert len(set(client.threads)) == 2


@pytest.mark.parametrize(("threads", "n"), [(1, 60), (4, 25)])
def test_one_thread_or_one_chunk_is_written_by_the_caller(threads: int, n: int) -> None:
    # GIVEN one thread for three chunks, or four threads for one chunk
    client = Client()
    puts = [{"PK": "P", "SK": f"{i:03}"} for i in range(n)]
    # WHEN written THEN in the caller's thread, one request per chunk
    assert Dynamo(client, TABLE).batch_write(puts=puts, threads=threads) == -(-n // 25)
    assert set(client.threads) == {threading.get_ident()}


def test_two_chunks_are_already_written_in_parallel() -> None:
    # GIVEN 50 puts (two chunks) and two threads
    client = Client(0.2)
    puts = [{"PK": "P", "SK": f"{i:03}"} for i in range(50)]
    # WHEN written THEN by the pool's threads, not the caller's
    assert Dynamo(client, TABLE).batch_write(puts=puts, threads=2) == 2
    assert threading.get_ident() not in client.threads
