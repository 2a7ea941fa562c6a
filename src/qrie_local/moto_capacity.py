"""DynamoDB's ``ConsumedCapacity`` answers, for the local AWS.

moto answers ``ReturnConsumedCapacity`` with fixed figures (0.5 for any GetItem, 1.0 for any
BatchWriteItem whatever it wrote, nothing for a transaction). qrie's cost figures are built from
these answers, so the local AWS computes them as DynamoDB does (on-demand request units):

- reads: the item's size (GetItem) or the summed size of the items a Query evaluated, before
  its filter and projection, rounded up to 4 KB; 1 unit per 4 KB strongly consistent, 0.5
  eventually consistent, at least one unit;
- writes: the larger of the item's size before and after, rounded up to 1 KB, at least one
  unit; twice that in a transaction (prepare and commit); plus one write to each global
  secondary index the item is in before or after (two when its index keys change);
- a request that fails (a condition, a cancelled transaction) answers no capacity, as DynamoDB
  answers none with an error.

Item sizes are moto's (attribute names plus values). Part of the local AWS, never of qrie.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

READ_UNIT = 4096
WRITE_UNIT = 1024
TRANSACTION_FACTOR = 2

_query_bytes = threading.local()  # what the Query being answered evaluated (this thread)


def _size(item: Any) -> int:
    return int(item.size()) if item is not None else 0


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / READ_UNIT)) * (1.0 if consistent else 0.5)


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT))


def _index_writes(table: Any, old: Any, new: Any) -> int:
    """Writes to the table's global secondary indexes for an item going from old to new."""
    units = 0
    size = max(_size(old), _size(new))
    for index in table.global_indexes or []:
        names = [k["AttributeName"] for k in index.schema]

        def keys(item: Any, names: list[str] = names) -> tuple[Any, ...] | None:
            if item is None or not all(n in item.attrs for n in names):
                return None
            return tuple(item.attrs[n] for n in names)

        before, after = keys(old), keys(new)
        if before is None and after is None:
            continue
        moved = before is not None and after is not None and before != after
        units += write_units(size) * (2 if moved else 1)
    return units


class _Writes:
    """Sizes of the items a write touches, before and after it (per table)."""

    def __init__(self, handler: Any) -> None:
        self.backend = handler.dynamodb_backend
        self.before: list[tuple[str, dict[str, Any], Any]] = []

    def key_of(self, table_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
        table = self.backend.get_table(table_name)
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key

    def lookup(self, table_name: str, key: dict[str, Any]) -> Any:
        try:
            item = self.backend.get_item(table_name, key)
        except Exception:  # an invalid key: moto's own call refuses it
            return None
        return _Sized(_size(item), item.attrs if item is not None else None)

    def note(self, table_name: str, key: dict[str, Any]) -> None:
        self.before.append((table_name, key, self.lookup(table_name, key)))

    def units(self, factor: int = 1) -> dict[str, float]:
        """Write units per table, from the noted items' sizes before and now."""
        per_table: dict[str, float] = {}
        for table_name, key, old in self.before:
            new = self.lookup(table_name, key)
            table = self.backend.get_table(table_name)
            size = max(_size(old), _size(new))
            units = factor * write_units(size) + _index_writes(table, old, new)
            per_table[table_name] = per_table.get(table_name, 0.0) + units
        return per_table


class _Sized:
    """An item's size and attributes at one moment (moto's items change in place)."""

    def __init__(self, size: int, attrs: dict[str, Any] | None) -> None:
        self._size = size
        self.attrs = dict(attrs) if attrs is not None else {}
        self.present = attrs is not None

    def size(self) -> int:
        return self._size


def _answer(handler: Any, result: Any, per_table: dict[str, float], kind: str, listed: bool) -> Any:
    if handler.body.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return result
    entries = [
        {
            "TableName": name,
            "CapacityUnits": units,
            f"{kind}CapacityUnits": units,
            "Table": {"CapacityUnits": units, f"{kind}CapacityUnits": units},
        }
        for name, units in per_table.items()
    ]
    body = result.result
    if isinstance(body, dict):
        body["ConsumedCapacity"] = entries if listed else (entries[0] if entries else None)
    return result


def _present(item: Any) -> Any:
    return item if item is not None and getattr(item, "present", True) else None


def _write_handler(
    original: Callable[..., Any], lock: AbstractContextManager[Any], kind: str
) -> Callable[..., Any]:
    @functools.wraps(original)
    def handler(self: Any) -> Any:
        with lock:
            writes = _Writes(self)
            body = self.body
            if kind == "single":
                name = body["TableName"]
                key = body.get("Key") or writes.key_of(name, body["Item"])
                writes.note(name, key)
                return _answer(self, original(self), writes.units(), "Write", listed=False)
            if kind == "batch":
                for name, requests in body["RequestItems"].items():
                    for request in requests:
                        if "PutRequest" in request:
                            writes.note(name, writes.key_of(name, request["PutRequest"]["Item"]))
                        else:
                            writes.note(name, request["DeleteRequest"]["Key"])
                return _answer(self, original(self), writes.units(), "Write", listed=True)
            for action in body["TransactItems"]:  # kind == "transaction"
                op = next(iter(action.values()))
                name = op["TableName"]
                key = op.get("Key") or writes.key_of(name, op["Item"])
                writes.note(name, key)
            result = original(self)
            return _answer(self, result, writes.units(TRANSACTION_FACTOR), "Write", listed=True)

    return handler


def _get_item(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def handler(self: Any) -> Any:
        result = original(self)
        body = self.body
        item = _Writes(self).lookup(body["TableName"], body["Key"])
        units = read_units(_size(_present(item)), bool(body.get("ConsistentRead", False)))
        return _answer(self, result, {body["TableName"]: units}, "Read", listed=False)

    return handler


def _query_handler(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def handler(self: Any) -> Any:
        _query_bytes.value = 0
        result = original(self)
        body = self.body
        units = read_units(int(_query_bytes.value), bool(body.get("ConsistentRead", False)))
        return _answer(self, result, {body["TableName"]: units}, "Read", listed=False)

    return handler


def _table_query(original: Callable[..., Any]) -> Callable[..., Any]:
    """Table.query, recording the size of the items it evaluated before its filter and
    projection (what a Query is charged for), then filtering and projecting as moto does."""

    @functools.wraps(original)
    def query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: Any = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        **kwargs: Any,
    ) -> Any:
        results, scanned, last = original(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            None,
            index_name,
            consistent_read,
            None,
            **kwargs,
        )
        _query_bytes.value = sum(_size(r) for r in results)
        if filter_expression is not None:
            results = [r for r in results if filter_expression.expr(r)]
        if projection_expressions:
            results = [r.project(projection_expressions) for r in results]
        return results, scanned, last

    return query


def apply(lock: AbstractContextManager[Any] | None = None) -> None:
    """Install on moto's DynamoDB (once, from ``moto_patches.apply``). ``lock``: the one that
    serializes the backend's writes, held across a write and its before/after lookups."""
    from moto.dynamodb.models.table import Table  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    held = lock if lock is not None else nullcontext()
    DynamoHandler.get_item = _get_item(DynamoHandler.get_item)  # type: ignore[method-assign]
    DynamoHandler.query = _query_handler(DynamoHandler.query)  # type: ignore[method-assign]
    for name, kind in (
        ("put_item", "single"),
        ("update_item", "single"),
        ("delete_item", "single"),
        ("batch_write_item", "batch"),
        ("transact_write_items", "transaction"),
    ):
        setattr(DynamoHandler, name, _write_handler(getattr(DynamoHandler, name), held, kind))
    Table.query = _table_query(Table.query)  # type: ignore[method-assign]
