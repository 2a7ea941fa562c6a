"""Framework mappings as data: the shipped CIS AWS Foundations files, their loader, and how
they tie the controls to the registered policies."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from qrie.policies.frameworks import (
    FrameworkError,
    Frameworks,
    load_frameworks,
    loads_framework,
    parse_framework,
    read_frameworks,
)
from qrie.policies.registry import all_policies, get_policy

FRAMEWORKS = load_frameworks()
V3 = FRAMEWORKS.get("cis-aws-3.0")
V5 = FRAMEWORKS.get("cis-aws-5.0")
POLICY_IDS = sorted(all_policies())


def dotted(prefix: str, first: int, last: int) -> set[str]:
    return {f"{prefix}{n}" for n in range(first, last + 1)}


# The controls each file lists: every control of the benchmark's IAM, S3, EC2 and Networking
# sections, and of Logging the three that read what qrie inventories (VPC flow logs, S3 data
# events). v5.0 dropped v3.0's 1.3 (security questions) and moved EBS encryption to 5.1.1.
SCOPE = {
    "cis-aws-3.0": dotted("1.", 1, 22)
    | dotted("2.1.", 1, 4)
    | {"2.2.1"}
    | dotted("3.", 7, 9)
    | dotted("5.", 1, 6),
    "cis-aws-5.0": dotted("1.", 1, 21)
    | dotted("2.1.", 1, 4)
    | dotted("3.", 7, 9)
    | {"5.1.1", "5.1.2"}
    | dotted("5.", 2, 7),
}
# Manual controls (the benchmark's assessment status); every other listed control is Automated.
MANUAL = {
    "cis-aws-3.0": {"1.1", "1.2", "1.3", "1.18", "1.21", "1.22", "2.1.3", "5.5"},
    "cis-aws-5.0": {"1.1", "1.2", "1.5", "1.6", "1.10", "1.20", "1.21", "2.1.2", "2.1.3", "5.6"},
}
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


# ---- the shipped files --------------------------------------------------------------------------
def test_the_shipped_frameworks() -> None:
    # GIVEN the framework files shipped in the package
    # THEN there is one per CIS AWS Foundations version, in version order, named as reports do
    assert [f.id for f in FRAMEWORKS] == ["cis-aws-3.0", "cis-aws-5.0"]
    assert [f.standard for f in FRAMEWORKS] == [
        "CIS AWS Foundations Benchmark v3.0",
        "CIS AWS Foundations Benchmark v5.0",
    ]
    assert [f.label for f in FRAMEWORKS] == ["CIS v3.0", "CIS v5.0"]


@pytest.mark.parametrize("framework_id", sorted(SCOPE))
def test_each_file_lists_its_scope_and_assessment_status(framework_id: str) -> None:
    # GIVEN a shipped framework
    framework = FRAMEWORKS.get(framework_id)
    # THEN it lists exactly the controls of its scope, in the benchmark's order
    ids = [c.id for c in framework.controls]
    assert set(ids) == SCOPE[framework_id]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("."))))
    # AND marks which the benchmark assesses automatically
    assert {c.id for c in framework.controls if not c.automated} == MANUAL[framework_id]
    # AND each control sits in the section its number names, with a title
    for control in framework.controls:
        assert control.id.startswith(f"{control.section}.")
        assert framework.section_title(control)
        assert control.title.strip()


def test_automated_controls_and_their_coverage_today() -> None:
    # GIVEN CIS v3.0's Automated controls for IAM, S3, EC2/EBS/VPC
    automated = [c for c in V3.controls if c.automated]
    covered = [c for c in automated if c.policies]
    # THEN there are 28, and today's policies answer 16 of them (issue 13 adds the rest)
    assert len(automated) == 28
    assert len(covered) == 16


def test_every_mapped_policy_is_registered() -> None:
    # GIVEN every policy id the framework files name
    # THEN each is a registered policy (a renamed policy cannot leave a dangling mapping)
    assert FRAMEWORKS.policy_ids() <= set(POLICY_IDS)


@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_each_policy_maps_to_both_versions_unless_the_benchmark_has_no_control(
    policy_id: str,
) -> None:
    # GIVEN a registered policy
    requirements = FRAMEWORKS.requirements(policy_id)
    # THEN it answers CIS v3.0 and v5.0 controls, unless the benchmark has no such control
    if policy_id in NO_CIS_CONTROL:
        assert requirements == []
        assert get_policy(policy_id).cis_ids() == []
    else:
        assert V3.controls_of(policy_id), policy_id
        assert V5.controls_of(policy_id), policy_id
        assert get_policy(policy_id).cis_ids() == requirements
        assert requirements[0].startswith("CIS v3.0 ")


def test_no_cis_exemptions_are_real_policies() -> None:
    # GIVEN the list of policies without a CIS control
    # THEN each is registered (the list does not go stale)
    assert set(POLICY_IDS) >= NO_CIS_CONTROL


@pytest.mark.parametrize(
    ("policy_id", "v3", "v5"),
    [
        ("s3.public_access_block", ["2.1.4"], ["2.1.4"]),
        ("s3.tls_only", ["2.1.1"], ["2.1.1"]),
        ("s3.mfa_delete", ["2.1.2"], ["2.1.2"]),
        ("ec2.ebs_volume_encryption", ["2.2.1"], ["5.1.1"]),
        ("ec2.ebs_default_encryption", ["2.2.1"], ["5.1.1"]),
        ("ec2.imdsv2_required", ["5.6"], ["5.7"]),
        ("ec2.sg_open_admin_ports", ["5.2", "5.3"], ["5.3", "5.4"]),
        ("ec2.default_sg_restricts_traffic", ["5.4"], ["5.5"]),
        ("iam.root_access_keys", ["1.4"], ["1.3"]),
        ("iam.root_mfa", ["1.5"], ["1.4"]),
        ("iam.password_policy", ["1.8", "1.9"], ["1.7", "1.8"]),
        ("iam.user_console_mfa", ["1.10"], ["1.9"]),
        ("iam.access_key_unused", ["1.12"], ["1.11"]),
        ("iam.console_password_unused", ["1.12"], ["1.11"]),
        ("iam.access_key_rotation", ["1.14"], ["1.13"]),
        ("iam.admin_star_policy", ["1.16"], ["1.15"]),
    ],
)
def test_cis_numbering(policy_id: str, v3: list[str], v5: list[str]) -> None:
    # GIVEN a CIS-mapped policy
    # THEN the files give it the benchmark's control ids for both versions
    assert [c.id for c in V3.controls_of(policy_id)] == v3
    assert [c.id for c in V5.controls_of(policy_id)] == v5


def test_requirements_and_standards_of_a_policy() -> None:
    # GIVEN a policy that answers two controls in each version
    # THEN its requirements are "<label> <control>", versions in order, and both standards
    assert FRAMEWORKS.requirements("ec2.sg_open_admin_ports") == [
        "CIS v3.0 5.2",
        "CIS v3.0 5.3",
        "CIS v5.0 5.3",
        "CIS v5.0 5.4",
    ]
    assert FRAMEWORKS.standards("ec2.sg_open_admin_ports") == [
        "CIS AWS Foundations Benchmark v3.0",
        "CIS AWS Foundations Benchmark v5.0",
    ]
    assert FRAMEWORKS.standards("s3.versioning") == []


def test_an_unknown_framework_is_named() -> None:
    with pytest.raises(KeyError, match=r"unknown framework 'cis-aws-9\.9'.*cis-aws-3\.0"):
        FRAMEWORKS.get("cis-aws-9.9")


# ---- the loader's refusals ----------------------------------------------------------------------
GOOD: dict[str, Any] = {
    "id": "cis-aws-3.0",
    "name": "CIS AWS Foundations Benchmark",
    "abbreviation": "CIS",
    "version": "v3.0",
    "release": "3.0.0",
    "scope": "a test",
    "sections": {"1": "Identity and Access Management", "2.1": "S3"},
    "controls": {
        "1.4": {
            "title": "No root access key",
            "section": "1",
            "profile": "Level 1",
            "automated": True,
            "policies": ["iam.root_access_keys"],
        },
        "2.1.1": {
            "title": "Deny HTTP",
            "section": "2.1",
            "profile": "Level 2",
            "automated": True,
            "policies": [],
        },
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the value at ``path`` ("controls/1.4/section") replaced (None deletes it)."""
    data = copy.deepcopy(GOOD)
    *parents, last = path.split("/")
    target = data
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return data


def test_a_good_file_parses() -> None:
    framework = parse_framework(GOOD, "good.json")
    assert [c.id for c in framework.controls] == ["1.4", "2.1.1"]
    assert framework.controls[0].policies == ("iam.root_access_keys",)
    assert framework.notes == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (changed("id", "CIS 3"), "'id' must look like"),
        (changed("name", ""), "'name' must be a non-empty string"),
        (changed("sections", {}), "'sections' must map ids to titles"),
        (changed("controls", {}), "'controls' is empty"),
        (changed("controls", []), "'controls': must be an object"),
        (changed("controls/1.4/section", "2.1"), "control '1.4': is not numbered inside"),
        (changed("controls/1.4/section", "9"), "section '9' is not in 'sections'"),
        (changed("controls/1.4/profile", "Level 3"), "profile must be one of"),
        (changed("controls/1.4/automated", "yes"), "'automated' must be true or false"),
        (changed("controls/1.4/policies", "iam.x"), "'policies' must be a list"),
        (changed("controls/1.4/policies", ["a.b", "a.b"]), "'policies' repeats an id"),
        (changed("controls/1.4/title", None), "'title' must be a non-empty string"),
        (changed("controls/1.4/colour", "red"), r"unknown fields \['colour'\]"),
        (changed("controls/one", GOOD["controls"]["1.4"]), "the id must be dotted numbers"),
        ([], "must be an object"),
    ],
)
def test_a_malformed_file_is_refused_with_the_field(data: Any, message: str) -> None:
    # GIVEN a framework file with one thing wrong
    # WHEN it is parsed
    # THEN it is refused, naming the file and what is wrong
    with pytest.raises(FrameworkError, match=message) as refused:
        parse_framework(data, "broken.json")
    assert str(refused.value).startswith("broken.json")


def test_a_repeated_control_id_is_refused() -> None:
    # GIVEN a file whose text repeats a control id (JSON would silently keep the last one)
    text = json.dumps(GOOD).replace('"2.1.1":', '"1.4":')
    # THEN loading refuses it rather than drop a control
    with pytest.raises(FrameworkError, match=r"repeated keys \['1.4'\]"):
        loads_framework(text, "twice.json")


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(FrameworkError, match="not JSON"):
        loads_framework("{", "cut.json")


def test_a_file_must_be_named_after_its_id(tmp_path: Path) -> None:
    # GIVEN a directory with a good file under another name
    (tmp_path / "cis-aws-3.0.json").write_text(json.dumps(GOOD))
    (tmp_path / "renamed.json").write_text(json.dumps(changed("id", "cis-aws-5.0")))
    # WHEN it is read
    # THEN the misnamed file is refused
    with pytest.raises(FrameworkError, match=r"renamed\.json: 'id' is 'cis-aws-5\.0'"):
        read_frameworks(tmp_path)


def test_a_directory_reads_every_json_in_version_order(tmp_path: Path) -> None:
    # GIVEN two versions and a file that is not a framework
    newer = changed("id", "cis-aws-5.0")
    newer.update(version="v5.0", release="5.0.0")
    (tmp_path / "cis-aws-5.0.json").write_text(json.dumps(newer))
    (tmp_path / "cis-aws-3.0.json").write_text(json.dumps(GOOD))
    (tmp_path / "README.md").write_text("not a framework")
    # WHEN it is read
    frameworks = read_frameworks(tmp_path)
    # THEN both load, oldest first, and map the policy in both
    assert isinstance(frameworks, Frameworks)
    assert [f.id for f in frameworks] == ["cis-aws-3.0", "cis-aws-5.0"]
    assert frameworks.requirements("iam.root_access_keys") == ["CIS v3.0 1.4", "CIS v5.0 1.4"]
