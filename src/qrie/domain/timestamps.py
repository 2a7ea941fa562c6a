"""The one timestamp format qrie stores and shows: ISO 8601 UTC with microseconds and ``Z``
(``2024-05-01T12:00:00.000000Z``). Such strings sort as the times they name."""

from __future__ import annotations

from datetime import UTC, datetime

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp(when: datetime) -> str:
    """``when`` in the stored format (a naive datetime is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def now_iso() -> str:
    """The current time in the stored format."""
    return timestamp(datetime.now(UTC))


def parse_timestamp(text: str) -> datetime:
    """The aware datetime of a stored time (other ISO 8601 forms are accepted; naive = UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
