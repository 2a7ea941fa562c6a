"""Pricing a job's usage: the packaged table, an override file, regions without prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrie import cost
from qrie.domain import Usage

USAGE = Usage(
    ms=4000.0,
    mb_ms=4000.0 * 1024,  # 4 GB-seconds... of a 1 GB function: 4 s x 1 GB
    invocations=2.0,
    requests={"sqs": 5.0, "dynamodb": 9.0, "s3": 40.0},
    read_units=8.0,
    write_units=16.0,
    tasks=3,
)


def test_a_jobs_cost_is_its_usage_times_the_regions_prices() -> None:
    # GIVEN us-east-1 on arm64 (the template's)
    price = cost.prices("us-east-1", "arm64")
    # WHEN the usage is priced
    priced = cost.cost_of(USAGE, price)
    # THEN each part is its measured figure times its price; member calls (s3) cost nothing
    gb_seconds = 4000.0 * 1024 / 1024 / 1000
    assert priced.lambda_compute == pytest.approx(gb_seconds * 0.0000133334)
    assert priced.lambda_requests == pytest.approx(2 * 0.0000002)
    assert priced.sqs == pytest.approx(5 * 0.0000004)
    assert priced.dynamodb == pytest.approx(8 * 0.000000125 + 16 * 0.000000625)
    assert priced.total == pytest.approx(sum(priced.parts().values()))
    assert not price.estimated_region
    assert "prices as of 2024-11-01" in price.source


def test_x86_costs_more_compute_than_arm() -> None:
    arm = cost.cost_of(USAGE, cost.prices("us-east-1", "arm64"))
    x86 = cost.cost_of(USAGE, cost.prices("us-east-1", "x86_64"))
    assert x86.lambda_compute > arm.lambda_compute
    assert x86.dynamodb == arm.dynamodb


def test_a_region_without_prices_is_priced_as_us_east_1_and_says_so() -> None:
    price = cost.prices("ap-southeast-7", "arm64")
    assert price.estimated_region
    assert price.lambda_gb_second == cost.prices("us-east-1").lambda_gb_second


def test_qrie_prices_replaces_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a price file with every price doubled, named by QRIE_PRICES
    table = cost.load_table()
    for entry in table["regions"].values():
        entry["sqs"]["request"] *= 2
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({k: v for k, v in table.items() if k != "_origin"}))
    monkeypatch.setenv(cost.PRICES_ENV, str(path))
    # WHEN a job is priced THEN the file's prices are used and named
    priced = cost.job_cost({"usage": USAGE.to_dict()}, "us-east-1")
    assert priced["parts"]["sqs"] == pytest.approx(5 * 0.0000008)
    assert priced["prices"]["source"].startswith(str(path))
    assert priced["tasks_measured"] == 3
    assert priced["per_task"] == pytest.approx(priced["total"] / 3, abs=1e-9)


@pytest.mark.parametrize(
    ("content", "error"),
    [("not json", "cannot read the price table"), ('{"x": 1}', "no 'regions' object")],
)
def test_a_bad_price_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, error: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    monkeypatch.setenv(cost.PRICES_ENV, str(path))
    with pytest.raises(cost.PriceError, match=error):
        cost.job_cost({"usage": {}}, "us-east-1")


def test_an_unknown_architecture_is_refused_by_name() -> None:
    with pytest.raises(cost.PriceError, match="no usable sparc prices for us-east-1"):
        cost.prices("us-east-1", "sparc")


def test_usage_survives_its_json_form() -> None:
    assert Usage.from_dict(USAGE.to_dict()) == USAGE
    assert USAGE.to_dict()["gb_seconds"] == pytest.approx(4.0)
