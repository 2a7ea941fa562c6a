"""``python -m bench.console_pages``: the console's pages over a store of 10,000+ findings.

A local stack (as ``qrie local up`` starts it: no added latency) holds ``--accounts`` accounts
with open findings of every policy (``--open`` in all, plus a sixth as many resolved) and the
dashboard counts a scan writes. The console is served on it by uvicorn, as ``qrie console``
serves it, and each page is requested over HTTP (``--repeat`` times, the median reported):

- each page's first request (the dashboard counts read) and the median of the next ones
  (counts kept by the console for 10 s);
- the first page of open findings, a page 20 pages in (following "Next"), other orders and
  filters, 200 rows a page;
- a CSV export of every open finding (streamed: time to the first byte and to the last);
- the Overview, Jobs and Accounts pages;
- for comparison, what a page would cost if it read every open finding first (then sorted
  them in memory), and one Query on this table (moto answers every Query with a pass over the
  whole table, so the local stack's reads grow with the table, unlike DynamoDB's).

Writes ``bench/results-console.json``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine
from qrie.accounts.registry import add_account
from qrie.domain import Finding, FindingState, PolicyTally, now_iso
from qrie.policies.registry import all_policies
from qrie.scan.findings import iter_findings
from qrie_cli.console.app import create_app
from qrie_cli.console.connection import Connection
from qrie_cli.console.security import Secrets, allowed_hosts, cookie_name
from qrie_cli.target import LocalTarget
from qrie_local.stack import LocalStack

RESULTS = ROOT / "bench" / "results-console.json"


def seed_findings(target: LocalTarget, accounts: int, open_total: int) -> dict[str, int]:
    """``open_total`` open findings spread over ``accounts`` accounts and every policy, a sixth
    as many resolved, and the summary counts."""
    store = target.store
    policies = list(all_policies().values())
    ids = [f"{500000000000 + n:012d}" for n in range(accounts)]
    for account in ids:
        add_account(store, account, f"bench-{account[-3:]}")
    stamp = now_iso()
    found: list[Finding] = []
    counts: dict[tuple[str, str], int] = {}
    for n in range(open_total + open_total // 6):
        account = ids[n % accounts]
        policy = policies[(n // accounts) % len(policies)]
        state = FindingState.OPEN if n < open_total else FindingState.RESOLVED
        found.append(
            Finding(
                account,
                policy.id,
                f"arn:aws:{policy.service}:us-east-1:{account}:thing/r{n:06d}",
                state,
                policy.severity,
                title=policy.title,
                evidence=f"setting={n % 7!r} (bench)",
                service=policy.service,
                first_seen=stamp,
                last_seen=stamp,
            )
        )
        if state is FindingState.OPEN:
            counts[(account, policy.id)] = counts.get((account, policy.id), 0) + 1
    store.put_findings(found)
    store.put_summary(
        PolicyTally(a, p.id, p.severity, counts.get((a, p.id), 0), stamp)
        for a in ids
        for p in policies
    )
    return {"accounts": accounts, "open": open_total, "resolved": len(found) - open_total}


class Server:
    """The console on a free port, in a thread (uvicorn, as ``qrie console`` runs it)."""

    def __init__(self, connection: Connection) -> None:
        import socket

        import uvicorn

        self.keys = Secrets.generate()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        app = create_app(connection, self.keys, self.port, allowed_hosts("127.0.0.1", self.port))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[float, float, bytes]:
        """(seconds to the first byte, seconds to the last, body) of one GET."""
        request = urllib.request.Request(  # noqa: S310 - our own local URL
            self.base + path,
            headers={"Cookie": f"{cookie_name(self.port)}={self.keys.token}"},
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            first = response.read(1)
            ttfb = time.perf_counter() - start
            body = first + response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
        return ttfb, time.perf_counter() - start, body

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def next_link(body: bytes) -> str:
    match = re.search(rb'<a href="([^"]+)" rel="next">', body)
    if not match:
        raise RuntimeError("no next page")
    return html.unescape(match.group(1).decode())


def rows(body: bytes) -> int:
    return body.count(b"<tr data-finding>")


def timed(repeat: int, call: Callable[[], tuple[float, float, bytes]]) -> dict[str, Any]:
    """The first request (the dashboard counts read) and the median of the next ones (read
    within the console's 10 s: kept)."""
    runs = [call() for _ in range(repeat)]
    again = runs[1:] or runs
    return {
        "first_seconds": round(runs[0][1], 3),
        "seconds": round(statistics.median(r[1] for r in again), 3),
        "first_byte_seconds": round(statistics.median(r[0] for r in again), 3),
        "bytes": len(runs[-1][2]),
        "rows": rows(runs[-1][2]),
    }


def run(accounts: int, open_total: int, repeat: int) -> dict[str, Any]:
    state_dir = Path(tempfile.mkdtemp(prefix="qrie-bench-console-"))
    stack = LocalStack.up(state_dir=state_dir, template=ROOT / "template.yaml")
    try:
        target = LocalTarget(stack)
        started = time.perf_counter()
        seeded = seed_findings(target, accounts, open_total)
        seeded["seconds"] = round(time.perf_counter() - started, 1)
        server = Server(Connection(lambda: target, "the local stack"))
        try:
            pages: dict[str, Any] = {}
            for name, path in (
                ("open, first page (50, by severity)", "/findings"),
                ("open, by account, first page", "/findings?sort=account"),
                ("open, by policy descending", "/findings?sort=policy&order=desc"),
                ("open, one account", f"/findings?account={500000000000 + 1:012d}"),
                ("open, high s3 findings", "/findings?severity=high&policy=s3.*"),
                ("open, 200 a page", "/findings?size=200"),
                ("every state (per account)", "/findings?state=all"),
                ("overview", "/"),
                ("jobs", "/jobs"),
                ("accounts (counts resources per account x service)", "/accounts"),
            ):
                pages[name] = timed(repeat, lambda p=path: server.get(p))
            # a page 20 pages in: follow "Next" 19 times, then time that page
            path = "/findings"
            for _ in range(19):
                path = next_link(server.get(path)[2])
            pages["open, page 20 (rows 951-1000)"] = timed(repeat, lambda p=path: server.get(p))
            export = server.get("/findings/export?format=csv")
            pages["CSV export of every open finding"] = {
                "first_seconds": round(export[1], 2),
                "seconds": round(export[1], 2),
                "first_byte_seconds": round(export[0], 3),
                "bytes": len(export[2]),
                "rows": export[2].count(b"\n") - 1,
            }
        finally:
            server.stop()
        store = target.store
        start = time.perf_counter()
        read_all = sum(1 for _ in iter_findings(store, state="open"))
        naive = time.perf_counter() - start
        start = time.perf_counter()
        store.get_job("nothing")
        list(store.db.query("ACCOUNT"))
        one_query = time.perf_counter() - start
        target.close()
    finally:
        stack.down()
    return {
        "seeded": seeded,
        "pages": pages,
        "read_every_open_finding": {"findings": read_all, "seconds": round(naive, 2)},
        "one_query_seconds": round(one_query, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--open", type=int, default=10_000, dest="open_total")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = {
        "machine": machine(),
        **run(args.accounts, args.open_total, args.repeat),
    }
    print(f"seeded: {result['seeded']}")
    print(f"{'page':<52} {'first s':>8} {'then s':>8} {'1st byte':>9} {'rows':>6} {'KB':>7}")
    for name, figures in result["pages"].items():
        kilobytes = figures["bytes"] / 1024
        print(
            f"{name:<52} {figures['first_seconds']:>8} {figures['seconds']:>8} "
            f"{figures['first_byte_seconds']:>9} {figures['rows']:>6} {kilobytes:>7.1f}"
        )
    naive = result["read_every_open_finding"]
    print(f"reading every open finding first (no pagination): {naive}")
    print(f"one Query (GetItem + Query ACCOUNT) on this table: {result['one_query_seconds']} s")
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
