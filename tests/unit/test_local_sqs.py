"""The local AWS's SQS under concurrent requests (moto_patches): what SQS answers is what happens.

moto's own SQS loses updates when requests overlap (a deleted message comes back in flight, a
sent one vanishes). The local server is threaded, so these tests drive moto's backend from
several threads.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from moto.sqs.models import sqs_backends

from tests.support import REGION

ACCOUNT = "123456789012"
THREADS = 8
SIZE = 200  # messages: moto works in O(queue size) per received message


def _queue(name: str, **attributes: str) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "1800", **attributes})
    return sqs, str(url["QueueUrl"])


def _send(sqs: Any, url: str, count: int, prefix: str = "m") -> None:
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"{prefix}{start + i}"}
            for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _in_threads(work: Callable[[int], None]) -> None:
    """``work`` in THREADS threads at once, with a short GIL switch interval so that their
    requests overlap often (the local server serves each request in its own thread)."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)


def _backend() -> Any:
    return sqs_backends[ACCOUNT][REGION]


def _held(name: str) -> list[Any]:
    """Every message the queue holds (visible, in flight or delayed)."""
    return list(_backend().get_queue(name)._messages)


def _receive_all(name: str) -> list[str]:
    handles: list[str] = []
    while batch := _backend().receive_message(name, 10, 0, 1800):
        handles += [m.receipt_handle for m in batch]
    return handles


def test_overlapping_deletes_delete_every_message(mocked_aws: None) -> None:
    sqs, url = _queue("deletes")
    _send(sqs, url, SIZE)
    handles = _receive_all("deletes")
    assert len(handles) == SIZE
    backend = _backend()
    answers: list[tuple[int, int]] = []  # (succeeded, failed) per batch, as SQS answered

    def delete(k: int) -> None:
        for start in range(k * 10, len(handles), THREADS * 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": h}
                for i, h in enumerate(handles[start : start + 10])
            ]
            succeeded, failed = backend.delete_message_batch("deletes", entries)
            answers.append((len(succeeded), len(failed)))

    _in_threads(delete)
    assert sum(ok for ok, _ in answers) == len(handles)
    assert not any(failed for _, failed in answers)
    assert _held("deletes") == []


def test_sends_overlapping_deletes_are_all_kept(mocked_aws: None) -> None:
    sqs, url = _queue("mixed")
    _send(sqs, url, SIZE)
    handles = _receive_all("mixed")
    backend = _backend()

    def work(k: int) -> None:
        if k % 2:
            for handle in handles[k::THREADS]:
                backend.delete_message("mixed", handle)
        else:
            _send(sqs, url, 50, prefix=f"new{k}-")

    _in_threads(work)
    bodies = sorted(m.body for m in _held("mixed"))
    kept = len(handles) - sum(len(handles[k::THREADS]) for k in range(1, THREADS, 2))
    assert len(bodies) == kept + 50 * (THREADS // 2)
    assert sum(1 for b in bodies if b.startswith("new")) == 50 * (THREADS // 2)


def test_overlapping_receives_hand_each_message_out_once(mocked_aws: None) -> None:
    sqs, url = _queue("receives")
    _send(sqs, url, SIZE)
    backend = _backend()
    seen: list[str] = []
    lock = threading.Lock()

    def receive(_k: int) -> None:
        while batch := backend.receive_message("receives", 10, 0, 1800):
            with lock:
                seen.extend(m.id for m in batch)

    _in_threads(receive)
    assert len(seen) == SIZE
    assert len(set(seen)) == SIZE


def test_a_long_poll_gets_a_message_sent_while_it_waits(mocked_aws: None) -> None:
    sqs, url = _queue("longpoll")
    got: dict[str, Any] = {}

    def receive() -> None:
        got.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10))

    waiting = threading.Thread(target=receive)
    waiting.start()
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="late")  # must not wait for the poll to end
    waiting.join()
    assert [m["Body"] for m in got.get("Messages", [])] == ["late"]


def test_exhausted_messages_still_move_to_the_dead_letter_queue(mocked_aws: None) -> None:
    sqs, dlq_url = _queue("dead")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "2"}}'
    _, url = _queue("source", RedrivePolicy=policy)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
        assert [m["Body"] for m in received] == ["poison"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    moved = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]
