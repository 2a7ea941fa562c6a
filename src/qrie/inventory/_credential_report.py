"""The IAM credential report, parsed: one CSV row per user plus the ``<root_account>`` row.

Pure parsing, no AWS call (the IAM collector fetches the report). The columns and their special
values, as AWS documents them ("Generate credential reports for your AWS account", IAM User
Guide):

- booleans are ``true`` / ``false`` (any case); the root row's ``password_enabled`` is
  ``not_supported``;
- dates are ISO 8601; ``N/A`` means "not applicable" (no password, no such key, a key never
  used), ``no_information`` means "never used, or not since IAM started tracking"
  (``password_last_used``), ``not_supported`` appears in the root row;
- ``access_key_<n>_last_rotated`` is when key ``n`` was created or last changed.

Every user row becomes the credential part of an ``iam.user`` config (``IamUser`` in
:mod:`qrie.inventory.schema`); a value that is neither a flag, a date nor one of those markers
makes that user's credentials unknown (``MalformedCredentialReport``), never a silent default.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ROOT_ROW = "<root_account>"
MALFORMED = "MalformedCredentialReport"
NOT_IN_REPORT = "NotInCredentialReport"
NO_DATE = frozenset({"n/a", "no_information", "not_supported"})
KEY_SLOTS = (1, 2)
REQUIRED_COLUMNS = frozenset(
    {
        "user",
        "arn",
        "user_creation_time",
        "password_enabled",
        "password_last_used",
        "password_last_changed",
        "mfa_active",
        *(f"access_key_{n}_{suffix}" for n in KEY_SLOTS for suffix in ("active", "last_rotated")),
        *(f"access_key_{n}_last_used_date" for n in KEY_SLOTS),
    }
)
# The credential attributes of an ``iam.user`` that come from the report.
USER_FIELDS = (
    "console_access",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_keys",
)
# The root user's last uses, on the ``iam.account`` config.
ROOT_FIELDS = (
    "root_password_last_used",
    "root_access_key_1_last_used",
    "root_access_key_2_last_used",
)


class MalformedValue(ValueError):
    """A report cell that is neither a flag, a date nor a documented marker."""


def report_flag(value: str) -> bool:
    """``true`` / ``false`` (any case) as a bool."""
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise MalformedValue(f"not a flag: {value[:40]!r}")


def report_date(value: str) -> str | None:
    """An ISO 8601 date as a UTC ``...Z`` string; ``N/A``, ``no_information`` and
    ``not_supported`` as None."""
    text = value.strip()
    if text.lower() in NO_DATE:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedValue(f"not a date: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def access_keys(row: dict[str, str]) -> list[dict[str, Any]]:
    """The row's access keys, in slot order: an active key, or an inactive one the report still
    dates. A slot that is inactive and undated holds no key worth judging (none, or an inactive
    key the report says nothing about) and is left out."""
    keys: list[dict[str, Any]] = []
    for slot in KEY_SLOTS:
        active = report_flag(row[f"access_key_{slot}_active"])
        rotated = report_date(row[f"access_key_{slot}_last_rotated"])
        if not active and rotated is None:
            continue
        keys.append(
            {
                "slot": slot,
                "status": "Active" if active else "Inactive",
                "last_rotated": rotated,
                "last_used": report_date(row[f"access_key_{slot}_last_used_date"]),
            }
        )
    return keys


def _unknown(config: dict[str, Any], fields: tuple[str, ...], reason: str) -> None:
    for name in fields:
        config[name] = None
        config.setdefault("unknown", {})[name] = reason


@dataclass
class CredentialReport:
    """The rows by user name, and when AWS generated the report; or why it is unavailable."""

    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    generated: str | None = None
    unavailable: str | None = None  # the reason no report could be read, e.g. "AccessDenied"

    @classmethod
    def failed(cls, reason: str) -> CredentialReport:
        return cls(unavailable=reason)

    @classmethod
    def parse(cls, content: bytes | str, generated: str | None) -> CredentialReport:
        """The report from GetCredentialReport's ``Content`` (boto3 hands it over decoded from
        base64). A report without the documented columns is unavailable (``Malformed...``)."""
        try:
            text = content.decode("utf-8") if isinstance(content, bytes) else content
        except UnicodeDecodeError:
            return cls.failed(MALFORMED)
        reader = csv.DictReader(io.StringIO(text))
        if not set(reader.fieldnames or ()) >= REQUIRED_COLUMNS:
            return cls.failed(MALFORMED)
        rows: dict[str, dict[str, str]] = {}
        try:
            for row in reader:
                name = row.get("user")
                if name and None not in row.values():  # a short row: its cells are None
                    rows[name] = row
        except csv.Error:
            return cls.failed(MALFORMED)
        return cls(rows, generated)

    def fill_user(self, config: dict[str, Any], user_name: str) -> None:
        """Set the credential attributes (:data:`USER_FIELDS`) of ``user_name``'s config, or
        mark them unknown: the report could not be read, has no row for the user (created after
        the report was generated: IAM regenerates it at most every four hours), or the row is
        malformed."""

        def values(row: dict[str, str]) -> dict[str, Any]:
            return {
                "console_access": report_flag(row["password_enabled"]),
                "password_last_used": report_date(row["password_last_used"]),
                "password_last_changed": report_date(row["password_last_changed"]),
                "mfa_active": report_flag(row["mfa_active"]),
                "access_keys": access_keys(row),
            }

        self._fill(config, user_name, USER_FIELDS, values)

    def fill_root(self, config: dict[str, Any]) -> None:
        """Set the root user's last uses (:data:`ROOT_FIELDS`: password, access key 1 and 2;
        None = never used) from the ``<root_account>`` row, or mark them unknown."""

        def values(row: dict[str, str]) -> dict[str, Any]:
            return {
                "root_password_last_used": report_date(row["password_last_used"]),
                "root_access_key_1_last_used": report_date(row["access_key_1_last_used_date"]),
                "root_access_key_2_last_used": report_date(row["access_key_2_last_used_date"]),
            }

        self._fill(config, ROOT_ROW, ROOT_FIELDS, values)

    def _fill(
        self,
        config: dict[str, Any],
        name: str,
        fields: tuple[str, ...],
        values: Callable[[dict[str, str]], dict[str, Any]],
    ) -> None:
        config["credentials_as_of"] = self.generated
        row = self.rows.get(name)
        if self.unavailable is not None or row is None:
            _unknown(config, fields, self.unavailable or NOT_IN_REPORT)
            return
        try:
            config.update(values(row))
        except MalformedValue:
            _unknown(config, fields, MALFORMED)
