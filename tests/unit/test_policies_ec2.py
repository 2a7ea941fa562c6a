"""EC2 policies: compliant, non-compliant, unknown (missing data) and not-applicable cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from qrie.domain import Resource
from qrie.policies import ec2
from qrie.policies._net import AddressSet, parse_cidr
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
    "ec2.imds-default": "instance-metadata-defaults",
    "ec2.network-acl": "network-acl/acl-1",
    "ec2.vpc": "vpc/vpc-1",
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
            "no ingress from 0.0.0.0/0 (or ranges adding up to it) to 22 or 3389",
            id="admin-ports-restricted",
        ),
        pytest.param(
            "ec2.sg_open_admin_ports",
            sg(ingress=[WORLD_SSH]),
            Outcome.NON_COMPLIANT,
            "tcp 22 from 0.0.0.0/0 (ingress tcp 22)",
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
            "ingress open to the world (tcp 443 open over ipv4) and "
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
        ("ec2.sg_open_admin_ports_ipv6", "ingress", {}),
        ("ec2.sg_open_cifs", "ingress", {}),
        ("ec2.nacl_open_admin_ports", "ingress", {}),
        ("ec2.vpc_flow_logs", "flow_logs", {}),
        ("ec2.imdsv2_account_default", "http_tokens", {"http_endpoint": "enabled"}),
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
    assert verdict == Verdict.compliant("http_tokens='required' (state='running')")


# ---- not applicable -----------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_imdsv2_not_applicable_to_instances_going_away(state: str) -> None:
    # GIVEN an instance that will never run again, with IMDSv1 allowed
    target = resource("ec2.instance", state=state, http_tokens="optional", http_endpoint="enabled")
    # WHEN the IMDSv2 policy evaluates it
    # THEN it does not apply
    assert evaluate("ec2.imdsv2_required", target) is None


@pytest.mark.parametrize("state", ["stopped", "pending", "stopping", "running"])
def test_imdsv2_judges_every_instance_that_may_run(state: str) -> None:
    # GIVEN an instance that allows IMDSv1 and is running, starting or stopped (it restarts with
    # IMDSv1: CIS lists every instance)
    target = resource("ec2.instance", state=state, http_tokens="optional", http_endpoint="enabled")
    # WHEN the IMDSv2 policy evaluates it
    verdict = evaluate("ec2.imdsv2_required", target)
    # THEN it fails, naming the state
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert f"state={state!r}" in verdict.evidence


def test_imdsv2_change_not_yet_applied_fails() -> None:
    # GIVEN an instance whose switch to required tokens is still pending
    target = resource(
        "ec2.instance",
        state="running",
        http_tokens="required",
        http_endpoint="enabled",
        metadata_state="pending",
    )
    # WHEN evaluated / THEN it fails until the change is applied (CIS: State applied)
    verdict = evaluate("ec2.imdsv2_required", target)
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "metadata_state='pending'" in verdict.evidence


def test_imdsv2_instance_launching_with_required_tokens_passes() -> None:
    # GIVEN an instance being launched (state pending) with IMDSv2 required, options pending
    target = resource(
        "ec2.instance",
        state="pending",
        http_tokens="required",
        http_endpoint="enabled",
        metadata_state="pending",
    )
    # WHEN evaluated / THEN it passes: it starts with the options it is launched with
    verdict = evaluate("ec2.imdsv2_required", target)
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT


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
    ("ingress", "evidence"),
    [
        pytest.param([rule("tcp", (3389, 3389), ipv4=("0.0.0.0/0",))], "tcp 3389", id="rdp"),
        pytest.param(
            [rule("tcp", (0, 65535), ipv4=("0.0.0.0/0",))],
            "tcp 22 from 0.0.0.0/0 (ingress tcp 0-65535); tcp 3389 from 0.0.0.0/0",
            id="full-range",
        ),
        pytest.param(
            [rule("tcp", (20, 23), ipv4=("0.0.0.0/0",))],
            "tcp 22 from 0.0.0.0/0 (ingress tcp 20-23)",
            id="range-holding-22",
        ),
        pytest.param(
            [rule("-1", (None, None), ipv4=("0.0.0.0/0",))],
            "tcp 22 from 0.0.0.0/0 (ingress all traffic); udp 22 from 0.0.0.0/0",
            id="all-protocols",
        ),
        pytest.param(
            [{"from_port": None, "to_port": None, "ipv4": ["0.0.0.0/0"]}],
            "tcp 22 from 0.0.0.0/0 (ingress all traffic)",
            id="no-protocol-key-is-all-traffic",
        ),
        pytest.param(
            [rule("all", (None, None), ipv4=("0.0.0.0/0",))], "(ingress all traffic)", id="all"
        ),
        pytest.param([rule("6", (22, 22), ipv4=("0.0.0.0/0",))], "tcp 22", id="protocol-number"),
        pytest.param(
            [rule("udp", (3389, 3389), ipv4=("0.0.0.0/0",))], "udp 3389", id="udp-counts-for-cis"
        ),
        pytest.param(
            [rule("tcp", (None, None), ipv4=("0.0.0.0/0",))],
            "tcp 22 from 0.0.0.0/0 (ingress tcp all ports)",
            id="tcp-without-ports",
        ),
        pytest.param(
            [rule("tcp", (22, 22), ipv4=("10.0.0.0/8", "0.0.0.0/0"))],
            "tcp 22 from 0.0.0.0/0",
            id="world-among-others",
        ),
        pytest.param(
            [
                rule("tcp", (22, 22), ipv4=("0.0.0.0/1",)),
                rule("tcp", (0, 1024), ipv4=("128.0.0.0/1",)),
            ],
            "tcp 22 from 0.0.0.0/1, 128.0.0.0/1 (together every address) (ingress tcp 22, "
            "tcp 0-1024)",
            id="halves-in-two-rules",
        ),
        pytest.param(
            [
                rule(
                    "tcp",
                    (22, 22),
                    ipv4=(
                        "1.0.0.0/8",
                        "2.0.0.0/7",
                        "4.0.0.0/6",
                        "8.0.0.0/7",
                        "11.0.0.0/8",
                        "12.0.0.0/6",
                        "16.0.0.0/4",
                        "32.0.0.0/3",
                        "64.0.0.0/2",
                        "128.0.0.0/1",
                    ),
                )
            ],
            "(together every public address)",
            id="everything-but-private-space",
        ),
    ],
)
def test_admin_ports_open_variants(ingress: list[dict[str, Any]], evidence: str) -> None:
    # GIVEN a group whose IPv4 ingress opens an admin port to the whole Internet
    # WHEN the admin-ports policy evaluates it
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=ingress))
    # THEN it is non-compliant with the port, the sources and the rules in the evidence
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert evidence in verdict.evidence


@pytest.mark.parametrize(
    "ingress",
    [
        pytest.param([rule("tcp", (23, 3388), ipv4=("0.0.0.0/0",))], id="range-between-ports"),
        pytest.param([rule("tcp", (3390, 65535), ipv4=("0.0.0.0/0",))], id="range-above"),
        pytest.param([rule("icmp", (-1, -1), ipv4=("0.0.0.0/0",))], id="icmp"),
        pytest.param([rule("50", (None, None), ipv4=("0.0.0.0/0",))], id="esp-has-no-ports"),
        pytest.param([rule("tcp", (22, 22), ipv4=("10.0.0.0/8",))], id="private-cidr"),
        pytest.param([rule("tcp", (22, 22), ipv4=("0.0.0.0/1",))], id="half-the-internet"),
        pytest.param(
            [
                rule("tcp", (22, 22), ipv4=("0.0.0.0/1",)),
                rule("udp", (22, 22), ipv4=("128.0.0.0/1",)),
            ],
            id="halves-on-different-protocols",
        ),
        pytest.param(
            [
                rule("tcp", (22, 22), ipv4=("0.0.0.0/1",)),
                rule("tcp", (3389, 3389), ipv4=("128.0.0.0/1",)),
            ],
            id="halves-on-different-ports",
        ),
        pytest.param([rule("tcp", (22, 22), ipv6=("::/0",))], id="ipv6-is-the-other-control"),
        pytest.param([{**rule("tcp", (22, 22)), "groups": ["sg-2"]}], id="group-reference"),
        pytest.param(
            [{**rule("tcp", (22, 22)), "prefix_lists": ["pl-1"]}], id="prefix-list-reference"
        ),
    ],
)
def test_admin_ports_not_open_variants(ingress: list[dict[str, Any]]) -> None:
    # GIVEN a group whose IPv4 rules do not open 22/3389 to the whole Internet
    # WHEN the admin-ports policy evaluates it
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=ingress))
    # THEN it is compliant
    assert verdict is not None
    assert verdict.outcome == Outcome.COMPLIANT


def test_admin_ports_lists_every_offending_port() -> None:
    # GIVEN world-open SSH and RDP, an HTTPS rule, and an IPv6 RDP rule
    rdp = rule("tcp", (3389, 3389), ipv4=("0.0.0.0/0",))
    rdp6 = rule("tcp", (3389, 3389), ipv6=("::/0",))
    # WHEN the IPv4 admin-ports policy evaluates the group
    verdict = evaluate("ec2.sg_open_admin_ports", sg(ingress=[WORLD_SSH, WORLD_HTTPS, rdp, rdp6]))
    # THEN the evidence names both IPv4 ports and neither HTTPS nor the IPv6 rule
    assert verdict == Verdict.violation(
        "tcp 22 from 0.0.0.0/0 (ingress tcp 22); tcp 3389 from 0.0.0.0/0 (ingress tcp 3389)"
    )


@pytest.mark.parametrize(
    ("ingress", "outcome"),
    [
        pytest.param([rule("tcp", (22, 22), ipv6=("::/0",))], Outcome.NON_COMPLIANT, id="ssh"),
        pytest.param(
            [rule("-1", (-1, -1), ipv6=("::/0",))], Outcome.NON_COMPLIANT, id="all-traffic"
        ),
        pytest.param(
            [
                rule("tcp", (3389, 3389), ipv6=("::/1",)),
                rule("tcp", (3389, 3389), ipv6=("8000::/1",)),
            ],
            Outcome.NON_COMPLIANT,
            id="halves",
        ),
        pytest.param(
            [rule("tcp", (22, 22), ipv6=("2000::/3",))],
            Outcome.NON_COMPLIANT,
            id="all-global-unicast",
        ),
        pytest.param(
            [rule("tcp", (22, 22), ipv6=("2001:db8::/32",))], Outcome.COMPLIANT, id="one-prefix"
        ),
        pytest.param(
            [rule("tcp", (22, 22), ipv4=("0.0.0.0/0",))], Outcome.COMPLIANT, id="ipv4-only"
        ),
    ],
)
def test_admin_ports_ipv6(ingress: list[dict[str, Any]], outcome: Outcome) -> None:
    # GIVEN a group's IPv6 (or IPv4-only) ingress
    # WHEN the IPv6 admin-ports policy evaluates it
    verdict = evaluate("ec2.sg_open_admin_ports_ipv6", sg(ingress=ingress))
    # THEN only IPv6 sources reaching the whole Internet fail it
    assert verdict is not None
    assert verdict.outcome == outcome


@pytest.mark.parametrize(
    ("ingress", "outcome"),
    [
        pytest.param(
            [rule("tcp", (445, 445), ipv4=("0.0.0.0/0",))], Outcome.NON_COMPLIANT, id="v4"
        ),
        pytest.param([rule("tcp", (445, 445), ipv6=("::/0",))], Outcome.NON_COMPLIANT, id="v6"),
        pytest.param(
            [rule("udp", (400, 500), ipv4=("0.0.0.0/0",))], Outcome.NON_COMPLIANT, id="udp"
        ),
        pytest.param([rule("-1", (None, None), ipv6=("::/0",))], Outcome.NON_COMPLIANT, id="all"),
        pytest.param([rule("tcp", (139, 139), ipv4=("0.0.0.0/0",))], Outcome.COMPLIANT, id="139"),
        pytest.param([rule("tcp", (445, 445), ipv4=("10.0.0.0/8",))], Outcome.COMPLIANT, id="lan"),
    ],
)
def test_cifs(ingress: list[dict[str, Any]], outcome: Outcome) -> None:
    # GIVEN a group's ingress / WHEN the CIFS policy evaluates it
    verdict = evaluate("ec2.sg_open_cifs", sg(ingress=ingress))
    # THEN 445 open to the whole Internet, over IPv4 or IPv6, fails it
    assert verdict is not None
    assert verdict.outcome == outcome


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
    assert "tcp 0-65535 open over ipv6" in verdict.evidence
    assert "['i-1', 'i-2']" in verdict.evidence


def test_public_instance_policy_adds_up_rules_per_port() -> None:
    # GIVEN halves of the Internet on 8000-8100 in one rule and 8050-9000 in another, used by a
    # public instance
    target = sg(
        ingress=[
            rule("tcp", (8000, 8100), ipv4=("0.0.0.0/1",)),
            rule("tcp", (8050, 9000), ipv4=("128.0.0.0/1",)),
        ],
        **{ec2.ATTACHED_PUBLIC_INSTANCES: ["i-1"]},
    )
    # WHEN evaluated / THEN only the overlap is open to the world
    verdict = evaluate("ec2.public_instance_open_sg", target)
    assert verdict is not None
    assert verdict.outcome == Outcome.NON_COMPLIANT
    assert "tcp 8050-8100 open over ipv4" in verdict.evidence


# ---- network ACLs -------------------------------------------------------------------------------
def entry(
    number: int,
    action: str,
    cidr: str,
    protocol: str = "-1",
    ports: tuple[int | None, int | None] = (None, None),
) -> dict[str, Any]:
    return {
        "rule_number": number,
        "action": action,
        "protocol": protocol,
        "from_port": ports[0],
        "to_port": ports[1],
        "cidr": cidr,
    }


LAST = entry(32767, "deny", "0.0.0.0/0")
ALLOW_ALL = entry(100, "allow", "0.0.0.0/0")


def nacl(*ingress: dict[str, Any]) -> Resource:
    return resource("ec2.network-acl", network_acl_id="acl-1", ingress=[*ingress, LAST])


def deny_admin(first: int = 10) -> list[dict[str, Any]]:
    return [
        entry(first + i, "deny", "0.0.0.0/0", protocol, (port, port))
        for i, (protocol, port) in enumerate(
            (p, port) for port in (22, 3389) for p in ("tcp", "udp")
        )
    ]


@pytest.mark.parametrize(
    ("acl", "outcome", "evidence"),
    [
        pytest.param(
            nacl(ALLOW_ALL),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv4 (rule 100)",
            id="default-acl-allows-all",
        ),
        pytest.param(
            nacl(*deny_admin(), ALLOW_ALL),
            Outcome.COMPLIANT,
            "no inbound rule",
            id="admin-ports-denied-first",
        ),
        pytest.param(
            nacl(ALLOW_ALL, *deny_admin(200)),
            Outcome.NON_COMPLIANT,
            "tcp 22",
            id="denies-after-the-allow-come-too-late",
        ),
        pytest.param(
            nacl(entry(10, "deny", "0.0.0.0/0", "tcp", (22, 22)), ALLOW_ALL),
            Outcome.NON_COMPLIANT,
            "udp 22 from every address over ipv4 (rule 100); tcp 3389",
            id="ssh-tcp-denied-udp-and-rdp-open",
        ),
        pytest.param(
            nacl(entry(100, "allow", "0.0.0.0/0", "tcp", (0, 1024))),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv4 (rule 100)",
            id="port-range",
        ),
        pytest.param(
            nacl(entry(100, "allow", "0.0.0.0/0", "tcp", (3390, 65535))),
            Outcome.COMPLIANT,
            "",
            id="high-ports-only",
        ),
        pytest.param(
            nacl(
                entry(100, "allow", "0.0.0.0/1", "6", (22, 22)),
                entry(110, "allow", "128.0.0.0/1", "6", (22, 22)),
            ),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv4 (rule 100, 110)",
            id="halves",
        ),
        pytest.param(
            nacl(entry(50, "deny", "0.0.0.0/1"), ALLOW_ALL),
            Outcome.COMPLIANT,
            "",
            id="half-denied-first",
        ),
        pytest.param(
            nacl(entry(100, "allow", "10.0.0.0/8"), entry(110, "allow", "192.168.0.0/16")),
            Outcome.COMPLIANT,
            "",
            id="private-sources",
        ),
        pytest.param(
            nacl(entry(100, "allow", "::/0", "tcp", (3389, 3389))),
            Outcome.NON_COMPLIANT,
            "tcp 3389 from every address over ipv6 (rule 100)",
            id="ipv6",
        ),
        pytest.param(
            nacl(entry(120, "allow", "0.0.0.0/0", "tcp", (22, 22)), entry(90, "deny", "0.0.0.0/0")),
            Outcome.COMPLIANT,
            "",
            id="rule-numbers-decide-not-list-order",
        ),
    ],
)
def test_network_acl_admin_ports(acl: Resource, outcome: Outcome, evidence: str) -> None:
    # GIVEN a network ACL's inbound entries (with the final "*" deny)
    # WHEN the NACL policy evaluates them in rule-number order
    verdict = evaluate("ec2.nacl_open_admin_ports", acl)
    # THEN the first matching rule decides, and allowed sources are added up
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- VPC flow logs ------------------------------------------------------------------------------
def flow(
    status: str = "ACTIVE", deliver: str | None = "SUCCESS", traffic: str = "REJECT"
) -> dict[str, Any]:
    return {
        "id": "fl-1",
        "status": status,
        "deliver_status": deliver,
        "traffic_type": traffic,
        "destination_type": "s3",
    }


@pytest.mark.parametrize(
    ("logs", "outcome", "evidence"),
    [
        ([flow()], Outcome.COMPLIANT, "flow log fl-1 ACTIVE, traffic REJECT, to s3"),
        ([flow(traffic="ACCEPT")], Outcome.COMPLIANT, "traffic ACCEPT"),
        ([flow(deliver=None)], Outcome.COMPLIANT, "ACTIVE"),
        ([], Outcome.NON_COMPLIANT, "flow_logs=[]"),
        ([flow(deliver="FAILED")], Outcome.NON_COMPLIANT, "delivery FAILED"),
        ([flow(status="INACTIVE")], Outcome.NON_COMPLIANT, "no ACTIVE flow log"),
    ],
)
def test_vpc_flow_logs(logs: list[dict[str, Any]], outcome: Outcome, evidence: str) -> None:
    # GIVEN a VPC's own flow logs / WHEN evaluated
    verdict = evaluate("ec2.vpc_flow_logs", resource("ec2.vpc", vpc_id="vpc-1", flow_logs=logs))
    # THEN an active, delivering flow log passes
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- instance metadata defaults ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tokens", "endpoint", "outcome"),
    [
        ("required", "no-preference", Outcome.COMPLIANT),
        ("no-preference", "disabled", Outcome.COMPLIANT),
        ("no-preference", "no-preference", Outcome.NON_COMPLIANT),
        ("optional", "enabled", Outcome.NON_COMPLIANT),
    ],
)
def test_imdsv2_account_default(tokens: str, endpoint: str, outcome: Outcome) -> None:
    # GIVEN a region's instance metadata defaults / WHEN evaluated
    target = resource("ec2.imds-default", http_tokens=tokens, http_endpoint=endpoint)
    verdict = evaluate("ec2.imdsv2_account_default", target)
    # THEN new instances must get IMDSv2 (or no metadata endpoint) by default
    assert verdict is not None
    assert verdict.outcome == outcome
    assert REGION in verdict.evidence


# ---- CIS v5.0 1.17: IAM instance roles ----------------------------------------------------------
PROFILE = "arn:aws:iam::111122223333:instance-profile/app"


@pytest.mark.parametrize(
    ("config", "outcome", "evidence"),
    [
        pytest.param(
            {"state": "running", "iam_instance_profile": PROFILE},
            Outcome.COMPLIANT,
            f"iam_instance_profile={PROFILE}",
            id="running-with-a-profile",
        ),
        pytest.param(
            {"state": "running", "iam_instance_profile": None},
            Outcome.NON_COMPLIANT,
            "iam_instance_profile=None (state='running')",
            id="running-without",
        ),
        # the benchmark lists every instance: a stopped one starts again without a role
        pytest.param(
            {"state": "stopped", "iam_instance_profile": None},
            Outcome.NON_COMPLIANT,
            "(state='stopped')",
            id="stopped-without",
        ),
        pytest.param(
            {
                "state": "running",
                "iam_instance_profile": None,
                "unknown": {"iam_instance_profile": "x"},
            },
            Outcome.UNKNOWN,
            "iam_instance_profile could not be read: x",
            id="unreadable",
        ),
    ],
)
def test_instance_profile_attached(config: dict[str, Any], outcome: Outcome, evidence: str) -> None:
    # GIVEN an instance as DescribeInstances describes it (IamInstanceProfile or none)
    # WHEN the instance-role policy evaluates it
    verdict = evaluate(
        "ec2.instance_profile_attached", resource("ec2.instance", instance_id="i-1", **config)
    )
    # THEN a profile passes, none fails, whatever the state
    assert verdict is not None
    assert verdict.outcome == outcome
    assert evidence in verdict.evidence


# ---- evidence word for word: what a reviewer reads decides nothing less than the outcome ---------
PUBLIC = {ec2.ATTACHED_PUBLIC_INSTANCES: ["i-1"]}
WORLD = ("0.0.0.0/0",)


def open_sg(*ingress: dict[str, Any]) -> Resource:
    return sg(ingress=list(ingress), **PUBLIC)


def world_open(open_list: str) -> str:
    return f"ingress open to the world ({open_list}) and attached_public_instances=['i-1']"


@pytest.mark.parametrize(
    ("policy_id", "target", "outcome", "evidence"),
    [
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("tcp", (80, 90), ipv4=WORLD), rule("tcp", (91, 100), ipv4=WORLD)),
            Outcome.NON_COMPLIANT,
            world_open("tcp 80-100 open over ipv4"),
            id="adjacent-ranges-merge",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(
                rule("tcp", (80, 90), ipv4=WORLD),
                rule("tcp", (95, 100), ipv4=WORLD),
                rule("udp", (0, 0), ipv4=WORLD),
            ),
            Outcome.NON_COMPLIANT,
            world_open("tcp 80-90 open over ipv4; tcp 95-100 open over ipv4; udp 0 open over ipv4"),
            id="a-gap-splits-ranges-and-udp-is-its-own",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(
                rule("tcp", (80, 90), ipv4=("0.0.0.0/1",)),
                rule("tcp", (85, 65535), ipv4=("128.0.0.0/1",)),
            ),
            Outcome.NON_COMPLIANT,
            world_open("tcp 85-90 open over ipv4"),
            id="halves-add-up-only-where-both-ranges-hold",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("tcp", (0, -1), ipv4=WORLD), rule("udp", (None, 53), ipv4=WORLD)),
            Outcome.NON_COMPLIANT,
            world_open("tcp 0-65535 open over ipv4; udp 0-65535 open over ipv4"),
            id="unusable-port-numbers-mean-every-port",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("tcp", (65535, 65535), ipv4=WORLD), rule("tcp", (0, 0), ipv4=WORLD)),
            Outcome.NON_COMPLIANT,
            world_open("tcp 0 open over ipv4; tcp 65535 open over ipv4"),
            id="the-first-and-last-ports",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(
                rule("-1", (None, None), ipv4=WORLD),
                rule("tcp", (65537, 65537), ipv4=("203.0.113.0/24",)),
            ),
            Outcome.NON_COMPLIANT,
            world_open("tcp 0-65535 open over ipv4; udp 0-65535 open over ipv4"),
            id="port-numbers-beyond-65535-are-ignored",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(
                rule("icmp", (-1, -1), ipv4=("0.0.0.0/1",)),
                rule("-1", (None, None), ipv4=("128.0.0.0/1",)),
                rule("50", (None, None), ipv4=("10.0.0.0/8",), ipv6=("::/0",)),
            ),
            Outcome.NON_COMPLIANT,
            world_open("icmp from 0.0.0.0/1, 128.0.0.0/1 (together every address); 50 from ::/0"),
            id="other-protocols-add-up-with-all-traffic-rules",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("icmp", (-1, -1), ipv4=("::/0", "10.0.0.1/8", "192.168.0.0/16"))),
            Outcome.COMPLIANT,
            "no ingress from 0.0.0.0/0 or ::/0",
            id="an-ipv6-cidr-among-ipv4-sources-is-ignored",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("icmp", (-1, -1), ipv4=("1.2.3.4/0",))),
            Outcome.NON_COMPLIANT,
            world_open("icmp from 1.2.3.4/0 (together every address)"),
            id="host-bits-are-allowed-as-aws-accepts-them",
        ),
        pytest.param(
            "ec2.sg_open_admin_ports",
            sg(
                ingress=[
                    rule("tcp", (22, 22), ipv4=("0.0.0.0/1",)),
                    rule("tcp", (0, 100), ipv4=("128.0.0.0/1",)),
                ]
            ),
            Outcome.NON_COMPLIANT,
            "tcp 22 from 0.0.0.0/1, 128.0.0.0/1 (together every address) "
            "(ingress tcp 22, tcp 0-100)",
            id="admin-ports-rules-added-up",
        ),
        pytest.param(
            "ec2.sg_open_admin_ports_ipv6",
            sg(ingress=[]),
            Outcome.COMPLIANT,
            "no ingress from ::/0 (or ranges adding up to it) to 22 or 3389",
            id="admin-ports-ipv6-closed",
        ),
        pytest.param(
            "ec2.sg_open_cifs",
            sg(ingress=[]),
            Outcome.COMPLIANT,
            "no ingress from 0.0.0.0/0 or ::/0 (or ranges adding up to it) to 445",
            id="cifs-closed",
        ),
        pytest.param(
            "ec2.default_sg_restricts_traffic",
            sg(group_name="default", is_default=True, ingress=[], egress=[]),
            Outcome.COMPLIANT,
            "is_default=True with no ingress or egress rules",
            id="default-sg-empty",
        ),
        pytest.param(
            "ec2.default_sg_restricts_traffic",
            resource("ec2.security-group", is_default=True, egress=[]),
            Outcome.UNKNOWN,
            "ingress could not be read: not collected",
            id="default-sg-ingress-unread",
        ),
        pytest.param(
            "ec2.imdsv2_account_default",
            resource("ec2.imds-default", http_tokens="required"),
            Outcome.UNKNOWN,
            "http_endpoint could not be read: not collected",
            id="imds-default-endpoint-unread",
        ),
        pytest.param(
            "ec2.nacl_open_admin_ports",
            nacl(*deny_admin(), ALLOW_ALL),
            Outcome.COMPLIANT,
            "no inbound rule lets the Internet reach 22 or 3389",
            id="nacl-closed",
        ),
        pytest.param(
            "ec2.nacl_open_admin_ports",
            resource(
                "ec2.network-acl",
                ingress=[
                    entry(1, "deny", "0.0.0.0/0", "tcp", (22, 22)),
                    {"action": "allow", "protocol": "-1", "cidr": "0.0.0.0/0"},
                ],
            ),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv4 (rule 0); "
            "udp 22 from every address over ipv4 (rule 0); "
            "tcp 3389 from every address over ipv4 (rule 0); "
            "udp 3389 from every address over ipv4 (rule 0)",
            id="nacl-entry-without-a-number-comes-first",
        ),
        pytest.param(
            "ec2.nacl_open_admin_ports",
            resource(
                "ec2.network-acl",
                ingress=[
                    entry(100, "allow", "::/0", "tcp", (22, 22)),
                    entry(200, "deny", "0.0.0.0/0"),
                ],
            ),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv6 (rule 100)",
            id="nacl-ipv6-entry-only-counts-for-ipv6",
        ),
        pytest.param(
            "ec2.vpc_flow_logs",
            resource(
                "ec2.vpc",
                vpc_id="vpc-1",
                flow_logs=[flow(deliver="FAILED"), {**flow(deliver="FAILED"), "id": "fl-2"}],
            ),
            Outcome.NON_COMPLIANT,
            "flow log(s) fl-1, fl-2 ACTIVE but their delivery FAILED",
            id="flow-logs-failing",
        ),
        pytest.param(
            "ec2.vpc_flow_logs",
            resource(
                "ec2.vpc",
                vpc_id="vpc-1",
                flow_logs=[flow(status="INACTIVE"), {**flow(status="PENDING"), "id": "fl-2"}],
            ),
            Outcome.NON_COMPLIANT,
            "no ACTIVE flow log (fl-1='INACTIVE', fl-2='PENDING')",
            id="flow-logs-inactive",
        ),
        pytest.param(
            "ec2.vpc_flow_logs",
            resource("ec2.vpc", vpc_id="vpc-1", flow_logs=[]),
            Outcome.NON_COMPLIANT,
            "flow_logs=[] (no flow log for the VPC)",
            id="flow-logs-none",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("tcp", (22, None), ipv4=WORLD)),
            Outcome.NON_COMPLIANT,
            world_open("tcp 0-65535 open over ipv4"),
            id="a-missing-upper-port-means-every-port",
        ),
        pytest.param(
            "ec2.public_instance_open_sg",
            open_sg(rule("icmp", (-1, -1), ipv6=("::/1", "8000::/1", "10.0.0.0/8"))),
            Outcome.NON_COMPLIANT,
            world_open("icmp from ::/1, 8000::/1 (together every address)"),
            id="an-ipv4-cidr-among-ipv6-sources-is-not-quoted",
        ),
        pytest.param(
            "ec2.nacl_open_admin_ports",
            resource(
                "ec2.network-acl",
                ingress=[
                    entry(1, "deny", "0.0.0.0/0", "tcp", (22, 22)),
                    {"rule_number": "x", "action": "allow", "protocol": "tcp", "cidr": "0.0.0.0/0"},
                ],
            ),
            Outcome.NON_COMPLIANT,
            "tcp 22 from every address over ipv4 (rule x); "
            "tcp 3389 from every address over ipv4 (rule x)",
            id="nacl-entry-with-a-non-numeric-number-comes-first",
        ),
    ],
)
def test_evidence_word_for_word(
    policy_id: str, target: Resource, outcome: Outcome, evidence: str
) -> None:
    # GIVEN a resource at one of the policy's edges (built in the parameters)
    # WHEN the policy evaluates it
    verdict = evaluate(policy_id, target)
    # THEN the outcome and the whole evidence are exactly what a reviewer should read
    assert verdict is not None
    assert (verdict.outcome, verdict.evidence) == (outcome, evidence)


def test_address_sets_keep_one_ip_version_and_print_merged() -> None:
    # GIVEN CIDRs of both versions, with host bits and adjacent ranges
    cidrs = ["::/0", "10.0.0.1/8", "11.0.0.0/8", "192.168.0.0/16", "not a cidr"]
    # WHEN they are read as IPv4 addresses
    addresses = AddressSet.of(4, cidrs)
    # THEN only the IPv4 ones count, merged where they touch, and print that way
    assert str(addresses) == "10.0.0.0/7, 192.168.0.0/16"
    assert addresses.version == 4
    assert parse_cidr("::/0", 4) is None
    assert str(parse_cidr(" 10.0.0.1/8 ")) == "10.0.0.0/8"
