"""Finding queries (by account, policy, severity; paginated, streamed) and the exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qrie.domain import Account, Finding, Resource, Severity, timestamp
from qrie.domain.findings import REASON_COMPLIANT, REASON_DELETED
from qrie.policies.base import Policy
from qrie.policies.frameworks import Control, Framework, Frameworks
from qrie.policies.registry import all_policies
from qrie.scan import findings as f
from qrie.scan.engine import scan_account
from qrie.scan.export import CSV_HEADER, NO_STANDARD, export, ocsf_event
from qrie.store import keys
from qrie.store.table import Store
from tests.unit.test_scan_engine import create_table

A1, A2, A3 = "111111111111", "222222222222", "333333333333"
ACCOUNTS = [A1, A2, A3]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)

ENCRYPTED = Policy(
    "s3.encrypted", "s3", frozenset({"s3.bucket"}), "Bucket is not encrypted", Severity.HIGH
)
VERSIONED = Policy(
    "s3.versioned", "s3", frozenset({"s3.bucket"}), "Bucket is not versioned", Severity.MEDIUM
)
ROOT_MFA = Policy(
    "iam.root_mfa", "iam", frozenset({"iam.account"}), "Root user has no MFA", Severity.CRITICAL
)
CATALOG = {p.id: p for p in (ENCRYPTED, VERSIONED, ROOT_MFA)}


def cis(version: str, controls: dict[str, tuple[str, ...]]) -> Framework:
    """A CIS AWS Foundations version whose control ``<id>`` is answered by ``controls[<id>]``."""
    return Framework(
        id=f"cis-aws-{version}",
        name="CIS AWS Foundations Benchmark",
        abbreviation="CIS",
        version=f"v{version}",
        release=f"{version}.0",
        scope="the controls these tests map",
        notes="",
        sections={"1": "Identity and Access Management", "2.1": "Simple Storage Service (S3)"},
        controls=tuple(
            Control(
                cid,
                f"control {cid}",
                "2.1" if cid.startswith("2.1.") else "1",
                "Level 1",
                True,
                policies,
            )
            for cid, policies in controls.items()
        ),
    )


# s3.encrypted answers 2.1.1 in both versions, iam.root_mfa only v3.0's 1.5; s3.versioned nothing
FRAMEWORKS = Frameworks(
    (
        cis("3.0", {"1.5": ("iam.root_mfa",), "2.1.1": ("s3.encrypted",)}),
        cis("5.0", {"2.1.1": ("s3.encrypted",)}),
    )
)

# OCSF 1.1.0, Compliance Finding (class 2003, extends Finding, extends Base Event): the
# attributes the schema marks "required", per object. Base Event: activity_id, category_uid,
# class_uid, metadata, severity_id, time, type_uid; Finding adds finding_info; Compliance
# Finding adds compliance. Objects: metadata {product, version}; product {vendor_name} (relaxed
# to recommended only in 1.4.0); finding_info {uid, title} (title relaxed in 1.4.0); compliance
# {standards} (requirements, control, status_id are optional/recommended). The Cloud profile,
# which the events declare in metadata.profiles, makes cloud required, and cloud {provider}.
OCSF_REQUIRED: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "activity_id",
            "category_uid",
            "class_uid",
            "compliance",
            "finding_info",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
            "cloud",  # Cloud profile
        }
    ),
    "metadata": frozenset({"product", "version"}),
    "metadata.product": frozenset({"vendor_name"}),
    "finding_info": frozenset({"uid", "title"}),
    "compliance": frozenset({"standards"}),
    "cloud": frozenset({"provider"}),
}


def ts(when: datetime) -> str:
    return timestamp(when)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def bucket(name: str, account: str, region: str = "eu-west-1") -> Resource:
    return Resource(
        f"arn:aws:s3:::{name}", account, "s3", "s3.bucket", "global", {"region": region}, name
    )


def root(account: str) -> Resource:
    return Resource(f"arn:aws:iam::{account}:root", account, "iam", "iam.account", "global")


def opened(resource: Resource, policy: Policy, when: datetime = T0) -> Finding:
    return Finding.open(
        resource,
        policy.id,
        policy.severity,
        policy.title,
        f"{policy.id} violated",
        "job-1",
        ts(when),
    )


class QuerySpy:
    """Records the Query calls a Store makes (the real client answers them)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def query(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.client.query(**kwargs)


@pytest.fixture
def store(mocked_aws: None) -> Store:
    return create_table()


@pytest.fixture
def seeded(store: Store) -> Store:
    """Per account: 15 open ENCRYPTED findings, 5 VERSIONED of which 2 resolved; A1 also has
    an open ROOT_MFA finding. Open: 45 + 9 + 1 = 55; resolved: 6."""
    records: list[Finding] = []
    for account in ACCOUNTS:
        for i in range(15):
            records.append(opened(bucket(f"enc-{account}-{i:02}", account), ENCRYPTED))
        for i in range(5):
            record = opened(bucket(f"ver-{account}-{i}", account), VERSIONED)
            if i < 2:
                record = record.resolved(REASON_COMPLIANT, ts(T1), "job-2")
            records.append(record)
    records.append(opened(root(A1), ROOT_MFA))
    store.put_findings(records)
    return store


def spy(store: Store) -> QuerySpy:
    query_spy = QuerySpy(store.db.client)
    store.db.client = query_spy
    return query_spy


# ---------------------------------------------------------------- queries
def test_open_findings_of_a_policy_come_from_the_index_page_by_page(seeded: Store) -> None:
    # GIVEN 45 open findings of one policy over three accounts
    calls = spy(seeded).calls

    # WHEN they are listed with 4 items per page
    found = list(f.iter_findings(seeded, policy="s3.encrypted", page_size=4))

    # THEN every one is returned, as records, ordered by account then ARN, over 12 pages of
    # the policy's GSI1 partition
    assert len(found) == 45
    assert [(r.account_id, r.arn) for r in found] == sorted((r.account_id, r.arn) for r in found)
    assert all(isinstance(r, Finding) and r.state == "OPEN" for r in found)
    assert len(calls) == 12
    for call in calls:
        assert call["IndexName"] == keys.JOBS_INDEX
        assert call["ExpressionAttributeValues"][":pk"] == {"S": "OPEN#s3.encrypted"}
        assert call["Limit"] == 4


def test_queries_stream_lazily(seeded: Store) -> None:
    # GIVEN the seeded findings
    calls = spy(seeded).calls

    # WHEN a query is started and only its first record read
    records = f.iter_findings(seeded, policy="s3.encrypted", page_size=4)
    assert calls == []
    first = next(records)

    # THEN one page was read, not the whole partition
    assert first.policy_id == "s3.encrypted"
    assert len(calls) == 1


def test_findings_of_an_account(seeded: Store) -> None:
    # GIVEN the seeded findings
    calls = spy(seeded).calls

    # WHEN one account's findings are read by state, policy and severity, 3 per page
    def arns(**kwargs: Any) -> list[str]:
        return [r.arn for r in f.iter_findings(seeded, account=A2, page_size=3, **kwargs)]

    open_ = arns()
    resolved = arns(state="resolved")
    everything = arns(state="all")
    versioned = arns(state="all", policy="s3.versioned")
    medium_open = arns(severity="medium")

    # THEN each filter holds, all from the account's own partition
    assert len(open_) == 18
    assert resolved == [f"arn:aws:s3:::ver-{A2}-0", f"arn:aws:s3:::ver-{A2}-1"]
    assert len(everything) == 20
    assert versioned == [f"arn:aws:s3:::ver-{A2}-{i}" for i in range(5)]
    assert medium_open == [f"arn:aws:s3:::ver-{A2}-{i}" for i in range(2, 5)]
    assert {c["ExpressionAttributeValues"][":pk"]["S"] for c in calls} == {f"FINDING#{A2}"}
    assert all("IndexName" not in c for c in calls)
    assert len(calls) >= 20 // 3


def test_open_findings_by_severity_query_only_that_severitys_policies(seeded: Store) -> None:
    # GIVEN the seeded findings
    calls = spy(seeded).calls

    # WHEN open findings are listed by severity
    high = list(f.iter_findings(seeded, severity="high", policies=CATALOG))
    high_calls = list(calls)
    critical = list(f.iter_findings(seeded, severity=Severity.CRITICAL, policies=CATALOG))
    medium = list(f.iter_findings(seeded, severity="MEDIUM", policies=CATALOG, page_size=2))

    # THEN each comes from the GSI1 partitions of the policies of that severity only
    assert len(high) == 45
    assert {r.severity for r in high} == {"high"}
    assert {c["ExpressionAttributeValues"][":pk"]["S"] for c in high_calls} == {"OPEN#s3.encrypted"}
    assert all(c["ExpressionAttributeValues"][":skp"] == {"S": "high#"} for c in high_calls)
    assert [r.arn for r in critical] == [f"arn:aws:iam::{A1}:root"]
    assert len(medium) == 9


def test_findings_without_filters(seeded: Store) -> None:
    # GIVEN the seeded findings and the three accounts registered
    seeded.put_accounts(Account(a) for a in ACCOUNTS)

    # WHEN open, resolved and all findings are listed without filters
    open_ = list(f.iter_findings(seeded, policies=CATALOG))
    resolved = list(f.iter_findings(seeded, state="resolved", accounts_provider=lambda: [A1, A3]))
    everything = list(f.iter_findings(seeded, state="all"))
    resolved_versioned = list(f.iter_findings(seeded, state="resolved", policy="s3.versioned"))

    # THEN open findings come from every policy's index partition, the others per account
    assert len(open_) == 55
    assert {r.account_id for r in resolved} == {A1, A3}
    assert len(resolved) == 4
    assert len(everything) == 61
    assert len(resolved_versioned) == 6


def test_invalid_filters_are_rejected(seeded: Store) -> None:
    with pytest.raises(ValueError, match="unknown state"):
        list(f.iter_findings(seeded, state="closed"))
    with pytest.raises(ValueError, match="unknown severity"):
        list(f.iter_findings(seeded, severity="urgent"))


# ---------------------------------------------------------------- export records
OPEN_S3 = opened(bucket("data", A1), ENCRYPTED).refreshed(
    ENCRYPTED.severity, ENCRYPTED.title, "encryption=[]", "job-2", ts(T1)
)
RESOLVED_IAM = opened(root(A2), ROOT_MFA).resolved(REASON_COMPLIANT, ts(T2), "job-3")
DELETED_S3 = opened(bucket("gone", A3), ENCRYPTED).resolved(REASON_DELETED, ts(T1))
OPEN_EC2 = opened(
    Resource(
        f"arn:aws-us-gov:ec2:us-gov-west-1:{A1}:volume/vol-1",
        A1,
        "ec2",
        "ec2.volume",
        "us-gov-west-1",
        {},
    ),
    Policy("ec2.ebs", "ec2", frozenset({"ec2.volume"}), "EBS volume unencrypted", Severity.LOW),
)
RECORDS = [OPEN_S3, RESOLVED_IAM, DELETED_S3, OPEN_EC2]


def test_csv_has_the_header_and_one_row_per_finding() -> None:
    # GIVEN open and resolved findings of S3, IAM (global) and EC2 (regional) resources
    out = io.StringIO()

    # WHEN they are exported as CSV
    written = export(iter(RECORDS), "csv", out, CATALOG, FRAMEWORKS)

    # THEN the header and one row per finding are written, with region and CIS ids
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert written == 4
    assert rows[0] == list(CSV_HEADER)
    assert rows[0] == [
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
    ]
    assert rows[1] == [
        A1,
        "s3.encrypted",
        "high",
        "OPEN",
        "arn:aws:s3:::data",
        "s3.bucket",
        "eu-west-1",
        "Bucket is not encrypted",
        "encryption=[]",
        ts(T0),
        ts(T1),
        "",
        "",
        "CIS v3.0 2.1.1; CIS v5.0 2.1.1",
    ]
    assert rows[2] == [
        A2,
        "iam.root_mfa",
        "critical",
        "RESOLVED",
        f"arn:aws:iam::{A2}:root",
        "iam.account",
        "",
        "Root user has no MFA",
        "iam.root_mfa violated",
        ts(T0),
        ts(T0),
        ts(T2),
        "compliant",
        "CIS v3.0 1.5",
    ]
    assert rows[3][12] == "resource-deleted"
    assert rows[4][6] == "us-gov-west-1"
    assert rows[4][13] == ""  # a policy unknown to the catalog: no CIS ids
    assert len(rows) == 5


def test_csv_neutralizes_spreadsheet_formulas() -> None:
    # GIVEN evidence quoting member-account data that looks like a formula
    record = replace(OPEN_S3, evidence='=HYPERLINK("http://x","y")', title="@SUM(1)")
    out = io.StringIO()

    # WHEN it is exported as CSV
    export([record], "csv", out, CATALOG, FRAMEWORKS)

    # THEN those cells are prefixed so spreadsheets show them as text
    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[8] == '\'=HYPERLINK("http://x","y")'
    assert row[7] == "'@SUM(1)"


def test_a_csv_cell_with_a_bare_carriage_return_reads_back_whole() -> None:
    # GIVEN evidence quoting member-account data that holds a bare carriage return (a tag
    # value or an error message may hold any character)
    record = replace(OPEN_S3, evidence="tag=first line\rsecond line")
    out = io.StringIO()

    # WHEN it is exported as CSV
    export([record], "csv", out, CATALOG, FRAMEWORKS)

    # THEN a CSV reader reads back the header and one row, with the evidence whole
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == 2
    assert rows[1][0] == A1
    assert rows[1][8] == "tag=first line\rsecond line"


def test_json_is_an_array_equal_to_the_inputs() -> None:
    # GIVEN finding records
    out = io.StringIO()

    # WHEN they are exported as JSON
    written = export((r for r in RECORDS), "json", out, CATALOG, FRAMEWORKS)

    # THEN the output parses as the list of the findings (snake_case), one per line
    assert written == 4
    assert json.loads(out.getvalue()) == [r.to_dict() for r in RECORDS]
    assert json.loads(out.getvalue())[0]["resource_arn"] == "arn:aws:s3:::data"
    assert out.getvalue().startswith("[\n{")
    assert out.getvalue().count("\n") == 6


def test_empty_exports_are_valid() -> None:
    for fmt in ("json", "ocsf"):
        out = io.StringIO()
        assert export([], fmt, out, CATALOG, FRAMEWORKS) == 0
        assert json.loads(out.getvalue()) == []
    out = io.StringIO()
    assert export([], "csv", out, CATALOG, FRAMEWORKS) == 0
    assert out.getvalue() == ",".join(CSV_HEADER) + "\r\n"


def missing_required(event: dict[str, Any]) -> list[str]:
    missing = []
    for path, required in OCSF_REQUIRED.items():
        node: Any = event
        for part in path.split(".") if path else []:
            node = node[part]
        missing += [f"{path}.{name}".lstrip(".") for name in required if node.get(name) is None]
    return missing


@pytest.mark.parametrize("record", RECORDS, ids=["open", "resolved", "deleted", "open-ec2"])
def test_ocsf_events_have_every_required_attribute(record: Finding) -> None:
    # GIVEN a finding record
    out = io.StringIO()

    # WHEN it is exported as OCSF
    export([record], "ocsf", out, CATALOG, FRAMEWORKS)
    (event,) = json.loads(out.getvalue())

    # THEN every attribute OCSF 1.1.0 requires for a Compliance Finding is present
    assert missing_required(event) == []
    assert event["class_uid"] == 2003
    assert event["category_uid"] == 2
    assert event["type_uid"] == 2003 * 100 + event["activity_id"]
    assert event["metadata"]["version"] == "1.1.0"
    assert event["metadata"]["product"] == {"name": "qrie", "vendor_name": "qrie"}
    assert event["metadata"]["profiles"] == ["cloud"]
    assert isinstance(event["time"], int)
    assert event["finding_info"]["uid"] == f"qrie/{record.account_id}/{record.policy_id}/" + str(
        record.arn
    )
    assert event["compliance"]["standards"]


def test_ocsf_mapping_of_open_and_resolved_findings() -> None:
    # WHEN the open, resolved and deleted findings are mapped
    open_event = ocsf_event(OPEN_S3, CATALOG, FRAMEWORKS)
    resolved_event = ocsf_event(RESOLVED_IAM, CATALOG, FRAMEWORKS)
    deleted_event = ocsf_event(DELETED_S3, CATALOG, FRAMEWORKS)
    ec2_event = ocsf_event(OPEN_EC2, CATALOG, FRAMEWORKS)

    # THEN an open finding is a Create event: New, compliance Fail, high = 4, time = LastSeen
    assert open_event["activity_id"] == 1
    assert open_event["type_uid"] == 200301
    assert (open_event["status_id"], open_event["status"]) == (1, "New")
    assert (open_event["severity_id"], open_event["severity"]) == (4, "High")
    assert open_event["time"] == ms(T1)
    assert open_event["finding_info"] == {
        "uid": f"qrie/{A1}/s3.encrypted/arn:aws:s3:::data",
        "title": "Bucket is not encrypted",
        "desc": "encryption=[]",
        "first_seen_time": ms(T0),
        "last_seen_time": ms(T1),
    }
    assert open_event["compliance"] == {
        "control": "s3.encrypted",
        "standards": ["CIS AWS Foundations Benchmark v3.0", "CIS AWS Foundations Benchmark v5.0"],
        "requirements": ["CIS v3.0 2.1.1", "CIS v5.0 2.1.1"],
        "status": "Fail",
        "status_id": 3,
        "status_detail": "encryption=[]",
    }
    assert open_event["resource"] == {
        "uid": "arn:aws:s3:::data",
        "type": "s3.bucket",
        "region": "eu-west-1",
        "cloud_partition": "aws",
    }
    assert open_event["cloud"] == {
        "provider": "AWS",
        "account": {"uid": A1},
        "region": "eu-west-1",
    }
    # AND a resolved one is a Close event: Resolved, compliance Pass, time = ResolvedAt
    assert (resolved_event["activity_id"], resolved_event["type_uid"]) == (3, 200303)
    assert (resolved_event["status_id"], resolved_event["status"]) == (4, "Resolved")
    assert resolved_event["severity_id"] == 5
    assert resolved_event["time"] == ms(T2)
    assert resolved_event["compliance"]["status_id"] == 1
    assert "region" not in resolved_event["cloud"]  # IAM is global
    # AND a deleted resource's finding has no pass/fail compliance status
    assert deleted_event["type_uid"] == 200303
    assert "status_id" not in deleted_event["compliance"]
    assert deleted_event["compliance"]["status_detail"] == "resource-deleted"
    # AND partition, low severity and a policy outside the catalog are handled
    assert ec2_event["resource"]["cloud_partition"] == "aws-us-gov"
    assert ec2_event["severity_id"] == 2
    assert ec2_event["compliance"]["standards"] == [NO_STANDARD]
    assert ec2_event["compliance"]["requirements"] == []


def test_ocsf_with_the_registered_policies() -> None:
    # GIVEN findings of registered policies, one CIS-mapped and one not
    policies = all_policies()
    pab = opened(bucket("p", A1), policies["s3.public_access_block"])
    versioning = opened(bucket("p", A1), policies["s3.versioning"])

    # WHEN they are mapped to OCSF
    pab_event = ocsf_event(pab, policies)
    versioning_event = ocsf_event(versioning, policies)

    # THEN the CIS controls become requirements and standards
    assert pab_event["compliance"]["requirements"] == ["CIS v3.0 2.1.4", "CIS v5.0 2.1.4"]
    assert pab_event["compliance"]["standards"] == [
        "CIS AWS Foundations Benchmark v3.0",
        "CIS AWS Foundations Benchmark v5.0",
    ]
    assert versioning_event["compliance"]["requirements"] == []
    assert versioning_event["compliance"]["standards"] == [NO_STANDARD]
    assert missing_required(pab_event) == []


@pytest.mark.parametrize("fmt", ["json", "csv", "ocsf"])
def test_exports_write_each_finding_before_reading_the_next(fmt: str) -> None:
    # GIVEN a generator of findings that checks the output so far each time it is advanced
    out = io.StringIO()
    records = [opened(bucket(f"stream-{i}", A1), ENCRYPTED) for i in range(5)]
    pulled: list[int] = []

    def source() -> Iterator[Finding]:
        for i, record in enumerate(records):
            if i:
                # the previous finding is already written when the next one is requested
                assert f"arn:aws:s3:::stream-{i - 1}" in out.getvalue()
            assert f"arn:aws:s3:::stream-{i}" not in out.getvalue()
            pulled.append(i)
            yield record

    # WHEN it is exported
    written = export(source(), fmt, out, CATALOG, FRAMEWORKS)

    # THEN every finding was pulled one at a time and written
    assert written == 5
    assert pulled == [0, 1, 2, 3, 4]
    assert "arn:aws:s3:::stream-4" in out.getvalue()


def test_unknown_format_writes_nothing() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError, match="unknown format"):
        export(RECORDS, "xml", out, CATALOG, FRAMEWORKS)
    assert out.getvalue() == ""


def test_scan_then_export_open_findings(store: Store) -> None:
    # GIVEN an account whose inventory was scanned by a registered policy
    policies = all_policies()
    resource = Resource(
        "arn:aws:s3:::plain", A1, "s3", "s3.bucket", "global", {"versioning": "Suspended"}, "plain"
    )
    store.put_resources([resource], "inv", "c", ts(T0))
    scan_account(store, A1, "s3", [policies["s3.versioning"]], "scan-1", T0)

    # WHEN the open findings of that policy are exported as CSV
    out = io.StringIO()
    written = export(f.iter_findings(store, policy="s3.versioning"), "csv", out, policies)

    # THEN the finding is there
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == 1
    assert rows[0]["resource_arn"] == "arn:aws:s3:::plain"
    assert rows[0]["evidence"] == "versioning='Suspended'"
    assert rows[0]["state"] == "OPEN"
