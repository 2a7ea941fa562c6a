"""The policy registry: ids, metadata, CIS mappings and selection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qrie.domain import Severity
from qrie.policies.base import Policy
from qrie.policies.registry import all_policies, get_policy, select, services_of

POLICIES = list(all_policies().values())
IDS = [policy.id for policy in POLICIES]
ID_PATTERN = re.compile(r"^(?P<service>[a-z0-9]+)\.(?P<name>[a-z][a-z0-9_]*)$")
CIS_ID = re.compile(r"^\d+(\.\d+)*$")
# Policies with no CIS AWS Foundations v3.0/v5.0 control (best practice beyond the benchmark;
# S3 default encryption was CIS v1.5 2.1.1, dropped in v2.0 once S3 encrypted by default).
NO_CIS_CONTROL = frozenset(
    {
        "s3.public_bucket_policy",
        "s3.default_encryption",
        "s3.versioning",
        "ec2.public_instance_open_sg",
    }
)
REQUIRED = {
    "s3": {
        "s3.public_access_block",
        "s3.default_encryption",
        "s3.versioning",
        "s3.mfa_delete",
        "s3.tls_only",
        "s3.public_bucket_policy",
    },
    "ec2": {
        "ec2.ebs_volume_encryption",
        "ec2.ebs_default_encryption",
        "ec2.imdsv2_required",
        "ec2.sg_open_admin_ports",
        "ec2.default_sg_restricts_traffic",
        "ec2.public_instance_open_sg",
    },
    "iam": {
        "iam.root_mfa",
        "iam.root_access_keys",
        "iam.user_console_mfa",
        "iam.access_key_rotation",
        "iam.access_key_unused",
        "iam.password_policy",
        "iam.admin_star_policy",
    },
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def test_ids_are_unique() -> None:
    # GIVEN every registered policy
    # WHEN their ids are compared
    # THEN none repeats
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_policy_metadata(policy: Policy) -> None:
    # GIVEN a registered policy
    match = ID_PATTERN.match(policy.id)
    # THEN its id is "<service>.<snake_case name>" with its own service
    assert match is not None, policy.id
    assert match["service"] == policy.service
    # AND it targets resource types of that service, and says what and how to fix
    assert policy.resource_types
    assert all(t.startswith(f"{policy.service}.") for t in policy.resource_types)
    assert policy.title.strip()
    assert isinstance(policy.severity, Severity)
    assert policy.remediation.strip().endswith(".")
    # AND its CIS mapping is well formed
    assert set(policy.cis) <= {"v3.0", "v5.0"}
    assert all(CIS_ID.match(cid) for ids in policy.cis.values() for cid in ids)


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
def test_cis_mapping(policy: Policy) -> None:
    # GIVEN a registered policy
    # THEN it maps to CIS v3.0 and v5.0 controls, unless the benchmark has no such control
    if policy.id in NO_CIS_CONTROL:
        assert policy.cis == {}
        assert policy.cis_ids() == []
    else:
        assert policy.cis.get("v3.0"), policy.id
        assert policy.cis.get("v5.0"), policy.id
        assert policy.cis_ids()[0].startswith("CIS v3.0 ")


def test_no_cis_exemptions_are_real_policies() -> None:
    # GIVEN the list of policies without a CIS control
    # THEN each is registered (the list does not go stale)
    assert set(IDS) >= NO_CIS_CONTROL


@pytest.mark.parametrize(
    ("policy_id", "v3", "v5"),
    [
        ("s3.public_access_block", ("2.1.4",), ("2.1.4",)),
        ("s3.tls_only", ("2.1.1",), ("2.1.1",)),
        ("s3.mfa_delete", ("2.1.2",), ("2.1.2",)),
        ("ec2.ebs_volume_encryption", ("2.2.1",), ("5.1.1",)),
        ("ec2.imdsv2_required", ("5.6",), ("5.7",)),
        ("ec2.sg_open_admin_ports", ("5.2", "5.3"), ("5.3", "5.4")),
        ("ec2.default_sg_restricts_traffic", ("5.4",), ("5.5",)),
        ("iam.root_access_keys", ("1.4",), ("1.3",)),
        ("iam.root_mfa", ("1.5",), ("1.4",)),
        ("iam.password_policy", ("1.8", "1.9"), ("1.7", "1.8")),
        ("iam.user_console_mfa", ("1.10",), ("1.9",)),
        ("iam.access_key_unused", ("1.12",), ("1.11",)),
        ("iam.access_key_rotation", ("1.14",), ("1.13",)),
        ("iam.admin_star_policy", ("1.16",), ("1.15",)),
    ],
)
def test_cis_numbering(policy_id: str, v3: tuple[str, ...], v5: tuple[str, ...]) -> None:
    # GIVEN a CIS-mapped policy
    # THEN it carries the benchmark's control ids for both versions
    assert get_policy(policy_id).cis == {"v3.0": v3, "v5.0": v5}


@pytest.mark.parametrize("service", sorted(REQUIRED))
def test_required_policies_are_registered(service: str) -> None:
    # GIVEN the policies the design asks for
    # THEN each service provides at least those
    assert REQUIRED[service] <= {p.id for p in select(f"{service}.*")}


def test_select_all() -> None:
    # WHEN selecting "*"
    # THEN every policy comes back, across the three services
    assert [p.id for p in select("*")] == IDS
    assert services_of(select("*")) == ["ec2", "iam", "s3"]


@pytest.mark.parametrize("service", ["s3", "ec2", "iam"])
def test_select_service(service: str) -> None:
    # WHEN selecting "<service>.*"
    selected = select(f"{service}.*")
    # THEN exactly that service's policies come back
    assert selected
    assert {p.service for p in selected} == {service}
    assert len(selected) == sum(1 for p in POLICIES if p.service == service)


@pytest.mark.parametrize("policy_id", IDS)
def test_select_one(policy_id: str) -> None:
    # WHEN selecting a policy by id
    # THEN only that policy comes back
    assert select(policy_id) == [get_policy(policy_id)]


@pytest.mark.parametrize("spec", ["nope", "nope.*", "s3", "s3.", "S3.*", "s3.nope", ""])
def test_select_nothing(spec: str) -> None:
    # WHEN selecting something that matches no policy
    # THEN the result is empty, not an error
    assert select(spec) == []


def test_get_policy_unknown_id_raises() -> None:
    # WHEN asking for an id that is not registered
    # THEN KeyError names it
    with pytest.raises(KeyError, match="nope"):
        get_policy("nope")


def test_docs_table_lists_every_policy() -> None:
    # GIVEN docs/policies.md
    text = DOCS.read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in text.splitlines()
        if line.startswith("| `")
    }
    # THEN it has one row per policy with its severity and CIS ids
    assert set(rows) == set(IDS)
    for policy in POLICIES:
        cells = [cell.strip() for cell in rows[policy.id].split("|")[1:-1]]
        assert cells[1] == policy.severity.value
        assert cells[2] == (", ".join(policy.cis.get("v3.0", ())) or "—")
        assert cells[3] == (", ".join(policy.cis.get("v5.0", ())) or "—")
