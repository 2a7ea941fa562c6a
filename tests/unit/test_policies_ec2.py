"""EC2 policies: compliant, non-compliant, unknown (missing data) and not-applicable cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qrie.domain import Resource
from qrie.policies import ec2
from qrie.policies.base import Outcome, Verdict
from qrie.policies.registry import module_policies

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICIES = {policy.id: policy for policy in module_policies(ec2)}
REGION = "eu-west-1"
KIND = {
    "ec2.volume": "volume/vol-1",
    "ec2.ebs-default": "ebs-encryption-by-default",
    "ec2.instance": "instance/i-1",
    "ec2.security-group": "security-group/sg-1",
}
POLICY_TYPE = {policy.id: next(iter(policy.resource_types)) for policy in module_policies(ec2)}


def resource(type_: str, **config: Any) -> Resource:
    return Resource(
        arn=f"arn:aws:ec2:{REGION}:111122223333:{KIND[type_]}",
        account_id="111122223333",
        service="ec2",
        type=type_,
        scope=REGION,
        config=config,
    )


def rule(
    protocol: str = "tcp",
    ports: tuple[int | None, int | None] = (22, 22),
    ipv4: tuple[str, ...] = (),
    ipv6: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "from_port": ports[0],
        "to_port": ports[1],
        "ipv4": list(ipv4),
        "ipv6": list(ipv6),
        "groups": [],
        "prefix_lists": [],
    }


def sg(**config: Any) -> Resource:
    base: dict[str, Any] = {
        "group_id": "sg-1",
        "group_name": "web",
        "is_default": False,
        "ingress": [],
        "egress": [rule("-1", (None, None), ipv4=("0.0.0.0/0",))],
        "attached_instances": [],
        ec2.ATTACHED_PUBLIC_INSTANCES: [],
    }
    return resource("ec2.security-group", **{**base, **config})


def evaluate(policy_id: str, target: Resource) -> Verdict | None:
    return POLICIES[policy_id].evaluate(target, NOW)


WORLD_SSH = rule("tcp", (22, 22), ipv4=("0.0.0.0/0",))
WORLD_HTTPS = rule("tcp", (443, 443), ipv4=("0.0.0.0/0",))
OFFICE_SSH = rule("tcp", (22, 22), ipv4=("203.0.113.0/24",))


# ---- compliant / non-compliant ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "target", "outcome", "evidence"),
    [
        pytest.param(
            "ec2.ebs_volume_encryption",
            resource("ec2.volume", encrypted=True, state="in-use"),
            Outcome.COMPLIANT,
            "encrypted=True",
            id="volume-encrypted",
        ),
        pytest.param(
            "ec2.ebs_volume_encryption",
            resource("ec2.volume", encrypted=False, state="available"),
            Outcome.NON_COMPLIANT,
            "encrypted=False",
            id="volume-unencrypted",
        ),
        pytest.param(
            "ec2.ebs_default_encryption",
            resource("ec2.ebs-default", enabled=True),
            Outcome.COMPLIANT,
            f"enabled=True in {REGION}",
            id="ebs-default-on",
        ),
        pytest.param(
            "ec2.ebs_default_encryption",
            resource("ec2.ebs-default", enabled=False),
            Outcome.NON_COMPLIANT,
            f"enabled=False in {REGION}",
            id="ebs-default-off",
        ),
        pytest.param(
            "ec2.imdsv2_required",
            resource(
                "ec2.instance", state="running", http_tokens="required", http_endpoint="enabled"
            ),
            Outcome.COMPLIANT,
            "http_tokens='required'",
            id="imdsv2-required",
        ),
        pytest.param(
            "ec2.imdsv2_required",
            resource(
                "ec2.instance", state="running", http_tokens="optional", http_endpoint="enabled"
            ),
            Outcome.NON_COMPLIANT,
            "http_tokens='optional'",
            id="imdsv1-allowed",
        ),
        pytest.param(
            "ec2.imdsv2_required",
            resource(
                "ec2.instance", state="running", http_tokens="optional", http_endpoint="disabled"
            ),
            Outcome.COMPLIANT,
            "http_endpoint='disabled'",
            id="imds-endpoint-disabled",
        ),
        pytest.param(
            "ec2.sg_open_admin_ports",
            sg(ingress=[OFFICE_SSH, WORLD_HTTPS]),
            Outcome.COMPLIANT,
            "no ingress from 0.0.0.0/0 or ::/0 to ports 22 or 3389",
            id="admin-ports-restricted",
        ),
        pytest.param(
            "ec2.sg_open_admin_ports",
            sg(ingress=[WORLD_SSH]),
            Outcome.NON_COMPLIANT,
            "ingress tcp 22 from 0.0.0.0/0 covers port 22",
            id="ssh-open-ipv4",
        ),
        pytest.param(
            "ec2.default_sg_restricts_traffic",
            sg(group_name="default", is_default=True, ingress=[], egress=[]),
            Outcome.COMPLIANT,
            "no ingress or egress rules",
            id="default-sg-empty",
        ),
        pytest.param(
            "ec2.default_sg_restricts_traffic",
            sg(group_name="default", is_default=True, ingress=[]),
            Outcome.NON_COMPLIANT,
            "ingress=0 rule(s), egress=1 rule(s)",
            id="default-sg-egress-only",
        ),
        pytest.param(
            "ec2.default_sg_restricts_traffic",
            sg(group_name="default", is_default=True, ingress=[OFFICE_SSH], egress=[]),
            Outcome.NON_COMPLIANT,
            "ingress=1 rule(s), egress=0 rule(s)",
            id="default-sg-ingress-only",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            sg(ingress=[WORLD_HTTPS], **{ec2.ATTACHED_PUBLIC_INSTANCES: []}),
            Outcome.COMPLIANT,
            "attached_public_instances=[]",
            id="open-sg-no-public-instance",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            sg(ingress=[OFFICE_SSH], **{ec2.ATTACHED_PUBLIC_INSTANCES: ["i-1"]}),
            Outcome.COMPLIANT,
            "no ingress from 0.0.0.0/0 or ::/0",
            id="restricted-sg-public-instance",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            sg(ingress=[WORLD_HTTPS], **{ec2.ATTACHED_PUBLIC_INSTANCES: ["i-1"]}),
            Outcome.NON_COMPLIANT,
            "ingress open to the world (tcp 443 from 0.0.0.0/0) and "
            "attached_public_instances=['i-1']",
            id="open-sg-public-instance",
        ),
    ],
)
def test_verdicts(policy_id: str, target: Resource, outcome: Outcome, evidence: str) -> None:
    # GIVEN a resource (built in the parameters)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the outcome and the deciding attribute are reported
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- missing data -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy_id", "attribute", "config"),
    [
        ("ec2.ebs_volume_encryption", "encrypted", {"state": "in-use"}),
        ("ec2.ebs_default_encryption", "enabled", {}),
        ("ec2.imdsv2_required", "state", {"http_tokens": "optional"}),
        (
            "ec2.imdsv2_required",
            "http_tokens",
            {"state": "running", "http_endpoint": "enabled"},
        ),
        (
            "ec2.imdsv2_required",
            "http_endpoint",
            {"state": "running", "http_tokens": "optional"},
        ),
        ("ec2.sg_open_admin_ports", "ingress", {}),
        ("ec2.default_sg_restricts_traffic", "is_default", {}),
        ("ec2.default_sg_restricts_traffic", "egress", {"is_default": True, "ingress": []}),
        ("ec2.public_instance_open_sg", "ingress", {}),
        (
            "ec2.public_instance_open_sg",
            ec2.ATTACHED_PUBLIC_INSTANCES,
            {"ingress": [WORLD_HTTPS]},
        ),
    ],
)
def test_unreadable_attribute_is_unknown(
    policy_id: str, attribute: str, config: dict[str, Any]
) -> None:
    # GIVEN a resource whose attribute could not be read (None plus a reason under "unknown")
    target = resource(
        POLICY_TYPE[policy_id], **config, **{attribute: None}, unknown={attribute: "Throttling"}
    )
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the verdict is unknown and names the attribute and the reason, never a pass
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert verdict.evidence == f"{attribute} could not be read: Throttling"


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_uncollected_config_is_unknown_not_a_crash(policy_id: str) -> None:
    # GIVEN a resource of the policy's type with an empty config
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, resource(POLICY_TYPE[policy_id]))
    # THEN the verdict is unknown ("not collected")
    assert verdict is not None
    assert verdict.outcome == Outcome.UNKNOWN
    assert "not collected" in verdict.evidence


def test_open_sg_without_the_public_instances_key_is_unknown() -> None:
    # GIVEN a world-open group from a collector that does not yet fill attached_public_instances
    target = resource("ec2.security-group", ingress=[WORLD_HTTPS], attached_instances=["i-1"])
    # WHEN the public-instance policy evaluates it
    verdict = evaluate("ec2.public_instance_open_sg", target)
    # THEN it is unknown, naming the missing key
    assert verdict == Verdict.unknown("attached_public_instances", "not collected")


def test_imdsv2_required_decides_even_if_endpoint_is_unknown() -> None:
    # GIVEN a running instance that requires tokens but whose endpoint state is unknown
    target = resource(
        "ec2.instance",
        state="running",
        http_tokens="required",
        http_endpoint=None,
        unknown={"http_endpoint": "AccessDenied"},
    )
    # WHEN the IMDSv2 policy evaluates it
    verdict = evaluate("ec2.imdsv2_required", target)
    # THEN the known attribute decides
    assert verdict == Verdict.compliant("http_tokens='required'")


# ---- not applicable -----------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["stopped", "pending", "stopping", "shutting-down"])
def test_imdsv2_not_applicable_to_instances_not_running(state: str) -> None:
    # GIVEN an instance that is not running, with IMDSv1 allowed
    target = resource("ec2.instance", state=state, http_tokens="optional", http_endpoint="enabled")
    # WHEN the IMDSv2 policy evaluates it
    # THEN it does not apply
    assert evaluate("ec2.imdsv2_required", target) is None


def test_default_sg_policy_not_applicable_to_other_groups() -> None:
    # GIVEN a non-default group with rules
    # WHEN the default-group policy evaluates it
    # THEN it does not apply
    assert evaluate("ec2.default_sg_restricts_traffic", sg(ingress=[WORLD_SSH])) is None


@pytest.mark.parametrize("state", ["deleting", "deleted"])
def test_volume_encryption_not_applicable_to_volumes_being_deleted(state: str) -> None:
    # GIVEN an unencrypted volume on its way out
    # WHEN the volume policy evaluates it
    # THEN it does not apply
    target = resource("ec2.volume", encrypted=False, state=state)
    assert evaluate("ec2.ebs_volume_encryption", target) is None


# ---- security group rule edge cases -------------------------------------------------------------
@pytest.mark.parametrize(
    ("ingress_rule", "evidence"),
    [
        pytest.param(
            rule("tcp", (22, 22), ipv6=("::/0",)), "tcp 22 from ::/0 covers port 22", id="ipv6"
        ),
        pytest.param(rule("tcp", (3389, 3389), ipv4=("0.0.0.0/0",)), "covers port 3389", id="rdp"),
        pytest.param(
            rule("tcp", (0, 65535), ipv4=("0.0.0.0/0",)),
            "tcp 0-65535 from 0.0.0.0/0 covers port 22,3389",
            id="full-range",
        ),
        pytest.param(
            rule("tcp", (20, 23), ipv4=("0.0.0.0/0",)), "tcp 20-23 from 0.0.0.0/0", id="range-22"
        ),
        pytest.param(
            rule("-1", (None, None), ipv4=("0.0.0.0/0",)),
            "all traffic from 0.0.0.0/0 covers port 22,3389",
            id="all-protocols",
        ),
        pytest.param(
            rule("-1", (-1, -1), ipv6=("::/0",)), "all traffic from ::/0", id="all-protocols-ipv6"
        ),
        pytest.param(
            rule("udp", (3389, 3389), ipv4=("0.0.0.0/0",)), "udp 3389", id="udp-rdp-counts-for-cis"
        ),
        pytest.param(
            rule("tcp", (None, None), ipv4=("0.0.0.0/0",)),
            "tcp all ports from 0.0.0.0/0",
            id="tcp-without-ports",
        ),
        pytest.param(
            rule("tcp", (22, 22), ipv4=("10.0.0.0/8", "0.0.0.0/0"), ipv6=("::/0",)),
            "from 0.0.0.0/0,::/0",
            id="both-families",
        ),
    ],
)
def test_admin_ports_open_variants(ingress_rule: dict[str, Any], evidence: str) -> None:
    # GIVEN a group with one world-open rule reaching an admin port
    # WHEN the admin-ports policy evaluates it
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=[ingress_rule]))
    # THEN it is non-compliant with the rule in the evidence
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert evidence in verdict.evidence


@pytest.mark.parametrize(
    "ingress_rule",
    [
        pytest.param(rule("tcp", (23, 3388), ipv4=("0.0.0.0/0",)), id="range-between-ports"),
        pytest.param(rule("tcp", (3390, 65535), ipv4=("0.0.0.0/0",)), id="range-above"),
        pytest.param(rule("icmp", (-1, -1), ipv4=("0.0.0.0/0",)), id="icmp"),
        pytest.param(rule("tcp", (22, 22), ipv4=("10.0.0.0/8",)), id="private-cidr"),
        pytest.param(rule("tcp", (22, 22), ipv6=("2001:db8::/32",)), id="ipv6-prefix"),
        pytest.param({**rule("tcp", (22, 22)), "groups": ["sg-2"]}, id="group-reference"),
    ],
)
def test_admin_ports_not_open_variants(ingress_rule: dict[str, Any]) -> None:
    # GIVEN a group whose rule does not open 22/3389 to the world
    # WHEN the admin-ports policy evaluates it
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=[ingress_rule]))
    # THEN it is compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT


def test_admin_ports_lists_every_offending_rule() -> None:
    # GIVEN two world-open admin rules
    rdp6 = rule("tcp", (3389, 3389), ipv6=("::/0",))
    # WHEN the admin-ports policy evaluates the group
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=[WORLD_SSH, WORLD_HTTPS, rdp6]))
    # THEN the evidence names both and not the HTTPS rule
    assert verdict == Verdict.violation(
        "ingress tcp 22 from 0.0.0.0/0 covers port 22; ingress tcp 3389 from ::/0 covers port 3389"
    )


def test_public_instance_policy_counts_ipv6_world_rules() -> None:
    # GIVEN a group open to ::/0 on all traffic, used by a public instance
    target = sg(
        ingress=[rule("-1", (None, None), ipv6=("::/0",))],
        **{ec2.ATTACHED_PUBLIC_INSTANCES: ["i-1", "i-2"]},
    )
    # WHEN the public-instance policy evaluates it
    verdict = evaluate("ec2.public_instance_open_sg", target)
    # THEN it is non-compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "all traffic from ::/0" in verdict.evidence
    assert "['i-1', 'i-2']" in verdict.evidence
