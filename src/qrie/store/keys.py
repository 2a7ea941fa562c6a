"""Single-table design: every item's keys, and the access pattern each serves.

| item      | PK                         | SK                               | GSI1PK / GSI1SK                        |
|-----------|----------------------------|----------------------------------|----------------------------------------|
| job       | JOB#<job_id>               | JOB                              | JOBS / <created_at>#<job_id>           |
| task      | JOB#<job_id>[#T<shard>]    | TASK#<account>#<kind>#<service>  | -                                      |
| running   | RUNNING                    | <job_id>                         | -                                      |
| account   | ACCOUNT                    | <account_id>                     | -                                      |
| resource  | RES#<account>#<service>    | <scope>#<arn>                    | -                                      |
| finding   | FINDING#<account>          | <policy_id>#<arn>                | OPEN#<policy_id> / <sev>#<acct>#<arn>  |
|           |                            |                                  |   (only while the finding is open)     |
| summary   | SUMMARY                    | <account>#<policy_id>            | -                                      |
| coverage  | COVERAGE#<account>         | <kind>#<service>                 | -                                      |
| evaluation| EVAL#<account>             | <policy_id>#<arn>                | -                                      |
| mute      | MUTE                       | <mute_id>                        | -                                      |
| bad msg   | BADMSG                     | <received_at>#<message_id>       | -                                      |

A job of more than ``TASKS_PER_SHARD`` tasks spreads its task items over ``task_shards``
partition keys (``JOB#<id>#T<n>``, n = a hash of the account), so that its accounting and
creation writes never exceed one partition's 1,000 write units a second; a smaller job keeps them
beside the job item (``JOB#<id>``). The job item records the count (``TaskShards``).

Access patterns:
- get a job, its counters:                 GetItem JOB#id / JOB
- a job's tasks (by state, for `show`):    Query JOB#id[#T<n>] (each shard), SK begins_with TASK#
- list jobs, newest first:                 Query GSI1 JOBS, ScanIndexForward=False
- running jobs (polling service):          Query RUNNING (a small marker per running job)
- registered accounts:                     Query ACCOUNT
- an account's inventory of a service:     Query RES#acct#svc (per scope: SK begins_with <scope>#)
- an account's findings (by policy):       Query FINDING#acct (SK begins_with <policy>#)
- open findings of a policy:               Query GSI1 OPEN#policy (sparse: resolved ones drop out)
- open findings by severity:               the policies of that severity, one GSI1 query each
- dashboard summary:                       Query SUMMARY (one small item per account x policy)
- has the account's service an inventory:  GetItem COVERAGE#acct / inventory#svc (scan's evidence)
- an account's last inventory and scan:    Query COVERAGE#acct
- every verdict of an account (by policy):  Query EVAL#acct (SK begins_with <policy>#)
- the mute list:                           Query MUTE (small: a team's accepted risks)
"""

from __future__ import annotations

import math
import zlib

JOBS_INDEX = "GSI1"
TASKS_PER_SHARD = 1000  # a job's tasks per task partition key
MAX_TASK_SHARDS = 32


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


JOB_SK = "JOB"
TASK_PREFIX = "TASK#"
RUNNING_PK = "RUNNING"
JOBS_GSI_PK = "JOBS"
ACCOUNT_PK = "ACCOUNT"
SUMMARY_PK = "SUMMARY"
BADMSG_PK = "BADMSG"
MUTE_PK = "MUTE"


def task_shards(tasks: int) -> int:
    """How many partition keys a job of ``tasks`` tasks spreads its task items over."""
    return max(1, min(MAX_TASK_SHARDS, math.ceil(tasks / TASKS_PER_SHARD)))


def task_pk(job_id: str, account_id: str, shards: int) -> str:
    """The partition key of a task item: the job's own for a single shard."""
    if shards <= 1:
        return job_pk(job_id)
    return task_shard_pk(job_id, zlib.crc32(account_id.encode()) % shards)


def task_shard_pk(job_id: str, shard: int) -> str:
    return f"{job_pk(job_id)}#T{shard}"


def task_sk(account_id: str, kind: str, service: str) -> str:
    return f"{TASK_PREFIX}{account_id}#{kind}#{service}"


def parse_task_sk(sk: str) -> tuple[str, str, str]:
    """(account_id, kind, service) of a task sort key."""
    _, account_id, kind, service = sk.split("#", 3)
    return account_id, kind, service


def resource_pk(account_id: str, service: str) -> str:
    return f"RES#{account_id}#{service}"


def resource_sk(scope: str, arn: str) -> str:
    return f"{scope}#{arn}"


def finding_pk(account_id: str) -> str:
    return f"FINDING#{account_id}"


def finding_sk(policy_id: str, arn: str) -> str:
    return f"{policy_id}#{arn}"


def open_finding_gsi_pk(policy_id: str) -> str:
    return f"OPEN#{policy_id}"


def coverage_pk(account_id: str) -> str:
    return f"COVERAGE#{account_id}"


def coverage_sk(kind: str, service: str) -> str:
    return f"{kind}#{service}"


def evaluation_pk(account_id: str) -> str:
    return f"EVAL#{account_id}"
