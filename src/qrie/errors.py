"""Typed exceptions. One place (qrie.jobs.worker) maps them to task outcomes."""

from __future__ import annotations


class QrieError(Exception):
    """Base of every qrie error."""


class ConfigurationError(QrieError):
    """The environment is missing or has a malformed setting."""


class ValidationError(QrieError):
    """A request was refused. ``field`` names what is wrong; nothing was written."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def to_response(self) -> dict[str, dict[str, str]]:
        body = {"code": "ValidationError", "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


class TaskError(QrieError):
    """Base of errors raised while working on one task."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentTaskError(TaskError):
    """Retrying will not help (AccessDenied, missing role, malformed message): fail the task now."""


class TransientTaskError(TaskError):
    """Retrying may help (throttling, 5xx, timeouts): let SQS redeliver after a backoff."""
