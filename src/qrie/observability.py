"""Powertools Logger and Metrics shared by the handlers (namespace ``Qrie``), and X-Ray tracing
when the stack turns it on.

Tracing is opt-in (template parameter ``Tracing``, default ``Disabled``). ``Active`` traces
every invocation, attaches the TracingLayer (the X-Ray SDK) and sets
``POWERTOOLS_TRACE_DISABLED=false``. Only then is a Powertools ``Tracer`` created: creating one,
even disabled, imports the X-Ray SDK (about 230 ms of a cold start).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="qrie")
metrics = Metrics(namespace="Qrie", service="qrie")

__all__ = ["MetricUnit", "count", "logger", "metrics", "traced", "tracing_enabled"]

Handler = TypeVar("Handler", bound=Callable[..., Any])


_METRICS_LOCK = threading.Lock()  # Metrics is not thread-safe; a batch's records run in threads


def count(name: str, value: int = 1) -> None:
    if value:
        with _METRICS_LOCK:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def tracing_enabled(env: dict[str, str] | None = None) -> bool:
    """Powertools' own switch: tracing unless ``POWERTOOLS_TRACE_DISABLED`` is true."""
    raw = (os.environ if env is None else env).get("POWERTOOLS_TRACE_DISABLED", "false")
    return raw.strip().lower() not in {"1", "true", "yes", "on", "y", "t"}


def traced(handler: Handler) -> Handler:
    """``handler`` traced by Powertools' Tracer when tracing is on; ``handler`` itself otherwise.

    Tracing on without the X-Ray SDK (a function deployed without the TracingLayer) logs a
    warning and runs untraced rather than failing every invocation."""
    if not tracing_enabled():
        return handler
    try:
        import aws_xray_sdk  # noqa: F401, PLC0415 - only when tracing is on
    except ImportError:
        logger.warning(
            "tracing is on (POWERTOOLS_TRACE_DISABLED is not true) but the X-Ray SDK is not "
            "installed (the TracingLayer is missing): running untraced"
        )
        return handler
    from aws_lambda_powertools import Tracer  # noqa: PLC0415

    return cast(Handler, Tracer(service="qrie").capture_lambda_handler(handler))
