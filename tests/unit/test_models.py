"""Refusals of requests and task messages, word for word: the field named, the problem said,
every quoted value bounded. (The handlers' behaviour on refusal is in test_contract/test_fuzz.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from qrie.errors import ValidationError
from qrie.models import MAX_TASK_MESSAGE_BYTES, excerpt, nesting_depth, parse_request, parse_task

VALID = "inventory, scan, status, list, cancel, retry"
TASK = {
    "v": 1,
    "job_id": "inv-s3-20260101T000000Z-abcdef",
    "kind": "inventory",
    "account_id": "123456789012",
    "service": "s3",
}


def nested(levels: int) -> list[Any]:
    """``levels`` lists, one inside the other."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def refusal(event: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as refused:
        parse_request(event)
    return refused.value.field, refused.value.message


A80, A81, BLANK80 = "a" * 80, "a" * 81, " " * 80
CUT81 = "'" + "a" * 80 + "'…(81 chars)"


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        pytest.param([], "request", "request: must be a JSON object", id="not-an-object"),
        pytest.param(
            {"operation": "list", "x": nested(33)},
            "request",
            "request: nested deeper than 32 levels of lists and objects",
            id="nested-33-levels",
        ),
        pytest.param(
            {"operation": "list", "x": nested(32)},
            "x",
            "x: unknown field",
            id="nested-32-levels-is-judged-field-by-field",
        ),
        pytest.param({}, "operation", f"operation: missing; valid: {VALID}", id="no-operation"),
        pytest.param(
            {"operation": "nuke"},
            "operation",
            f"operation: unknown operation 'nuke'; valid: {VALID}",
            id="unknown-operation",
        ),
        pytest.param(
            {"operation": "inventory", "accounts": "all"},
            "accounts",
            'accounts: must be "*" or a list of 12-digit account ids',
            id="accounts-a-word",
        ),
        pytest.param(
            {"operation": "inventory", "accounts": []},
            "accounts",
            'accounts: must not be empty (use "*" for every registered account)',
            id="accounts-empty",
        ),
        pytest.param(
            {"operation": "inventory", "accounts": [str(i) for i in range(7)]},
            "accounts",
            "accounts: account ids must be 12 digits: '0', '1', '2', '3', '4' and 2 more",
            id="seven-bad-accounts-five-shown",
        ),
        pytest.param(
            {"operation": "inventory", "accounts": [str(i) for i in range(5)]},
            "accounts",
            "accounts: account ids must be 12 digits: '0', '1', '2', '3', '4'",
            id="five-bad-accounts-all-shown",
        ),
        pytest.param(
            {"operation": "inventory", "accounts": [f"{i:012d}" for i in range(7)] * 2},
            "accounts",
            "accounts: duplicate account ids: "
            "000000000000, 000000000001, 000000000002, 000000000003, 000000000004",
            id="duplicates-five-shown",
        ),
        pytest.param(
            {"operation": "status", "job_id": "nope"},
            "job_id",
            "job_id: malformed job id 'nope'",
            id="malformed-job-id",
        ),
        pytest.param({"operation": "list", A80: 1}, A80, f"{A80}: unknown field", id="key-80"),
        pytest.param(
            {"operation": "list", A81: 1}, CUT81, f"{CUT81}: unknown field", id="key-81-cut"
        ),
        pytest.param(
            {"operation": "list", BLANK80: 1},
            f'"{BLANK80}"',
            f'"{BLANK80}": unknown field',
            id="blank-key-quoted",
        ),
        pytest.param({"operation": "list", "": 1}, '""', '"": unknown field', id="empty-key"),
        pytest.param(
            {"operation": "list", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
            "a",
            "a: unknown field; b: unknown field; c: unknown field; d: unknown field; "
            "e: unknown field",
            id="five-problems-all-shown",
        ),
        pytest.param(
            {"operation": "list", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
            "a",
            "a: unknown field; b: unknown field; c: unknown field; d: unknown field; "
            "e: unknown field; and 1 more problems",
            id="six-problems-five-shown",
        ),
    ],
)
def test_a_refused_request_names_the_field_and_the_problem(
    event: Any, field: str, message: str
) -> None:
    # GIVEN an invalid job request (built in the parameters)
    # WHEN it is parsed
    # THEN it is refused naming the field, with exactly this message
    assert refusal(event) == (field, message)


def test_one_problem_is_said_in_at_most_320_characters() -> None:
    # GIVEN five account ids of 100 characters each (each quoted as an 80-character excerpt)
    event = {"operation": "inventory", "accounts": ["x" * 100] * 5}
    # WHEN the request is refused
    field, message = refusal(event)
    # THEN the problem is cut at 320 characters, and says so
    problem = message.removeprefix("accounts: ")
    assert field == "accounts"
    assert len(problem) == 321
    assert problem.startswith("account ids must be 12 digits: 'xxx")
    assert problem.endswith("…")


@pytest.mark.parametrize(
    ("accounts", "length", "cut"),
    [
        pytest.param(["y" * 65] + ["x" * 70] * 3, 320, False, id="320-kept"),
        pytest.param(["y" * 66] + ["x" * 70] * 3, 321, True, id="321-cut"),
        pytest.param(["y" * 60] + ["x" * 70] * 4, 321, True, id="389-cut"),
    ],
)
def test_a_problem_of_320_characters_is_kept_whole_and_a_longer_one_cut(
    accounts: list[str], length: int, cut: bool
) -> None:
    # GIVEN bad account ids whose problem says 320, 321 or 389 characters
    # WHEN refused / THEN up to 320 characters are kept whole, more are cut there and marked
    problem = refusal({"operation": "inventory", "accounts": accounts})[1]
    problem = problem.removeprefix("accounts: ")
    assert (len(problem), problem.endswith("…")) == (length, cut)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("x" * 80, repr("x" * 80)),
        ("x" * 81, repr("x" * 80) + "…(81 chars)"),
        (None, "None"),
        (True, "True"),
        (1.5, "1.5"),
        (10**100, "1" + "0" * 79 + "…(101 chars)"),
        (10**79, "1" + "0" * 79),
        ({"a": 1}, "<dict>"),
        ([1], "<list>"),
    ],
)
def test_a_refused_value_is_quoted_as_a_bounded_excerpt(value: Any, quoted: str) -> None:
    # GIVEN a refused value / WHEN quoted back / THEN at most 80 characters of it, or its type
    assert excerpt(value) == quoted


@pytest.mark.parametrize(
    ("value", "depth"),
    [(5, 0), ([], 0), ([1], 1), ({"a": [1, {"b": 2}]}, 3), (nested(40), 33)],
)
def test_nesting_depth_counts_levels_and_stops_past_the_limit(value: Any, depth: int) -> None:
    # GIVEN a JSON value / WHEN its nesting is measured
    # THEN each list or object level counts once, and counting stops at the limit + 1
    assert nesting_depth(value) == depth


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param(
            "x" * (MAX_TASK_MESSAGE_BYTES + 1),
            "body",
            "body: 4097 bytes, a task message has at most 4096",
            id="over-size",
        ),
        pytest.param(
            "x" * MAX_TASK_MESSAGE_BYTES,
            "request",
            "request: Invalid JSON: expected value at line 1 column 1",
            id="at-size-judged-as-json",
        ),
        pytest.param(
            json.dumps({**TASK, "account_id": "12345678901"}),
            "account_id",
            "account_id: must be 12 digits",
            id="short-account",
        ),
    ],
)
def test_a_refused_task_message_names_the_field_and_the_problem(
    body: str, field: str, message: str
) -> None:
    # GIVEN a task message body / WHEN parsed / THEN refused with exactly this field and message
    with pytest.raises(ValidationError) as refused:
        parse_task(body)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_a_valid_task_message_parses_to_its_task() -> None:
    # GIVEN a well-formed task message / WHEN parsed / THEN its key names the task
    message = parse_task(json.dumps(TASK))
    assert (message.job_id, message.key.account_id, message.key.service) == (
        TASK["job_id"],
        "123456789012",
        "s3",
    )
