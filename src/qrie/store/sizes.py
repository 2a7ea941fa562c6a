"""DynamoDB's item size rules, and the capacity units a write or read of that size costs.

The store predicts the capacity of its accounting transaction with them (the transaction carries
its own usage, so it cannot wait for the answer): sizes as DynamoDB counts them, writes in 1 KB
units (2 per item in a transaction: prepare and commit), reads in 4 KB units.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2  # DynamoDB prepares and commits every item of a transaction


def _number_size(value: int | float | Decimal) -> int:
    """About one byte per two significant digits, plus one byte (every digit counts: DynamoDB
    keeps up to 38, more than ``Decimal.normalize`` would under its default 28-digit context)."""
    text = str(Decimal(str(value)))  # "1.5E+20" for a float's "1.5e+20"
    digits = "".join(ch for ch in text.partition("E")[0] if ch.isdigit()).strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Any) -> int:
    """Size of an attribute value: strings and binary by length; numbers by significant digits;
    null/boolean 1 byte; lists and maps 3 bytes plus 1 byte per element."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        return _number_size(value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    if isinstance(value, set | frozenset):
        return sum(value_size(v) for v in value)
    raise TypeError(f"no DynamoDB size rule for {type(value).__name__}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item: every attribute's name plus its value."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write request units of one item write (at least one)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))
