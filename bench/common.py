"""Shared helpers: machine facts, CPU readings from /proc, server windows, DynamoDB item sizes
(the store's rules)."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from qrie.store import sizes
from qrie_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SERVER_HOOK = "bench.moto_speedups:hook"  # moto's queues in constant time


def start_stack(state_dir: Path, latency_ms: float, parameters: Mapping[str, str]) -> LocalStack:
    """The template provisioned on a fresh local AWS (with the benchmark's server hook)."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )  # the server and the workers import bench.*
    return LocalStack.up(
        state_dir=state_dir,
        latency_ms=latency_ms,
        template=TEMPLATE,
        parameters=parameters,
        hooks=[SERVER_HOOK],
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import botocore
    import moto

    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "moto": moto.__version__,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # after "(comm)": state is fields[0]; utime, stime are fields 11 and 12 (stat fields 14, 15)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Window:
    """Wall time, server requests and CPU (server, this process, its live children) over a
    stretch of a benchmark."""

    stack: LocalStack
    started: float = 0.0
    wall: float = 0.0
    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    server_cpu: float = 0.0
    bench_cpu: float = 0.0
    children_cpu: float = 0.0
    _start: dict[str, Any] = field(default_factory=dict)

    def _workers(self) -> list[int]:
        """This process's children other than the server: the runner's execution environments."""
        return [pid for pid in children(os.getpid()) if pid != self.stack.pid]

    def __enter__(self) -> Window:
        stats = self.stack.stats()
        kids = {pid: cpu_seconds(pid) for pid in self._workers()}
        self._start = {
            "requests": int(stats["requests"]),
            "ops": dict(stats["by_operation"]),
            "server": cpu_seconds(self.stack.pid),
            "bench": own_cpu(),
            "kids": kids,
        }
        self.started = time.perf_counter()
        return self

    def stop(self) -> None:
        """Take the readings (call before children exit, e.g. before the runner stops)."""
        self.wall = time.perf_counter() - self.started
        stats = self.stack.stats()
        self.requests = int(stats["requests"]) - self._start["requests"]  # stats calls not counted
        ops = stats["by_operation"]
        self.by_operation = {
            k: int(v) - int(self._start["ops"].get(k, 0))
            for k, v in sorted(ops.items())
            if int(v) - int(self._start["ops"].get(k, 0)) > 0
        }
        self.server_cpu = cpu_seconds(self.stack.pid) - self._start["server"]
        self.bench_cpu = own_cpu() - self._start["bench"]
        before = self._start["kids"]
        self.children_cpu = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in self._workers())

    def __exit__(self, *_exc: object) -> None:
        if not self.wall:
            self.stop()

    def as_dict(self) -> dict[str, Any]:
        wall = self.wall or 1e-9
        total_cpu = self.server_cpu + self.bench_cpu + self.children_cpu
        cores = os.cpu_count() or 1
        return {
            "wall_seconds": round(self.wall, 3),
            "server_requests": self.requests,
            "server_requests_per_second": round(self.requests / wall, 1),
            "cpu_seconds": {
                "server": round(self.server_cpu, 2),
                "bench_process": round(self.bench_cpu, 2),
                "worker_processes": round(self.children_cpu, 2),
            },
            "cores_busy": {
                "server": round(self.server_cpu / wall, 2),
                "total": round(total_cpu / wall, 2),
            },
            # all the CPU this run used (server, this process, workers) per AWS request, and the
            # shortest time that CPU fits in on this machine's cores
            "cpu_ms_per_request": round(1000 * total_cpu / max(1, self.requests), 2),
            "cpu_bound_seconds": round(total_cpu / cores, 2),
            "by_operation": self.by_operation,
        }


def parse_time(value: str) -> float:
    """A qrie timestamp (``2025-01-01T00:00:00.123456Z``) as a POSIX time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------ DynamoDB item size
item_size = sizes.item_size  # the store's rules: the benchmarks size items as qrie does
