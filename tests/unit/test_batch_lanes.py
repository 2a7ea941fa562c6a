"""The batch's lanes (``qrie.jobs.batch``) with a worker that only records where and when each
record ran: which records share a lane, how many lanes run at once, on which threads, and that
every record is settled once, in the batch's order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import cast

import pytest

from qrie.jobs.batch import account_of, lanes, run_batch
from qrie.jobs.worker import Delivery, Invocation, Prepared, TaskWorker


def delivery(index: int, account: object) -> Delivery:
    return Delivery(f"m{index}", json.dumps({"account_id": account}), 1, f"r{index}", "q")


class Recorder:
    """Stands for the worker: ``prepare`` records its thread and how many records run at
    once (taking ``seconds``); ``settle`` answers each record's message id."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: dict[str, str] = {}  # message id -> thread name
        self.settled: list[list[str]] = []

    def prepare(self, record: Delivery) -> Prepared:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads[record.message_id] = threading.current_thread().name
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return Prepared(record)

    def settle(self, batch: Sequence[Prepared], invocation: Invocation) -> list[str]:
        self.settled.append([p.delivery.message_id for p in batch])
        return [p.delivery.message_id for p in batch]


def run(recorder: Recorder, batch: list[Delivery], threads: int) -> list[str | BaseException]:
    return run_batch(cast(TaskWorker, recorder), batch, Invocation.now(), threads)


@pytest.mark.parametrize(
    ("body", "account"),
    [
        ('{"account_id": "111111111111"}', "111111111111"),
        ('{"account_id": ""}', None),
        ('{"account_id": 111111111111}', None),
        ('{"account": "111111111111"}', None),
        ('["111111111111"]', None),
        ("{", None),
    ],
)
def test_a_record_names_its_account_only_in_a_readable_account_id(
    body: str, account: str | None
) -> None:
    # GIVEN a task message WHEN its account is read THEN only a non-empty account_id string
    assert account_of(Delivery("m", body, 1, "r", "q")) == account


def test_records_without_an_account_each_run_alone() -> None:
    # GIVEN records of one account around records naming none
    batch = [
        delivery(0, "111111111111"),
        delivery(1, ""),
        delivery(2, None),
        delivery(3, "111111111111"),
    ]
    # WHEN grouped THEN the account's records share a lane; the others have one each
    assert lanes(batch) == [[0, 3], [1], [2]]


def test_lanes_run_at_most_threads_at_once_on_the_batchs_own_threads() -> None:
    # GIVEN five records of five accounts, each taking a while, and two threads
    recorder = Recorder(seconds=0.2)
    batch = [delivery(i, f"{111111111110 + i}") for i in range(5)]
    # WHEN the batch runs
    results = run(recorder, batch, threads=2)
    # THEN two records at once, on two threads named for the batch's records, none on the
    # caller's; every record settled once, in the batch's order
    assert recorder.most == 2
    assert len(set(recorder.threads.values())) == 2
    assert all(name.startswith("qrie-record") for name in recorder.threads.values())
    assert results == ["m0", "m1", "m2", "m3", "m4"]
    assert recorder.settled == [["m0", "m1", "m2", "m3", "m4"]]


@pytest.mark.parametrize("n", [2, 3])
def test_more_threads_than_lanes_run_every_lane_at_once(n: int) -> None:
    # GIVEN two or three accounts' records and ten threads
    recorder = Recorder(seconds=0.2)
    batch = [delivery(i, f"{111111111110 + i}") for i in range(n)]
    # WHEN the batch runs THEN the lanes ran together, on the batch's threads
    assert run(recorder, batch, threads=10) == [f"m{i}" for i in range(n)]
    assert recorder.most == n
    assert all(name.startswith("qrie-record") for name in recorder.threads.values())


@pytest.mark.parametrize(
    ("threads", "accounts"),
    [
        (1, ["111111111111", "222222222222"]),
        (0, ["111111111111", "222222222222"]),
        (4, ["111111111111"] * 3),
    ],
)
def test_one_thread_or_one_lane_runs_in_the_callers_thread(
    threads: int, accounts: list[str]
) -> None:
    # GIVEN one thread for two accounts, or four threads for one account's records
    recorder = Recorder()
    batch = [delivery(i, account) for i, account in enumerate(accounts)]
    # WHEN the batch runs THEN one record after the other, in the caller's thread
    assert run(recorder, batch, threads=threads) == [f"m{i}" for i in range(len(accounts))]
    assert set(recorder.threads.values()) == {threading.current_thread().name}
    assert recorder.most == 1
