"""The inventory engine's write-and-sweep: what a collection did not see is deleted (and its
ARN returned, for the worker to resolve its findings), a failed scope keeps its resources, and
collections of the same scope that overlap -- SQS's duplicate deliveries -- never delete what the
other one saw."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from qrie.domain import Resource
from qrie.inventory import engine
from qrie.inventory.base import ordered_map
from qrie.store.table import Store
from tests.support import Stack

ACCOUNT = "200000000001"


@dataclass
class FakeSession:
    account_id: str = ACCOUNT

    def client(self, service: str, region: str = "us-east-1") -> Any:
        raise AssertionError("the fake collector makes no AWS call")


@dataclass
class FakeCollector:
    """Lists ``names[scope]``; a scope in ``failing`` raises after its resources; ``pause``
    (scope -> event) holds a listing after its first resource until the event is set."""

    names: dict[str, list[str]]
    failing: set[str] = field(default_factory=set)
    pause: dict[str, threading.Event] = field(default_factory=dict)
    reached: threading.Event = field(default_factory=threading.Event)
    service: str = "s3"

    def scopes(self, session: Any, regions: Sequence[str]) -> list[str]:
        return list(self.names)

    def collect(self, session: Any, scope: str) -> Iterator[Resource]:
        for i, name in enumerate(self.names[scope]):
            yield Resource(f"arn:aws:s3:::{name}", ACCOUNT, "s3", "s3.bucket", scope, {}, name)
            if i == 0 and scope in self.pause:
                self.reached.set()
                assert self.pause[scope].wait(10)
        if scope in self.failing:
            raise RuntimeError("listing broke")


@pytest.fixture
def store(stack: Stack) -> Store:
    return Store(stack.table)


def run(store: Store, collector: FakeCollector) -> Any:
    return engine.inventory_account(store, FakeSession(), collector, ["us-east-1"], "job-1")


def stored(store: Store) -> list[str]:
    return sorted(r.name for r in store.iter_resources(ACCOUNT, "s3"))


def test_resources_not_seen_again_are_swept(store: Store) -> None:
    # GIVEN an account inventoried with buckets a, b, c
    run(store, FakeCollector({"global": ["a", "b", "c"]}))
    assert stored(store) == ["a", "b", "c"]
    # WHEN b is gone at the next inventory
    counts = run(store, FakeCollector({"global": ["a", "c"]}))
    # THEN b is deleted and reported deleted; a and c are kept
    assert stored(store) == ["a", "c"]
    assert counts.deleted_arns == {"arn:aws:s3:::b"}
    assert counts.resources == 2


def test_a_failed_scope_keeps_its_resources(store: Store) -> None:
    # GIVEN two scopes inventoried
    run(store, FakeCollector({"us-east-1": ["a", "b"], "eu-west-1": ["x", "y"]}))
    # WHEN eu-west-1 fails after listing only x, and us-east-1 lost b
    collector = FakeCollector({"us-east-1": ["a"], "eu-west-1": ["x"]}, failing={"eu-west-1"})
    counts = run(store, collector)
    # THEN only the scope that was listed completely is swept
    assert stored(store) == ["a", "x", "y"]
    assert list(counts.failed_scopes) == ["eu-west-1"]
    assert counts.reason().startswith("partial: ")


def test_overlapping_collections_of_a_scope_lose_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stored inventory with a bucket that is gone since ("old")
    run(store, FakeCollector({"global": ["a", "b", "old"]}))
    # WHEN a first collection starts and stops after writing its first bucket, a duplicate
    # delivery of the same task collects and sweeps completely, then the first one finishes
    # and sweeps
    monkeypatch.setattr(engine, "WRITE_BATCH", 1)
    release = threading.Event()
    first = FakeCollector({"global": ["a", "b"]}, pause={"global": release})
    thread = threading.Thread(target=run, args=(store, first))
    thread.start()
    assert first.reached.wait(10)
    second = run(store, FakeCollector({"global": ["a", "b"]}))
    release.set()
    thread.join(10)
    # THEN neither sweep deleted what the other wrote: both buckets are there, "old" is gone
    assert stored(store) == ["a", "b"]
    assert second.deleted == 1


# ---------------------------------------------------------------- ordered_map
def test_ordered_map_keeps_the_order_and_runs_calls_at_once() -> None:
    # GIVEN calls that finish in reverse order and record how many run at once
    running, peak = [0], [0]
    lock = threading.Lock()

    def slow(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 * (10 - i % 10) / 10)
        with lock:
            running[0] -= 1
        return i * i

    # WHEN mapped 4 at a time over a generator
    result = list(ordered_map(slow, (i for i in range(40)), threads=4))
    # THEN the results keep the items' order, and up to 4 calls ran at once
    assert result == [i * i for i in range(40)]
    assert 2 <= peak[0] <= 4


def test_ordered_map_streams_and_raises_in_place() -> None:
    # GIVEN an endless listing and a call that fails on item 5
    consumed = []

    def listing() -> Iterator[int]:
        i = 0
        while True:
            consumed.append(i)
            yield i
            i += 1

    def fail_on_five(i: int) -> int:
        if i == 5:
            raise ValueError("item 5")
        return i

    # WHEN mapped THEN items 0-4 come out, then item 5's error, and the listing was read only
    # a window ahead (never whole)
    mapped = ordered_map(fail_on_five, listing(), threads=3)
    assert [next(mapped) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="item 5"):
        next(mapped)
    assert len(consumed) <= 5 + 2 * 3 + 1
