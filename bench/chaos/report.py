"""What ``make chaos`` prints: the chaos run's figures (what was injected, each job, the
inventory and findings), the storm's, and every invariant, held or BROKEN."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bench.chaos.storm import StormReport
from qrie_local.chaos import SERVICES, ChaosReport
from qrie_local.invariants import Check

__all__ = ["print_chaos", "print_checks", "print_storm"]


def print_chaos(report: ChaosReport) -> None:
    s = report.settings
    print("\n=== chaos run ===")
    print(
        f"{s['accounts']} accounts x {len(SERVICES)} services; {report.tasks} tasks in "
        f"{len(report.jobs)} jobs; {report.seconds}s (seeding {report.seed_seconds}s); "
        f"concurrency {s['concurrency'] or 'template'}; seed {s['seed']}"
    )
    print(
        f"rates: transient {s['transient']:.0%} of (account, service) pairs, permanent "
        f"{s['permanent']:.0%}, duplicates {s['duplicates']:.0%} of messages, crashes "
        f"{s['crashes']:.0%} of deliveries, poison {s['poison']:.1%} of messages"
    )
    aws = report.injected_aws.get("counts", {})
    run = report.injected_runner.get("counts", {})
    print("injected:")
    print(
        f"  member-account calls: {aws.get('member_requests', 0)}; transient errors "
        f"{aws.get('burst', 0) + aws.get('throttled', 0)} "
        f"(bursts on {len(report.injected_aws.get('burst_tasks', []))} tasks), AccessDenied "
        f"{aws.get('denied', 0)} (on {len(report.injected_aws.get('denied_tasks', []))} tasks)"
    )
    codes = {k: v for k, v in aws.items() if k[0].isupper()}
    print(f"  error codes: {json.dumps(codes, sort_keys=True)}")
    print(
        f"  duplicate deliveries {run.get('duplicates', 0)}; crashes "
        f"{run.get('crashes', 0)} before a record + {run.get('crashes_during_record', 0)} in "
        f"the middle of a record; poison crashes {run.get('poison_crashes', 0)} "
        f"({len(report.injected_runner.get('poisoned', []))} messages)"
    )
    print(f"  cancel: {report.cancelled_tasks} pending tasks cancelled")
    for name, stats in sorted(report.runner.items()):
        print(
            f"  {name}: {stats.get('invocations', 0)} invocations, "
            f"{stats.get('crashes', 0)} crashes, {stats.get('records_failed', 0)} records back "
            f"to the queue, peak concurrency {stats.get('peak_concurrency', 0)}"
        )
    print("jobs:")
    for job in report.jobs:
        print(
            f"  {job.label:9} {job.status:22} {job.succeeded:5} ok {job.failed:4} failed "
            f"of {job.total:5}  {job.seconds:7.1f}s  final {job.final_lag_seconds:.3f}s after "
            f"the last task; reasons {json.dumps(job.reasons, sort_keys=True)}; attempts "
            f"{json.dumps(job.attempts, sort_keys=True)}"
        )
    print(
        f"inventory: {report.resources} resources; findings: {report.findings} open; tasks "
        f"failed after crashes used up their receives: {report.collateral_dead_letters} "
        f"({run.get('receives_lost_to_batch_mates', 0)} receives lost to a batch-mate's crash)"
    )
    print_checks(report.checks)


def print_checks(checks: Sequence[Check]) -> None:
    print("invariants:")
    for check in checks:
        mark = "held " if check.held else "BROKEN"
        print(f"  [{mark}] {check.name}: {check.detail}")


def print_storm(report: StormReport) -> None:
    print("\n=== throttling storm ===")
    print(
        f"{report.accounts} accounts, {report.tasks} tasks, {report.throttle:.0%} of member "
        f"calls throttled, concurrency {report.concurrency}: {report.succeeded} succeeded, "
        f"{report.failed} failed ({report.failed_for_throttling} for throttling) in "
        f"{report.seconds}s"
    )
    print(
        f"member calls {report.member_requests}, throttled {report.throttled_requests} "
        f"(each retried by botocore's standard mode), worker-level retries "
        f"{report.worker_retries}, attributes recorded unknown after retries "
        f"{report.unknown_attributes}"
    )
    print_checks(report.checks)
