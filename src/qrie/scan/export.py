"""Streaming exports of findings (as :mod:`qrie.scan.findings` yields them).

Every format writes one finding at a time to ``out``: a generator of findings is consumed
lazily and memory stays flat however many findings an organization has.

- ``json``: a JSON array, written incrementally (``[``, one finding per line, ``]``); each element
  is :meth:`qrie.domain.Finding.to_dict` (snake_case keys, like every qrie JSON).
- ``csv``: one header row (:data:`CSV_HEADER`) and one row per finding. Cells that a spreadsheet
  would run as a formula (leading ``= + - @``, tab, CR) are prefixed with ``'``: evidence and
  titles quote resource data from member accounts.
- ``ocsf``: a JSON array of OCSF 1.1.0 *Compliance Finding* events (class_uid 2003, category
  Findings, 2). Mapping choices:

  * ``activity_id``: an export is a snapshot of each finding's current state, so an OPEN
    finding is reported as its **Create** (1) event and a RESOLVED one as its **Close** (3)
    event; ``type_uid = 2003 * 100 + activity_id``. Consumers deduplicate on
    ``finding_info.uid`` (stable: account, policy, ARN) and order by ``time``.
  * ``time``: when the state was last established (LastSeen while open, ResolvedAt once
    resolved), epoch milliseconds like every OCSF timestamp.
  * ``status_id``: 1 New (open) / 3 Suppressed (muted, still failing) / 4 Resolved;
    ``compliance.status_id``: 3 Fail (open or muted) / 1 Pass (resolved as compliant); a
    finding resolved because its resource was deleted carries no compliance status (the check
    has nothing left to pass or fail), only ``status_detail``.
  * ``severity_id``: low 2, medium 3, high 4, critical 5 (1 Informational is unused).
  * ``compliance.standards`` (required in 1.1.0) names the framework versions with a control
    the policy answers (the CIS AWS Foundations Benchmark versions of
    :mod:`qrie.policies.frameworks`); ``requirements`` lists those controls ("CIS v3.0 2.1.4");
    ``control`` is the qrie policy id.
  * The affected resource is ``resource`` (a ``resource_details`` object): OCSF 1.1.0 Compliance
    Finding has the singular attribute; ``resources`` only exists from 1.3.0 on.
  * ``cloud`` (the Cloud profile, declared in ``metadata.profiles``): provider AWS, the account,
    and the region when the resource has one (IAM is global).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from qrie.domain import Finding, parse_timestamp
from qrie.domain.findings import REASON_COMPLIANT
from qrie.policies.base import Policy
from qrie.policies.frameworks import Frameworks, load_frameworks

FORMATS = ("json", "csv", "ocsf")
CSV_HEADER: tuple[str, ...] = (
    "account_id",
    "policy_id",
    "severity",
    "state",
    "resource_arn",
    "resource_type",
    "region",
    "title",
    "evidence",
    "first_seen",
    "last_seen",
    "resolved_at",
    "resolved_reason",
    "cis",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

OCSF_VERSION = "1.1.0"
CLASS_UID = 2003
CLASS_NAME = "Compliance Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
ACTIVITY_CREATE = 1
ACTIVITY_CLOSE = 3
ACTIVITY_NAMES = {ACTIVITY_CREATE: "Create", ACTIVITY_CLOSE: "Close"}
SEVERITY_IDS = {"low": 2, "medium": 3, "high": 4, "critical": 5}
STATUS_NEW = 1
STATUS_SUPPRESSED = 3  # a muted finding: still failing, accepted for a while
STATUS_RESOLVED = 4
COMPLIANCE_PASS = 1
COMPLIANCE_FAIL = 3
PRODUCT = {"name": "qrie", "vendor_name": "qrie"}
NO_STANDARD = "qrie AWS security policies"


def export(
    findings: Iterable[Finding],
    fmt: str,
    out: TextIO,
    policies: Mapping[str, Policy],
    frameworks: Frameworks | None = None,
) -> int:
    """Write ``findings`` to ``out`` in ``fmt`` (json, csv or ocsf), one at a time; returns how
    many were written. ``policies`` (by id) supplies titles; ``frameworks`` (default: the
    shipped ones) the CIS ids and standards."""
    mappings = frameworks if frameworks is not None else load_frameworks()
    if fmt == "json":
        return _json_array((finding.to_dict() for finding in findings), out)
    if fmt == "ocsf":
        return _json_array((ocsf_event(f, policies, mappings) for f in findings), out)
    if fmt == "csv":
        writer = csv_writer(out)
        writer.writerow(CSV_HEADER)
        written = 0
        for finding in findings:
            writer.writerow(csv_row(finding, mappings))
            written += 1
        return written
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _json_array(items: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    out.write("[")
    written = 0
    for item in items:
        out.write(",\n" if written else "\n")
        out.write(json.dumps(item, default=str, sort_keys=True))
        written += 1
    out.write("\n]\n")
    return written


# ---------------------------------------------------------------- csv
def csv_writer(out: TextIO) -> Any:
    """A CSV writer with RFC 4180's line break: it quotes a cell holding any character of it
    (with a bare "\n" line break, a "\r" in a cell is written unquoted and ends the row for a
    reader)."""
    return csv.writer(out, lineterminator="\r\n")


def csv_cell(value: str | int | None) -> str:
    """A cell's text; one a spreadsheet would run as a formula is prefixed with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_row(finding: Finding, frameworks: Frameworks | None = None) -> list[str]:
    mappings = frameworks if frameworks is not None else load_frameworks()
    values = (
        finding.account_id,
        finding.policy_id,
        finding.severity.value,
        finding.state.value,
        finding.arn,
        finding.resource_type,
        finding.region or "",
        finding.title,
        finding.evidence,
        finding.first_seen,
        finding.last_seen,
        finding.resolved_at,
        finding.resolved_reason,
        "; ".join(mappings.requirements(finding.policy_id)),
    )
    return [csv_cell(v) for v in values]


# ---------------------------------------------------------------- ocsf
def _epoch_ms(text: str | None) -> int | None:
    if not text:
        return None
    return int(parse_timestamp(text).timestamp() * 1000)


def _partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def finding_uid(finding: Finding) -> str:
    """Stable id of a finding across exports: one per (account, policy, resource)."""
    return f"qrie/{finding.account_id}/{finding.policy_id}/{finding.arn}"


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _status_id(finding: Finding) -> int:
    if finding.is_muted:
        return STATUS_SUPPRESSED
    return STATUS_NEW if finding.is_open else STATUS_RESOLVED


def ocsf_event(
    finding: Finding, policies: Mapping[str, Policy], frameworks: Frameworks | None = None
) -> dict[str, Any]:
    """One OCSF 1.1.0 Compliance Finding event for a finding (mapping: module doc)."""
    mappings = frameworks if frameworks is not None else load_frameworks()
    policy_id = finding.policy_id
    policy = policies.get(policy_id)
    is_open = finding.is_failing  # OPEN or MUTED: the check still fails
    reason = finding.resolved_reason or ""
    activity_id = ACTIVITY_CREATE if is_open else ACTIVITY_CLOSE
    severity = finding.severity.value
    title = finding.title or (policy.title if policy else policy_id)
    evidence = finding.evidence
    arn = finding.arn
    where = finding.region
    when = finding.last_seen if is_open else finding.resolved_at
    time_ms = _epoch_ms(when or finding.last_seen or finding.first_seen) or 0

    compliance: dict[str, Any] = {
        "control": policy_id,
        "standards": mappings.standards(policy_id) or [NO_STANDARD],
        "requirements": mappings.requirements(policy_id),
    }
    if is_open:
        compliance.update(status="Fail", status_id=COMPLIANCE_FAIL, status_detail=evidence)
    elif reason == REASON_COMPLIANT:
        compliance.update(status="Pass", status_id=COMPLIANCE_PASS, status_detail=reason)
    else:
        compliance["status_detail"] = reason or "resolved"

    return {
        "activity_id": activity_id,
        "activity_name": ACTIVITY_NAMES[activity_id],
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {ACTIVITY_NAMES[activity_id]}",
        "severity_id": SEVERITY_IDS.get(severity, 0),
        "severity": severity.capitalize() if severity in SEVERITY_IDS else "Unknown",
        "status_id": _status_id(finding),
        "status": {STATUS_NEW: "New", STATUS_SUPPRESSED: "Suppressed"}.get(
            _status_id(finding), "Resolved"
        ),
        "time": time_ms,
        "message": title,
        "metadata": {"version": OCSF_VERSION, "product": dict(PRODUCT), "profiles": ["cloud"]},
        "finding_info": _drop_none(
            {
                "uid": finding_uid(finding),
                "title": title,
                "desc": evidence,
                "first_seen_time": _epoch_ms(finding.first_seen),
                "last_seen_time": _epoch_ms(finding.last_seen),
            }
        ),
        "compliance": compliance,
        "resource": _drop_none(
            {
                "uid": arn,
                "type": finding.resource_type or None,
                "region": where,
                "cloud_partition": _partition(arn),
            }
        ),
        "cloud": _drop_none(
            {"provider": "AWS", "account": {"uid": finding.account_id}, "region": where}
        ),
    }
