"""What a job costs in AWS: its measured usage (``qrie.domain.Usage``) times a price table.

The prices are data (``cost_prices.json``: per region, Lambda per architecture; its sources and
date inside), replaceable as a whole with ``QRIE_PRICES=/path/to/prices.json``. A region without
an entry is priced as us-east-1 and says so (``estimated_region``). No AWS call, no runtime
dependency: the CLI, the console and the benchmarks price usage the same way.

Parts: **Lambda compute** (GB-seconds), **Lambda requests** (invocations), **SQS** (every SQS
request: the job handler's sends, the event source mapping's receives and deletes, the workers'
visibility changes and sends) and **DynamoDB** (read and write request units). The member
accounts' own API calls are free to the hub (STS AssumeRole is free); they are counted in the
usage, not priced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from qrie.domain.usage import Usage

PRICES_ENV = "QRIE_PRICES"
DEFAULT_REGION = "us-east-1"
DEFAULT_ARCHITECTURE = "arm64"  # template.yaml's Architectures
ARCHITECTURES = ("arm64", "x86_64")


class PriceError(ValueError):
    """The price table cannot be read, or has no price for what was asked."""


@dataclass(frozen=True)
class Prices:
    region: str
    architecture: str
    lambda_gb_second: float
    lambda_request: float
    sqs_request: float
    dynamodb_write_unit: float
    dynamodb_read_unit: float
    source: str  # where the table came from (file) and its date
    estimated_region: bool = False  # no entry for the region: us-east-1's prices

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "architecture": self.architecture,
            "lambda_gb_second": self.lambda_gb_second,
            "lambda_request": self.lambda_request,
            "sqs_request": self.sqs_request,
            "dynamodb_write_unit": self.dynamodb_write_unit,
            "dynamodb_read_unit": self.dynamodb_read_unit,
            "source": self.source,
            "estimated_region": self.estimated_region,
        }


@dataclass(frozen=True)
class Cost:
    """USD by part."""

    lambda_compute: float
    lambda_requests: float
    sqs: float
    dynamodb: float
    prices: Prices

    @property
    def total(self) -> float:
        return self.lambda_compute + self.lambda_requests + self.sqs + self.dynamodb

    def parts(self) -> dict[str, float]:
        return {
            "lambda_compute": self.lambda_compute,
            "lambda_requests": self.lambda_requests,
            "sqs": self.sqs,
            "dynamodb": self.dynamodb,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "total": round(self.total, 9),
            "parts": {name: round(value, 9) for name, value in self.parts().items()},
            "prices": self.prices.to_dict(),
        }


def load_table(path: str | Path | None = None) -> dict[str, Any]:
    """The price table: ``path``, else ``$QRIE_PRICES``, else the packaged one."""
    chosen = path or os.environ.get(PRICES_ENV) or None
    try:
        if chosen:
            text = Path(chosen).read_text(encoding="utf-8")
            origin = str(chosen)
        else:
            text = resources.files("qrie").joinpath("cost_prices.json").read_text("utf-8")
            origin = "qrie/cost_prices.json"
        table = json.loads(text)
    except (OSError, ValueError) as exc:
        where = chosen or "qrie/cost_prices.json"
        raise PriceError(f"cannot read the price table {where}: {exc}") from exc
    if not isinstance(table, dict) or not isinstance(table.get("regions"), dict):
        raise PriceError(f"price table {origin}: no 'regions' object")
    table.setdefault("_origin", origin)
    return table


def prices(
    region: str | None = None,
    architecture: str = DEFAULT_ARCHITECTURE,
    table: Mapping[str, Any] | None = None,
) -> Prices:
    """The prices of ``region`` (us-east-1's, flagged, when the table has none for it)."""
    table = table if table is not None else load_table()
    regions = table["regions"]
    region = region or DEFAULT_REGION
    entry = regions.get(region)
    estimated = entry is None
    if entry is None:
        entry = regions.get(DEFAULT_REGION)
        if entry is None:
            raise PriceError(f"price table has no prices for {region} nor {DEFAULT_REGION}")
    try:
        gb_second = entry["lambda"]["gb_second"][architecture]
        return Prices(
            region=region,
            architecture=architecture,
            lambda_gb_second=float(gb_second),
            lambda_request=float(entry["lambda"]["request"]),
            sqs_request=float(entry["sqs"]["request"]),
            dynamodb_write_unit=float(entry["dynamodb"]["write_unit"]),
            dynamodb_read_unit=float(entry["dynamodb"]["read_unit"]),
            source=f"{table.get('_origin', 'prices')} (prices as of "
            f"{table.get('prices_as_of', '?')})",
            estimated_region=estimated,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceError(
            f"price table: no usable {architecture} prices for {region}: {exc}"
        ) from exc


def cost_of(usage: Usage, price: Prices) -> Cost:
    return Cost(
        lambda_compute=usage.gb_seconds * price.lambda_gb_second,
        lambda_requests=usage.invocations * price.lambda_request,
        sqs=usage.service_requests("sqs") * price.sqs_request,
        dynamodb=usage.read_units * price.dynamodb_read_unit
        + usage.write_units * price.dynamodb_write_unit,
        prices=price,
    )


def job_cost(
    job: Mapping[str, Any], region: str | None = None, architecture: str = DEFAULT_ARCHITECTURE
) -> dict[str, Any]:
    """A job's cost from its JSON (``job["usage"]``, as ``Job.to_dict`` gives it)."""
    usage = Usage.from_dict(job.get("usage") or {})
    cost = cost_of(usage, prices(region, architecture))
    out = cost.to_dict()
    out["tasks_measured"] = usage.tasks
    out["per_task"] = round(cost.total / usage.tasks, 9) if usage.tasks else None
    return out


__all__ = ["Cost", "PriceError", "Prices", "cost_of", "job_cost", "load_table", "prices"]
