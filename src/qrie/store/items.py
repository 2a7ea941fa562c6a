"""Domain records <-> table items: the one place that knows the items' attribute names.

Attribute names are CamelCase (``JobId``, ``Succeeded``, ``FirstSeen``); the records' fields are
snake_case. Task counts are stored as top-level attributes (``ResourceCount``), so that a task
item reads well in the console and stays small.

Usage (what work consumed in AWS): a task holds its own in one small map (``Usage``: ``Ms``,
``MbMs``, ``Inv``, ``Rru``, ``Wru`` and ``Req`` by ``service.Operation``); the job holds the sum
of its tasks' in top-level numbers (``UsageMs``, ``UsageReq_<service>``, ...), which the
accounting transaction ADDs to, so a job created before usage existed needs no migration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qrie.domain import (
    Account,
    AccountStatus,
    Coverage,
    Evaluation,
    Finding,
    FindingState,
    Job,
    JobStatus,
    Mute,
    PolicyTally,
    Resource,
    ResultStatus,
    Severity,
    SkippedAccount,
    Task,
    TaskKey,
    TaskKind,
    TaskStatus,
    Usage,
)
from qrie.store import keys

# Task attributes that are not counts.
_TASK_FIELDS = frozenset(
    {"PK", "SK", "Status", "Reason", "Attempts", "EndedAt", "ExpiresAt", "Kind", "Service"}
    | {"Account", "StartedAt", "Usage"}
)
USAGE_DIGITS = 6
_JOB_USAGE = {  # job attribute -> Usage field
    "UsageTasks": "tasks",
    "UsageMs": "ms",
    "UsageMbMs": "mb_ms",
    "UsageInvocations": "invocations",
    "UsageRru": "read_units",
    "UsageWru": "write_units",
}
JOB_REQUESTS_PREFIX = "UsageReq_"


def camel(name: str) -> str:
    """``resource_count`` -> ``ResourceCount``."""
    return "".join(part.capitalize() for part in name.split("_"))


def snake(name: str) -> str:
    """``ResourceCount`` -> ``resource_count``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def dumps(value: Any) -> str:
    """Compact, stable JSON text (what ``Config`` attributes hold)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _int(item: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value) if value is not None else default


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value) if value is not None else None


def number(value: float) -> Decimal:
    """A measured figure as a DynamoDB number (boto3 refuses floats)."""
    text = f"{float(value):.{USAGE_DIGITS}f}".rstrip("0").rstrip(".")
    return Decimal(text if text not in {"", "-0"} else "0")  # no exponent: 20, not 2E+1


# ---------------------------------------------------------------- usage
def task_usage_item(usage: Usage) -> dict[str, Any]:
    """A task's ``Usage`` map."""
    return {
        "Ms": number(usage.ms),
        "MbMs": number(usage.mb_ms),
        "Inv": number(usage.invocations),
        "Rru": number(usage.read_units),
        "Wru": number(usage.write_units),
        "Req": {name: number(n) for name, n in sorted(usage.requests.items())},
    }


def task_usage_of(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    requests = value.get("Req") or {}
    return Usage(
        ms=float(value.get("Ms", 0)),
        mb_ms=float(value.get("MbMs", 0)),
        invocations=float(value.get("Inv", 0)),
        requests={str(k): float(v) for k, v in requests.items()}
        if isinstance(requests, Mapping)
        else {},
        read_units=float(value.get("Rru", 0)),
        write_units=float(value.get("Wru", 0)),
        tasks=1,
    )


def job_usage_adds(usage: Usage) -> dict[str, Decimal]:
    """What a job's accounting ADDs to its usage attributes (requests summed per service)."""
    adds = {name: number(getattr(usage, attr)) for name, attr in _JOB_USAGE.items()}
    for service, n in usage.by_service().items():
        adds[f"{JOB_REQUESTS_PREFIX}{service}"] = number(n)
    return {name: value for name, value in adds.items() if value}


def job_usage_of(item: Mapping[str, Any]) -> Usage:
    fields: dict[str, Any] = {attr: float(item.get(name) or 0) for name, attr in _JOB_USAGE.items()}
    fields["tasks"] = int(fields["tasks"])
    requests = {
        name[len(JOB_REQUESTS_PREFIX) :]: float(value)
        for name, value in item.items()
        if name.startswith(JOB_REQUESTS_PREFIX) and _is_number(value)
    }
    return Usage(requests=dict(sorted(requests.items())), **fields)


# ---------------------------------------------------------------- jobs and tasks
def job_item(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.job_pk(job.job_id),
        "SK": keys.JOB_SK,
        "GSI1PK": keys.JOBS_GSI_PK,
        "GSI1SK": f"{job.created_at}#{job.job_id}",
        "JobId": job.job_id,
        "Operation": job.operation.value,
        "Status": job.status.value,
        "Total": job.total,
        "Succeeded": job.succeeded,
        "Failed": job.failed,
        "Remaining": job.remaining,
        "Cancelled": job.cancelled,
        "TotalAccounts": job.total_accounts,
        "SkippedAccounts": [
            {"AccountId": s.account_id, "Reason": s.reason} for s in job.skipped_accounts
        ],
        "SkippedCount": job.skipped_count,
        "CreatedAt": job.created_at,
        "Deadline": job.deadline,
        "ExpiresAt": job.expires_at,
        "Refresh": job.refresh,
        "Service": job.service,
        "Policy": job.policy,
        "RetryOf": job.retry_of,
        "FinishedAt": job.finished_at,
        "UpdatedAt": job.updated_at,
        "TaskShards": job.task_shards if job.task_shards > 1 else None,
        **job_usage_adds(job.usage),
    }
    return {k: v for k, v in item.items() if v is not None}


def job_of(item: Mapping[str, Any]) -> Job:
    skipped = item.get("SkippedAccounts") or []
    return Job(
        job_id=str(item["JobId"]),
        operation=TaskKind(str(item.get("Operation", TaskKind.INVENTORY))),
        status=JobStatus(str(item.get("Status", JobStatus.IN_PROGRESS))),
        total=_int(item, "Total"),
        succeeded=_int(item, "Succeeded"),
        failed=_int(item, "Failed"),
        remaining=_int(item, "Remaining"),
        cancelled=bool(item.get("Cancelled", False)),
        created_at=str(item.get("CreatedAt", "")),
        finished_at=_str(item, "FinishedAt"),
        updated_at=_str(item, "UpdatedAt"),
        deadline=_int(item, "Deadline"),
        expires_at=_int(item, "ExpiresAt"),
        service=_str(item, "Service"),
        policy=_str(item, "Policy"),
        refresh=bool(item.get("Refresh", False)),
        total_accounts=_int(item, "TotalAccounts"),
        skipped_accounts=tuple(
            SkippedAccount(str(s.get("AccountId", "")), str(s.get("Reason", "")))
            for s in skipped
            if isinstance(s, Mapping)
        ),
        skipped_count=_int(item, "SkippedCount"),
        retry_of=_str(item, "RetryOf"),
        usage=job_usage_of(item),
        task_shards=max(1, _int(item, "TaskShards", 1)),
    )


def task_sk(key: TaskKey) -> str:
    return keys.task_sk(key.account_id, key.kind.value, key.service)


def task_key_of_sk(sk: str) -> TaskKey:
    account_id, kind, service = keys.parse_task_sk(sk)
    return TaskKey(account_id, TaskKind(kind), service)


def task_pk(job_id: str, key: TaskKey, shards: int) -> str:
    return keys.task_pk(job_id, key.account_id, shards)


def new_task_item(job_id: str, key: TaskKey, expires_at: int, shards: int = 1) -> dict[str, Any]:
    return {
        "PK": task_pk(job_id, key, shards),
        "SK": task_sk(key),
        "Status": TaskStatus.PENDING.value,
        "Kind": key.kind.value,
        "Service": key.service,
        "Account": key.account_id,
        "ExpiresAt": expires_at,
    }


def task_of(job_id: str, item: Mapping[str, Any]) -> Task:
    counts = {
        snake(name): int(value)
        for name, value in item.items()
        if name not in _TASK_FIELDS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    }
    return Task(
        job_id=job_id,
        key=task_key_of_sk(str(item["SK"])),
        status=TaskStatus(str(item.get("Status", TaskStatus.PENDING))),
        reason=str(item.get("Reason", "")),
        attempts=_int(item, "Attempts"),
        ended_at=_str(item, "EndedAt"),
        counts=counts,
        usage=task_usage_of(item.get("Usage")),
    )


# ---------------------------------------------------------------- accounts
def account_item(account: Account) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.ACCOUNT_PK,
        "SK": account.account_id,
        "AccountId": account.account_id,
        "Name": account.name,
        "Status": account.status.value,
        "Source": account.source,
        "OrgStatus": account.org_status,
        "AddedAt": account.added_at,
        "UpdatedAt": account.updated_at,
    }
    if account.tags:
        item["Tags"] = dict(account.tags)
    return {k: v for k, v in item.items() if v is not None}


def account_of(item: Mapping[str, Any]) -> Account:
    status = str(item.get("Status", AccountStatus.ACTIVE))
    known = status in AccountStatus.__members__
    return Account(
        account_id=str(item.get("AccountId") or item["SK"]),
        status=AccountStatus(status) if known else AccountStatus.SUSPENDED,
        name=str(item.get("Name", "")),
        source=str(item.get("Source", "manual")),
        tags={str(k): str(v) for k, v in (item.get("Tags") or {}).items()},
        org_status=_str(item, "OrgStatus"),
        added_at=_str(item, "AddedAt"),
        updated_at=_str(item, "UpdatedAt"),
    )


# ---------------------------------------------------------------- resources
def resource_item(
    resource: Resource, job_id: str, collection_id: str, seen_at: str, seen_ms: int
) -> dict[str, Any]:
    """The item of an inventoried resource (``Config`` is compact JSON text; ``SeenAtMs`` the
    wall-clock time of the write, which the deletion sweep compares)."""
    return {
        "PK": keys.resource_pk(resource.account_id, resource.service),
        "SK": keys.resource_sk(resource.scope, resource.arn),
        "Arn": resource.arn,
        "Type": resource.type,
        "Scope": resource.scope,
        "Name": resource.name,
        "Account": resource.account_id,
        "Service": resource.service,
        "Config": dumps(resource.config),
        "CollectionId": collection_id,
        "LastSeenJob": job_id,
        "LastSeenAt": seen_at,
        "SeenAtMs": seen_ms,
    }


def resource_of(item: Mapping[str, Any]) -> Resource:
    raw = item.get("Config")
    if isinstance(raw, str):
        config = json.loads(raw) if raw else {}
    elif isinstance(raw, dict):
        config = raw
    else:
        config = {}
    pk = str(item.get("PK", ""))
    sk = str(item.get("SK", ""))
    parts = pk.split("#", 2)  # RES#<account>#<service>
    return Resource(
        arn=str(item.get("Arn") or sk.split("#", 1)[-1]),
        account_id=str(item.get("Account") or (parts[1] if len(parts) == 3 else "")),
        service=str(item.get("Service") or (parts[2] if len(parts) == 3 else "")),
        type=str(item.get("Type", "")),
        scope=str(item.get("Scope") or sk.split("#", 1)[0]),
        config=config if isinstance(config, dict) else {},
        name=str(item.get("Name") or ""),
    )


# ---------------------------------------------------------------- findings
_FINDING_ATTRS = {
    "title": "Title",
    "evidence": "Evidence",
    "resource_type": "ResourceType",
    "scope": "Scope",
    "region": "Region",
    "service": "Service",
    "first_seen": "FirstSeen",
    "last_seen": "LastSeen",
    "resolved_at": "ResolvedAt",
    "resolved_reason": "ResolvedReason",
    "reopened_at": "ReopenedAt",
    "opened_by_job": "OpenedByJob",
    "last_job": "LastJob",
    "muted_by": "MutedBy",
    "muted_reason": "MutedReason",
    "muted_until": "MutedUntil",
}


def finding_gsi_sk(severity: str, account_id: str, arn: str) -> str:
    return f"{severity}#{account_id}#{arn}"


def finding_item(finding: Finding) -> dict[str, Any]:
    """The full item of a finding: its keys, plus the GSI1 keys while OPEN (the open index is
    sparse: a resolved finding leaves it)."""
    item: dict[str, Any] = {
        "PK": keys.finding_pk(finding.account_id),
        "SK": keys.finding_sk(finding.policy_id, finding.arn),
        "Account": finding.account_id,
        "Policy": finding.policy_id,
        "Arn": finding.arn,
        "State": finding.state.value,
        "Severity": finding.severity.value,
    }
    for field_name, attribute in _FINDING_ATTRS.items():
        value = getattr(finding, field_name)
        if value is not None and value != "":
            item[attribute] = value
    if finding.is_open:
        item["GSI1PK"] = keys.open_finding_gsi_pk(finding.policy_id)
        item["GSI1SK"] = finding_gsi_sk(finding.severity.value, finding.account_id, finding.arn)
    return item


def finding_of(item: Mapping[str, Any]) -> Finding:
    fields: dict[str, Any] = {
        name: item.get(attribute) for name, attribute in _FINDING_ATTRS.items()
    }
    for name in ("title", "evidence", "resource_type", "scope", "service", "first_seen"):
        fields[name] = str(fields[name] or "")
    fields["last_seen"] = str(fields["last_seen"] or "")
    return Finding(
        account_id=str(item["Account"]),
        policy_id=str(item["Policy"]),
        arn=str(item["Arn"]),
        state=FindingState(str(item.get("State", FindingState.OPEN))),
        severity=Severity.parse(item.get("Severity", "low")),
        **fields,
    )


# ---------------------------------------------------------------- dashboard summary
_TALLY_COUNTS = ("passed", "failed", "unknown", "not_applicable", "muted")


def summary_item(tally: PolicyTally) -> dict[str, Any]:
    return {
        "PK": keys.SUMMARY_PK,
        "SK": f"{tally.account_id}#{tally.policy_id}",
        "Account": tally.account_id,
        "Policy": tally.policy_id,
        "Severity": tally.severity.value,
        "Open": tally.open,
        "UpdatedAt": tally.updated_at,
        **{camel(name): getattr(tally, name) for name in _TALLY_COUNTS},
    }


def summary_of(item: Mapping[str, Any]) -> PolicyTally:
    return PolicyTally(
        account_id=str(item.get("Account", "")),
        policy_id=str(item.get("Policy", "")),
        severity=Severity.parse(item.get("Severity", "low")),
        open=_int(item, "Open"),
        updated_at=str(item.get("UpdatedAt", "")),
        **{name: _int(item, camel(name)) for name in _TALLY_COUNTS},
    )


# ---------------------------------------------------------------- evaluations
def evaluation_item(evaluation: Evaluation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.evaluation_pk(evaluation.account_id),
        "SK": keys.finding_sk(evaluation.policy_id, evaluation.arn),
        "Status": evaluation.status.value,
        "Evidence": evaluation.evidence,
        "ResourceType": evaluation.resource_type,
        "Region": evaluation.region,
        "Since": evaluation.since,
        "LastJob": evaluation.last_job,
    }
    return {k: v for k, v in item.items() if v not in (None, "")}


def evaluation_of(item: Mapping[str, Any]) -> Evaluation:
    policy_id, arn = str(item["SK"]).split("#", 1)
    return Evaluation(
        account_id=str(item["PK"]).split("#", 1)[1],
        policy_id=policy_id,
        arn=arn,
        status=ResultStatus(str(item.get("Status", ResultStatus.UNKNOWN))),
        evidence=str(item.get("Evidence", "")),
        resource_type=str(item.get("ResourceType", "")),
        region=_str(item, "Region"),
        since=str(item.get("Since", "")),
        last_job=str(item.get("LastJob", "")),
    )


# ---------------------------------------------------------------- mutes
def mute_item(mute: Mute) -> dict[str, Any]:
    return {
        "PK": keys.MUTE_PK,
        "SK": mute.mute_id,
        "Policy": mute.policy,
        "Account": mute.account,
        "Resource": mute.resource,
        "Reason": mute.reason,
        "ExpiresAt": mute.expires_at,
        "CreatedAt": mute.created_at,
    }


def mute_of(item: Mapping[str, Any]) -> Mute:
    return Mute(
        mute_id=str(item["SK"]),
        policy=str(item.get("Policy", "*")),
        account=str(item.get("Account", "*")),
        resource=str(item.get("Resource", "*")),
        reason=str(item.get("Reason", "")),
        expires_at=str(item.get("ExpiresAt", "")),
        created_at=str(item.get("CreatedAt", "")),
    )


# ---------------------------------------------------------------- coverage
_COVERAGE_ATTRS = {
    "job_id": "JobId",
    "at": "At",
    "failed_job_id": "FailedJobId",
    "failed_at": "FailedAt",
    "failure": "Failure",
}


def coverage_success_update(coverage: Coverage) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(SET expression, names, values) recording a success, keeping the last failure."""
    values_: dict[str, Any] = {"JobId": coverage.job_id, "At": coverage.at}
    values_.update({camel(name): value for name, value in coverage.counts.items()})
    return _set(values_)


def coverage_failure_update(coverage: Coverage) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(SET expression, names, values) recording a failure, keeping the last success."""
    return _set(
        {
            "FailedJobId": coverage.failed_job_id,
            "FailedAt": coverage.failed_at,
            "Failure": coverage.failure,
        }
    )


def _set(attributes: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    sets, names, values_ = [], {}, {}
    for i, (name, value) in enumerate(attributes.items()):
        sets.append(f"#c{i} = :c{i}")
        names[f"#c{i}"] = name
        values_[f"c{i}"] = value
    return "SET " + ", ".join(sets), names, values_


def coverage_of(item: Mapping[str, Any]) -> Coverage:
    kind, service = str(item["SK"]).split("#", 1)
    known = {"PK", "SK", *_COVERAGE_ATTRS.values()}
    return Coverage(
        account_id=str(item["PK"]).split("#", 1)[1],
        kind=TaskKind(kind),
        service=service,
        counts={
            snake(name): int(value)
            for name, value in item.items()
            if name not in known and _is_number(value)
        },
        **{field_: _str(item, attr) for field_, attr in _COVERAGE_ATTRS.items()},
    )
