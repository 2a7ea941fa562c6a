"""The table's keys: their exact shapes and the task-shard arithmetic are a storage contract.

Items written by one version of qrie are read by the next, and every access pattern listed in
``qrie.store.keys`` (a job's tasks, an account's findings, the open-findings index, ...) is a
query on these exact strings: a changed separator, prefix or hash strands what is stored.
"""

from __future__ import annotations

import pytest

from qrie.store import keys

JOB = "scan-all-20260101T000000Z-abcdef"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (keys.job_pk(JOB), f"JOB#{JOB}"),
        (keys.JOB_SK, "JOB"),
        (keys.JOBS_GSI_PK, "JOBS"),
        (keys.JOBS_INDEX, "GSI1"),
        (keys.task_shard_pk(JOB, 7), f"JOB#{JOB}#T7"),
        (keys.task_sk("111111111111", "inventory", "s3"), "TASK#111111111111#inventory#s3"),
        (keys.TASK_PREFIX, "TASK#"),
        (keys.RUNNING_PK, "RUNNING"),
        (keys.ACCOUNT_PK, "ACCOUNT"),
        (keys.resource_pk("111111111111", "ec2"), "RES#111111111111#ec2"),
        (keys.resource_sk("eu-west-1", "arn:aws:ec2:x"), "eu-west-1#arn:aws:ec2:x"),
        (keys.finding_pk("111111111111"), "FINDING#111111111111"),
        (keys.finding_sk("s3.encrypted", "arn:aws:s3:::b"), "s3.encrypted#arn:aws:s3:::b"),
        (keys.open_finding_gsi_pk("s3.encrypted"), "OPEN#s3.encrypted"),
        (keys.SUMMARY_PK, "SUMMARY"),
        (keys.coverage_pk("111111111111"), "COVERAGE#111111111111"),
        (keys.coverage_sk("scan", "iam"), "scan#iam"),
        (keys.evaluation_pk("111111111111"), "EVAL#111111111111"),
        (keys.MUTE_PK, "MUTE"),
        (keys.BADMSG_PK, "BADMSG"),
    ],
)
def test_every_key_has_the_documented_shape(key: str, expected: str) -> None:
    # GIVEN the key design documented in qrie.store.keys and the README
    # THEN each key function (and constant) builds exactly that string
    assert key == expected


@pytest.mark.parametrize(
    ("tasks", "shards"),
    [
        (0, 1),  # an empty job still has one task partition: its own
        (1, 1),
        (999, 1),
        (1000, 1),  # a full shard stays beside the job item
        (1001, 2),  # one task more opens a second partition key
        (2000, 2),
        (2001, 3),
        (31_000, 31),
        (31_001, 32),
        (32_000, 32),  # the maximum
        (32_001, 32),  # never more: beyond it, shards grow fuller
        (1_000_000, 32),
    ],
)
def test_a_job_spreads_its_tasks_over_one_shard_per_thousand_up_to_32(
    tasks: int, shards: int
) -> None:
    # GIVEN a job of `tasks` tasks
    # WHEN the store decides how many partition keys its task items use
    # THEN it is ceil(tasks / 1000), at least 1 and at most 32
    assert keys.task_shards(tasks) == shards


@pytest.mark.parametrize("shards", [0, 1])
def test_a_single_shard_jobs_tasks_live_beside_the_job_item(shards: int) -> None:
    # GIVEN a job whose tasks fit one partition (a job item written before shards existed has
    # no TaskShards; 0 is read the same way)
    # WHEN a task's partition key is built
    # THEN it is the job's own partition key
    assert keys.task_pk(JOB, "111111111111", shards) == f"JOB#{JOB}"


@pytest.mark.parametrize(
    ("account", "shards", "pk"),
    [
        # CRC-32 of the account id, modulo the shard count: stable across versions and
        # execution environments (never Python's salted hash), so a task written by one
        # version is found by the next
        ("111111111111", 2, f"JOB#{JOB}#T1"),
        ("222222222222", 2, f"JOB#{JOB}#T0"),
        ("111111111111", 3, f"JOB#{JOB}#T2"),
        ("111111111111", 32, f"JOB#{JOB}#T31"),
        ("222222222222", 32, f"JOB#{JOB}#T6"),
        ("123456789012", 32, f"JOB#{JOB}#T22"),
    ],
)
def test_a_sharded_jobs_task_partition_is_the_crc32_of_its_account(
    account: str, shards: int, pk: str
) -> None:
    # GIVEN a job spread over several shards
    # WHEN a task's partition key is built
    # THEN the account's tasks land on the shard its id hashes to
    assert keys.task_pk(JOB, account, shards) == pk


def test_a_thousand_accounts_reach_every_one_of_32_shards() -> None:
    # GIVEN a job over 1,000 accounts, spread over the maximum of 32 shards
    pks = {keys.task_pk(JOB, f"{700000000000 + i}", 32) for i in range(1000)}
    # THEN every shard takes a share of the writes, and no key falls outside them
    assert pks == {keys.task_shard_pk(JOB, n) for n in range(32)}


@pytest.mark.parametrize(
    ("account", "kind", "service"),
    [
        ("111111111111", "inventory", "s3"),
        ("222222222222", "scan", "iam"),
        ("333333333333", "scan", "svc#with#hashes"),  # the last field takes the rest
    ],
)
def test_a_task_sort_key_reads_back_as_account_kind_and_service(
    account: str, kind: str, service: str
) -> None:
    # GIVEN a task sort key
    sk = keys.task_sk(account, kind, service)
    # WHEN it is parsed (listing a job's tasks)
    # THEN the three parts come back, the service whole
    assert keys.parse_task_sk(sk) == (account, kind, service)
