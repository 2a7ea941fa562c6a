"""Chaos run (``make chaos`` = ``python -m bench.chaos``): qrie's pipeline on the local stack
under the faults SQS, Lambda and AWS APIs really produce, then the invariants, checked.

1. **Chaos** (:func:`qrie_local.chaos.run_chaos`, its checks in :mod:`qrie_local.invariants`):
   N member accounts (tiny: a bucket and a user each, plus what every account has),
   an inventory job of every service, a scan job of every policy, and an inventory job
   cancelled in its middle, with faults injected by :mod:`qrie_local.faults`: transient bursts
   (throttling, 5xx) and permanent denials (AccessDenied) in member-account calls, duplicate
   deliveries, crashes of the execution environment mid-batch, and poison messages that crash
   every receive until SQS dead-letters them. Invariants after the run:

   - every task terminal exactly once (all task items SUCCEEDED/FAILED, Remaining == 0);
   - the job's counters equal the task items' states (a task counted twice would not);
   - every job final, within one polling cycle of its last task's terminal write;
   - no resource lost or duplicated (the inventory equals what the accounts hold, for every
     (account, service) whose inventory task succeeded; a subset where it failed);
   - no finding lost or duplicated (open findings equal the policies' verdicts over the stored
     inventory; the dashboard summary counts them once);
   - failures isolated: a task fails only for a fault planned against it (denied, poison) or a
     dead-lettered batch-mate of a poison message; every transient burst ends in success.

2. **Throttling storm** (:mod:`bench.chaos.storm`): member calls throttled at a high rate, at
   the template's default concurrency: no task may fail; prints the retries and the time.

3. **Fuzzing**: the hypothesis suite (tests/unit/test_fuzz.py) with >= 1,000 examples each.

Prints every figure and exits non-zero if an invariant did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.chaos.report import print_chaos, print_storm
from bench.chaos.storm import run_storm
from bench.common import ROOT, TEMPLATE
from qrie_local.chaos import ChaosSettings, run_chaos


def run_fuzz(profile: str = "chaos") -> tuple[bool, float, str]:
    started = time.monotonic()
    env = {**os.environ, "QRIE_FUZZ_PROFILE": profile}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/test_fuzz.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = (result.stdout.strip().splitlines() or [""])[-1]
    return result.returncode == 0, round(time.monotonic() - started, 1), tail


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--accounts", type=int, default=334)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transient", type=float, default=0.10)
    parser.add_argument("--permanent", type=float, default=0.05)
    parser.add_argument("--duplicates", type=float, default=0.03)
    parser.add_argument("--crashes", type=float, default=0.02)
    parser.add_argument("--poison", type=float, default=0.005)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--storm-accounts", type=int, default=40)
    parser.add_argument("--storm-rate", type=float, default=0.4)
    parser.add_argument("--skip-chaos", action="store_true")
    parser.add_argument("--skip-storm", action="store_true")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--state-dir", type=Path, help="keep the stacks' state and logs here (else a temp dir)"
    )
    args = parser.parse_args(argv)
    # SIGTERM stops like Ctrl-C: the local AWS and the runner's processes are stopped too
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    ok = True
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qrie-chaos-") as scratch:
        tmp = str(args.state_dir or scratch)
        if not args.skip_chaos:
            settings = ChaosSettings(
                accounts=args.accounts,
                seed=args.seed,
                transient=args.transient,
                permanent=args.permanent,
                duplicates=args.duplicates,
                crashes=args.crashes,
                poison=args.poison,
                concurrency=args.concurrency,
            )
            chaos = run_chaos(settings, Path(tmp) / "chaos", TEMPLATE)
            print_chaos(chaos)
            ok = ok and chaos.held
            figures["chaos"] = asdict(chaos)
        if not args.skip_storm:
            storm = run_storm(Path(tmp) / "storm", args.storm_accounts, args.storm_rate)
            print_storm(storm)
            ok = ok and storm.held
            figures["storm"] = asdict(storm)
    if not args.skip_fuzz:
        passed, seconds, tail = run_fuzz()
        print(f"\n=== fuzzing (>= 1,000 examples per property) ===\n{tail} ({seconds}s)")
        ok = ok and passed
        figures["fuzz"] = {"passed": passed, "seconds": seconds, "summary": tail}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    print("\nALL INVARIANTS HELD" if ok else "\nSOME INVARIANTS DID NOT HOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
