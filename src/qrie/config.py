"""Typed settings, read from the environment when first asked for (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from qrie.errors import ConfigurationError

# Every environment variable Settings.from_env reads (a function's template environment holds
# those its handler needs: see qrie.handlers.needs).
VARIABLES = (
    "TABLE_NAME",
    "INVENTORY_QUEUE_URL",
    "SCAN_QUEUE_URL",
    "DLQ_URL",
    "MEMBER_ROLE_NAME",
    "EXTERNAL_ID",
    "REGIONS",
    "STAGE",
    "JOB_TIMEOUT_SECONDS",
    "RETRY_BASE_SECONDS",
    "MAX_RETRY_SECONDS",
    "JOB_TTL_DAYS",
    "REGION_THREADS",
    "ENQUEUE_THREADS",
    "MAX_RECEIVE_COUNT",
    "JOB_CACHE_SECONDS",
)


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs from its environment (the template's Environment)."""

    table_name: str
    inventory_queue_url: str = ""
    scan_queue_url: str = ""
    dlq_url: str = ""
    member_role_name: str = "QrieReadOnly"
    external_id: str = field(default="", repr=False)  # never printed or logged
    regions: tuple[str, ...] = ("us-east-1",)
    stage: str = "dev"
    job_timeout_seconds: int = 3600
    retry_base_seconds: int = 30
    max_retry_seconds: int = 900
    job_ttl_days: int = 90
    region_threads: int = 8
    enqueue_threads: int = 16
    max_receive_count: int = 3
    job_cache_seconds: int = 5
    record_threads: int = 10  # a batch's records worked on at once (per account: one at a time)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        table = env.get("TABLE_NAME", "").strip()
        if not table:
            raise ConfigurationError(
                "TABLE_NAME is not set: the function's environment is incomplete"
            )
        regions = tuple(r.strip() for r in env.get("REGIONS", "us-east-1").split(",") if r.strip())
        if not regions:
            raise ConfigurationError("REGIONS must name at least one region")

        def _int(name: str, default: int) -> int:
            raw = env.get(name, "")
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
            if value < 0:
                raise ConfigurationError(f"{name} must be >= 0, got {value}")
            return value

        return cls(
            table_name=table,
            inventory_queue_url=env.get("INVENTORY_QUEUE_URL", ""),
            scan_queue_url=env.get("SCAN_QUEUE_URL", ""),
            dlq_url=env.get("DLQ_URL", ""),
            member_role_name=env.get("MEMBER_ROLE_NAME", "QrieReadOnly") or "QrieReadOnly",
            external_id=env.get("EXTERNAL_ID", ""),
            regions=regions,
            stage=env.get("STAGE", "dev"),
            job_timeout_seconds=_int("JOB_TIMEOUT_SECONDS", 3600),
            retry_base_seconds=_int("RETRY_BASE_SECONDS", 30),
            max_retry_seconds=_int("MAX_RETRY_SECONDS", 900),
            job_ttl_days=_int("JOB_TTL_DAYS", 90),
            region_threads=max(1, _int("REGION_THREADS", 8)),
            enqueue_threads=max(1, _int("ENQUEUE_THREADS", 16)),
            max_receive_count=max(1, _int("MAX_RECEIVE_COUNT", 3)),
            job_cache_seconds=_int("JOB_CACHE_SECONDS", 5),
            record_threads=max(1, _int("RECORD_THREADS", 10)),
        )

    def queue_url(self, kind: str) -> str:
        url = self.inventory_queue_url if kind == "inventory" else self.scan_queue_url
        if not url:
            name = "INVENTORY_QUEUE_URL" if kind == "inventory" else "SCAN_QUEUE_URL"
            raise ConfigurationError(f"{name} is not set")
        return url


def get_settings() -> Settings:
    """Read settings now. Cheap: handlers call it once per invocation."""
    return Settings.from_env()
