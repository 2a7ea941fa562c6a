"""The policies' shared helpers and records: time, wildcards, dropped statements, declarations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qrie.domain import Resource
from qrie.policies import s3
from qrie.policies._util import age, parse_time, statements_dropped, wildcard_match
from qrie.policies.registry import module_policies

POLICIES = {p.id: p for p in module_policies(s3)}


def bucket(type_: str = "s3.bucket", **config: object) -> Resource:
    return Resource(
        arn="arn:aws:s3:::data",
        account_id="111122223333",
        service="s3",
        type=type_,
        scope="global",
        config=dict(config),
    )


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2025-01-01T00:00:00Z", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T00:00:00", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-01T02:00:00+02:00", datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_timestamp_is_an_instant_naive_meaning_utc(text: str, instant: datetime) -> None:
    # GIVEN a timestamp with Z, without a zone, or with an offset / WHEN parsed
    parsed = parse_time(text)
    # THEN it is that instant, aware, and a naive one is taken as UTC
    assert parsed == instant  # an aware instant never equals a naive one


def test_a_naive_timestamp_is_utc_not_local() -> None:
    # GIVEN a timestamp without a zone / WHEN parsed / THEN its zone is UTC (never left naive)
    parsed = parse_time("2025-01-01T00:00:00")
    assert parsed is not None
    assert parsed.tzinfo is UTC


def test_age_takes_a_naive_now_as_utc() -> None:
    # GIVEN a naive "now" one day after a UTC timestamp / WHEN the age is measured
    # THEN it is one day (both instants in UTC), and None for what is not a timestamp
    assert age("2025-01-01T00:00:00Z", datetime(2025, 1, 2)) == timedelta(days=1)
    assert age("2025-01-01T00:00:00Z", datetime(2025, 1, 2, tzinfo=UTC)) == timedelta(days=1)
    assert age("yesterday", datetime(2025, 1, 2)) is None


def test_a_wildcard_spans_any_character_even_a_newline() -> None:
    # GIVEN IAM wildcards / WHEN matched / THEN * is any run (newlines too), ? one character
    assert wildcard_match("arn:aws:s3:::*", "arn:aws:s3:::a\nb")
    assert wildcard_match("arn:aws:s3:::?", "arn:aws:s3:::\n")
    assert not wildcard_match("arn:aws:s3:::?", "arn:aws:s3:::ab")
    assert not wildcard_match("arn:aws:s3:::a.c", "arn:aws:s3:::abc")


@pytest.mark.parametrize(
    ("recorded", "dropped"), [(3, 3), (1, 1), (0, 0), (-1, 0), ("3", 0), (None, 0)]
)
def test_statements_dropped_counts_only_a_positive_number(recorded: object, dropped: int) -> None:
    # GIVEN what the collector recorded about dropped statements / WHEN read
    # THEN only a positive count is a count
    assert statements_dropped(bucket(policy_statements_dropped=recorded), "policy") == dropped


def test_a_declared_policy_keeps_its_title_remediation_types_and_cis_ids() -> None:
    # GIVEN the TLS-only policy as declared / WHEN its record is read
    tls = POLICIES["s3.tls_only"]
    # THEN it is what its declaration says, and it applies to buckets only
    assert tls.title == "S3 bucket policy does not deny HTTP (non-TLS) requests"
    assert tls.remediation.startswith("Console: the bucket > Permissions > Bucket policy > Edit")
    assert tls.applies_to(bucket())
    assert not tls.applies_to(bucket("s3.account"))
    assert tls.cis_ids() == ["CIS v3.0 2.1.1", "CIS v5.0 2.1.1"]
