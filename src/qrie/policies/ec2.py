"""EC2 policies: EBS volumes and default encryption, instances (IMDS), security groups.

Resource types and config keys are those of ``qrie.inventory.schema``: ``ec2.volume``,
``ec2.ebs-default``, ``ec2.instance``, ``ec2.security-group``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._util import as_list, expect_flag, require
from qrie.policies.base import Verdict, policy

VOLUME = frozenset({"ec2.volume"})
EBS_DEFAULT = frozenset({"ec2.ebs-default"})
INSTANCE = frozenset({"ec2.instance"})
SECURITY_GROUP = frozenset({"ec2.security-group"})

WORLD_CIDRS: tuple[str, ...] = ("0.0.0.0/0", "::/0")
ADMIN_PORTS: tuple[int, ...] = (22, 3389)  # SSH, RDP
ALL_PROTOCOLS = frozenset({"-1", "all"})
# CIS counts TCP (6), UDP (17) and ALL (-1) rules towards the remote administration ports.
PORT_PROTOCOLS = frozenset({"tcp", "6", "udp", "17"})
GONE_VOLUME_STATES = frozenset({"deleting", "deleted"})

# Extra ec2.security-group key (not yet in schema.py): ids of the instances with a public IP
# that use the group, filled by the collector from DescribeInstances.
ATTACHED_PUBLIC_INSTANCES = "attached_public_instances"


# ---- rule helpers -------------------------------------------------------------------------------
def world_sources(rule: dict[str, Any]) -> list[str]:
    """The world-open CIDRs (0.0.0.0/0, ::/0) among a rule's sources."""
    sources = [*as_list(rule.get("ipv4")), *as_list(rule.get("ipv6"))]
    return [cidr for cidr in WORLD_CIDRS if cidr in sources]


def port_range(rule: dict[str, Any]) -> tuple[int, int] | None:
    """The rule's (from, to) ports, or None when it covers every port (all protocols, or no
    usable port numbers)."""
    if str(rule.get("protocol", "-1")).lower() in ALL_PROTOCOLS:
        return None
    low, high = rule.get("from_port"), rule.get("to_port")
    if not isinstance(low, int) or not isinstance(high, int) or low < 0 or high < 0:
        return None
    return low, high


def covers_port(rule: dict[str, Any], port: int) -> bool:
    """True when the rule allows ``port`` over TCP, UDP or all protocols."""
    protocol = str(rule.get("protocol", "-1")).lower()
    if protocol not in ALL_PROTOCOLS and protocol not in PORT_PROTOCOLS:
        return False
    ports = port_range(rule)
    return ports is None or ports[0] <= port <= ports[1]


def describe_rule(rule: dict[str, Any]) -> str:
    """A short label such as "tcp 0-65535", "tcp 22" or "all traffic"."""
    protocol = str(rule.get("protocol", "-1")).lower()
    if protocol in ALL_PROTOCOLS:
        return "all traffic"
    ports = port_range(rule)
    if ports is None:
        return f"{protocol} all ports"
    low, high = ports
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def _rules(value: object) -> list[dict[str, Any]]:
    return [rule for rule in as_list(value) if isinstance(rule, dict)]


def _join(items: Iterable[str]) -> str:
    return "; ".join(items)


# ---- evaluators ---------------------------------------------------------------------------------
@policy(
    id="ec2.ebs_volume_encryption",
    resource_types=VOLUME,
    title="EBS volume is not encrypted",
    severity=Severity.HIGH,
    remediation=(
        "Snapshot the volume, copy the snapshot with encryption (aws ec2 copy-snapshot "
        "--encrypted), create a volume from it and swap it in; then delete the unencrypted one."
    ),
)
def ebs_volume_encryption(resource: Resource, _now: datetime) -> Verdict | None:
    """A volume must be encrypted; volumes being deleted are not applicable."""
    if resource.config.get("state") in GONE_VOLUME_STATES:
        return None
    return expect_flag(resource, "encrypted", True)


@policy(
    id="ec2.ebs_default_encryption",
    resource_types=EBS_DEFAULT,
    title="EBS encryption by default is off in the region",
    severity=Severity.MEDIUM,
    remediation=(
        "Turn on EBS encryption by default in every enabled region "
        "(aws ec2 enable-ebs-encryption-by-default --region <region>)."
    ),
)
def ebs_default_encryption(resource: Resource, _now: datetime) -> Verdict | None:
    """EBS encryption by default must be on in the region."""
    return expect_flag(resource, "enabled", True, f" in {resource.scope}")


@policy(
    id="ec2.imdsv2_required",
    resource_types=INSTANCE,
    title="Running EC2 instance does not require IMDSv2",
    severity=Severity.MEDIUM,
    remediation=(
        "Require IMDSv2 on the instance (aws ec2 modify-instance-metadata-options "
        "--instance-id <id> --http-tokens required --http-endpoint enabled) and set it as "
        "the account default for new instances."
    ),
)
def imdsv2_required(resource: Resource, _now: datetime) -> Verdict | None:
    """A running instance must require IMDSv2 tokens, or have the metadata endpoint disabled.

    Not applicable (None) to instances that are not running.
    """
    if missing := require(resource, "state"):
        return missing
    if resource.config["state"] != "running":
        return None
    config = resource.config
    tokens_missing = require(resource, "http_tokens")
    endpoint_missing = require(resource, "http_endpoint")
    if tokens_missing is None and config["http_tokens"] == "required":
        return Verdict.compliant("http_tokens='required'")
    if endpoint_missing is None and config["http_endpoint"] == "disabled":
        return Verdict.compliant("http_endpoint='disabled'")
    if tokens_missing is not None:
        return tokens_missing
    if endpoint_missing is not None:
        return endpoint_missing
    return Verdict.violation(
        f"http_tokens={config['http_tokens']!r} (http_endpoint={config['http_endpoint']!r})"
    )


@policy(
    id="ec2.sg_open_admin_ports",
    resource_types=SECURITY_GROUP,
    title="Security group allows SSH (22) or RDP (3389) from 0.0.0.0/0 or ::/0",
    severity=Severity.HIGH,
    remediation=(
        "Remove the world-open ingress rules for ports 22 and 3389; allow only trusted CIDRs, "
        "or use SSM Session Manager instead of open admin ports."
    ),
)
def sg_open_admin_ports(resource: Resource, _now: datetime) -> Verdict | None:
    """No ingress rule may allow 0.0.0.0/0 or ::/0 to port 22 or 3389.

    A rule counts when its protocol is all (``-1``), TCP or UDP (as the CIS controls count
    them) and its port range covers 22 or 3389; a TCP/UDP rule without port numbers counts as
    all ports.
    """
    if missing := require(resource, "ingress"):
        return missing
    findings: list[str] = []
    for rule in _rules(resource.config["ingress"]):
        sources = world_sources(rule)
        ports = [port for port in ADMIN_PORTS if covers_port(rule, port)]
        if sources and ports:
            findings.append(
                f"ingress {describe_rule(rule)} from {','.join(sources)} "
                f"covers port {','.join(map(str, ports))}"
            )
    if findings:
        return Verdict.violation(_join(findings))
    return Verdict.compliant("no ingress from 0.0.0.0/0 or ::/0 to ports 22 or 3389")


@policy(
    id="ec2.default_sg_restricts_traffic",
    resource_types=SECURITY_GROUP,
    title="Default security group of a VPC allows traffic",
    severity=Severity.MEDIUM,
    remediation=(
        "Delete every inbound and outbound rule of the VPC's default security group and move "
        "resources that relied on it to purpose-built groups."
    ),
)
def default_sg_restricts_traffic(resource: Resource, _now: datetime) -> Verdict | None:
    """A VPC's default security group must have no ingress and no egress rules.

    Not applicable (None) to groups that are not a default group.
    """
    if missing := require(resource, "is_default"):
        return missing
    if resource.config["is_default"] is not True:
        return None
    if missing := require(resource, "ingress", "egress"):
        return missing
    ingress = _rules(resource.config["ingress"])
    egress = _rules(resource.config["egress"])
    if ingress or egress:
        return Verdict.violation(
            f"is_default=True with ingress={len(ingress)} rule(s), egress={len(egress)} rule(s)"
        )
    return Verdict.compliant("is_default=True with no ingress or egress rules")


@policy(
    id="ec2.public_instance_open_sg",
    resource_types=SECURITY_GROUP,
    title="Security group open to the world is attached to an instance with a public IP",
    severity=Severity.MEDIUM,
    remediation=(
        "Restrict the group's ingress to known CIDRs, or move the instance behind a load "
        "balancer or into a private subnet without a public IP."
    ),
)
def public_instance_open_sg(resource: Resource, _now: datetime) -> Verdict | None:
    """A group that admits 0.0.0.0/0 or ::/0 (any port) must not be attached to an instance
    with a public IP.

    Reads ``attached_public_instances`` (instance ids with a public IP that use the group). A
    group with no world-open ingress is compliant whatever that key holds; otherwise a missing
    key is unknown. Not a CIS v3.0/v5.0 control: best practice beyond the benchmark.
    """
    if missing := require(resource, "ingress"):
        return missing
    open_rules = [
        f"{describe_rule(rule)} from {','.join(sources)}"
        for rule in _rules(resource.config["ingress"])
        if (sources := world_sources(rule))
    ]
    if not open_rules:
        return Verdict.compliant("no ingress from 0.0.0.0/0 or ::/0")
    if missing := require(resource, ATTACHED_PUBLIC_INSTANCES):
        return missing
    public = [str(i) for i in as_list(resource.config[ATTACHED_PUBLIC_INSTANCES])]
    if public:
        return Verdict.violation(
            f"ingress open to the world ({_join(open_rules)}) and "
            f"{ATTACHED_PUBLIC_INSTANCES}={public!r}"
        )
    return Verdict.compliant(
        f"ingress open to the world but {ATTACHED_PUBLIC_INSTANCES}=[] (no public instance)"
    )
