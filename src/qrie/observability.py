"""Powertools Logger, Metrics and Tracer shared by the handlers (namespace ``Qrie``)."""

from __future__ import annotations

import threading

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="qrie")
metrics = Metrics(namespace="Qrie", service="qrie")
tracer = Tracer(service="qrie")

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]


_METRICS_LOCK = threading.Lock()  # Metrics is not thread-safe; a batch's records run in threads


def count(name: str, value: int = 1) -> None:
    if value:
        with _METRICS_LOCK:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
