"""DynamoDB's item size rules (``qrie.store.sizes``), which the accounting bills a task's
transaction by: the sizes as DynamoDB documents them, and the write units they cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from qrie.store import sizes


@pytest.mark.parametrize(
    ("number", "size"),
    [
        # one byte per two significant digits (rounded up), plus one byte
        (0, 2),
        (7, 2),
        (12, 2),
        (123, 3),
        (1234, 3),
        (12345, 4),
        (123456, 4),
        # the sign and the zeros around the significant digits are not counted
        (-7, 2),
        (-12345, 4),
        (1500, 2),
        (1_000_000_000, 2),
        (Decimal("0.00123"), 3),
        (Decimal("-12.5"), 3),
        (Decimal("1500.000"), 2),
        (Decimal("1.5E+20"), 2),
        (Decimal("0"), 2),
        (2.5, 2),
        (1.5e20, 2),
        (0.000125, 3),
        # DynamoDB keeps up to 38 significant digits: every one of them counts
        (Decimal("1234567890123456789012345678901234567"), 20),
        (Decimal("-0.1234567890123456789012345678901234567"), 20),
        (12345678901234567890123456789012345678, 20),
    ],
)
def test_a_number_is_sized_by_its_significant_digits(number: Any, size: int) -> None:
    # GIVEN a number attribute WHEN it is sized THEN it counts as DynamoDB counts it
    assert sizes.value_size(number) == size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (None, 1),
        (True, 1),
        (False, 1),
        ("", 0),
        ("abc", 3),
        ("héllo", 6),  # UTF-8 bytes, not characters
        (b"\x00\x01\x02", 3),
        (bytearray(b"abcd"), 4),
        # lists: 3 bytes plus each element and 1 byte per element
        ([], 3),
        (["ab", 12], 3 + (2 + 1) + (2 + 1)),
        (("ab",), 3 + 3),
        # maps: 3 bytes plus each key (UTF-8), its value and 1 byte per element
        ({}, 3),
        ({"a": "xy", "bé": None}, 3 + (1 + 2 + 1) + (3 + 1 + 1)),
        ({"m": {"n": [True]}}, 3 + (1 + (3 + (1 + (3 + 1 + 1) + 1)) + 1)),
        # sets: their elements only
        ({"a", "bcd"}, 4),
        (frozenset({1, 123}), 2 + 3),
    ],
)
def test_every_attribute_type_is_sized_by_dynamodbs_rules(value: Any, size: int) -> None:
    # GIVEN an attribute value of each type WHEN it is sized THEN its documented size
    assert sizes.value_size(value) == size


def test_a_value_without_a_size_rule_is_refused_naming_its_type() -> None:
    # GIVEN a value DynamoDB cannot store WHEN it is sized THEN a clear error names the type
    with pytest.raises(TypeError, match=r"^no DynamoDB size rule for object$"):
        sizes.value_size(object())


def test_an_item_is_its_attribute_names_plus_their_values() -> None:
    # GIVEN an item with ASCII and non-ASCII attribute names
    item = {"PK": "JOB#1", "Count": 12345, "Não": None}
    # WHEN it is sized THEN every name's UTF-8 bytes and every value count
    assert sizes.item_size(item) == (2 + 5) + (5 + 4) + (4 + 1)
    assert sizes.item_size({}) == 0


@pytest.mark.parametrize(
    ("size", "units"),
    [(0, 1), (1, 1), (1023, 1), (1024, 1), (1025, 2), (2048, 2), (2049, 3), (10 * 1024, 10)],
)
def test_a_write_costs_one_unit_per_started_kilobyte(size: int, units: int) -> None:
    # GIVEN an item of ``size`` bytes WHEN it is written THEN one unit per started KB, at least one
    assert sizes.write_units(size) == units


def test_a_transaction_writes_every_item_twice() -> None:
    # GIVEN DynamoDB's transactions (prepare, then commit) THEN each item is billed twice
    assert sizes.TRANSACTION_FACTOR * sizes.write_units(1500) == 4
