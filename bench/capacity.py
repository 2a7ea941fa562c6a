"""The local server's capacity: requests per second under a simple concurrent GetItem/PutItem
load (several client processes, many threads each, all requests in flight at once), with the
server's CPU over the same window."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import boto3

from bench.common import cpu_seconds
from qrie.aws import client_config
from qrie_local.identity import FAKE_CREDENTIALS
from qrie_local.stack import LocalStack


def _load(
    endpoint: str,
    region: str,
    table: str,
    threads: int,
    seconds: float,
    start: Any,
    results: Any,
    worker: int,
) -> None:
    client = boto3.client(  # type: ignore[call-overload]
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        config=client_config(pool=threads),
        **FAKE_CREDENTIALS,
    )
    client.describe_table(TableName=table)  # clients built and connected before the window
    results.put("ready")
    counts = [0] * threads

    def run(index: int, deadline: float) -> None:
        key = {"PK": {"S": "BENCH#load"}, "SK": {"S": f"{worker}-{index}"}}
        item = {**key, "Payload": {"S": "x" * 100}}
        while time.monotonic() < deadline:
            if counts[index] % 2:
                client.get_item(TableName=table, Key=key, ConsistentRead=True)
            else:
                client.put_item(TableName=table, Item=item)
            counts[index] += 1

    start.wait()
    deadline = time.monotonic() + seconds
    pool = [threading.Thread(target=run, args=(i, deadline)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(sum(counts))


def measure(
    stack: LocalStack, processes: int = 4, threads: int = 16, seconds: float = 4.0
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    workers = [
        context.Process(
            target=_load,
            args=(
                stack.endpoint,
                stack.region,
                stack.table_name,
                threads,
                seconds,
                start,
                results,
                n,
            ),
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:  # imports and client set-up happen outside the window
        results.get(timeout=120)
    before = cpu_seconds(stack.pid)
    started = time.perf_counter()
    start.set()
    total = sum(results.get(timeout=seconds + 60) for _ in workers)
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(stack.pid) - before
    for worker in workers:
        worker.join()
    return {
        "clients": f"{processes} processes x {threads} threads",
        "operations": "GetItem (consistent) / PutItem, alternating",
        "seconds": round(wall, 2),
        "requests": total,
        "requests_per_second": round(total / wall, 1),
        "server_cpu_cores": round(server_cpu / wall, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, total), 2),
    }
