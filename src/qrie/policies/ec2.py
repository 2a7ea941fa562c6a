"""EC2 policies: EBS volumes and default encryption, instances and the account's instance
metadata defaults (IMDS), security groups, network ACLs and VPCs (flow logs).

Resource types and config keys are those of ``qrie.inventory.schema``: ``ec2.volume``,
``ec2.ebs-default``, ``ec2.instance``, ``ec2.imds-default``, ``ec2.security-group``,
``ec2.network-acl``, ``ec2.vpc``.

"Open to the world" is judged by meaning (``qrie.policies._net``): the sources of every rule
that admits a port are added up, so ``0.0.0.0/1`` and ``128.0.0.0/1`` in two rules are as open
as ``0.0.0.0/0``, and so is a list of ranges that leaves out only private and reserved space. A
rule admits a port when its protocol is all (``-1``, or no protocol at all), TCP or UDP (by
name or number, as the CIS controls count them) and its port range holds the port; a TCP/UDP
rule without port numbers holds every port. Rules that reference security groups or prefix
lists are not sources from the Internet and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._net import AddressSet, parse_cidr, reach, world_reach
from qrie.policies._util import as_list, expect_flag, require
from qrie.policies.base import Verdict, needs, policy

VOLUME = frozenset({"ec2.volume"})
EBS_DEFAULT = frozenset({"ec2.ebs-default"})
INSTANCE = frozenset({"ec2.instance"})
IMDS_DEFAULT = frozenset({"ec2.imds-default"})
SECURITY_GROUP = frozenset({"ec2.security-group"})
NETWORK_ACL = frozenset({"ec2.network-acl"})
VPC = frozenset({"ec2.vpc"})

IPV4, IPV6 = 4, 6
FAMILY = {IPV4: "ipv4", IPV6: "ipv6"}
ADMIN_PORTS: tuple[int, ...] = (22, 3389)  # SSH, RDP
CIFS_PORT = 445
MAX_PORT = 65535
ALL_PROTOCOLS = "-1"
# CIS counts TCP (6), UDP (17) and ALL (-1) rules towards the remote administration ports.
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "all": ALL_PROTOCOLS}
PORT_PROTOCOLS: tuple[str, ...] = ("tcp", "udp")
GONE_VOLUME_STATES = frozenset({"deleting", "deleted"})
# Instances on their way out: they will never run again.
GONE_INSTANCE_STATES = frozenset({"shutting-down", "terminated"})
DELIVERY_FAILED = "FAILED"

# Extra ec2.security-group key (not yet in schema.py): ids of the instances with a public IP
# that use the group, filled by the collector from DescribeInstances.
ATTACHED_PUBLIC_INSTANCES = "attached_public_instances"


# ---- rule helpers -------------------------------------------------------------------------------
def protocol_of(rule: dict[str, Any]) -> str:
    """The rule's protocol by name (``tcp``, ``udp``, ``icmp``, ...) or ``-1`` for all; a rule
    without a protocol is all protocols."""
    raw = str(rule.get("protocol", ALL_PROTOCOLS)).strip().lower() or ALL_PROTOCOLS
    return PROTOCOL_NAMES.get(raw, raw)


def port_range(rule: dict[str, Any]) -> tuple[int, int] | None:
    """The rule's (from, to) ports, or None when it covers every port (all protocols, or no
    usable port numbers)."""
    if protocol_of(rule) == ALL_PROTOCOLS:
        return None
    low, high = rule.get("from_port"), rule.get("to_port")
    if not isinstance(low, int) or not isinstance(high, int) or low < 0 or high < 0:
        return None
    return low, high


def admits(rule: dict[str, Any], protocol: str, port: int) -> bool:
    """True when the rule lets ``protocol`` (tcp or udp) traffic to ``port`` through."""
    if protocol_of(rule) not in (ALL_PROTOCOLS, protocol):
        return False
    ports = port_range(rule)
    return ports is None or ports[0] <= port <= ports[1]


def describe_rule(rule: dict[str, Any]) -> str:
    """A short label such as "tcp 0-65535", "tcp 22" or "all traffic"."""
    protocol = protocol_of(rule)
    if protocol == ALL_PROTOCOLS:
        return "all traffic"
    ports = port_range(rule)
    if ports is None:
        return f"{protocol} all ports"
    low, high = ports
    return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def sources(rule: dict[str, Any], version: int) -> list[str]:
    """A security group rule's CIDR sources of one IP version."""
    return [str(c) for c in as_list(rule.get(FAMILY[version]))]


def _rules(value: object) -> list[dict[str, Any]]:
    return [rule for rule in as_list(value) if isinstance(rule, dict)]


def _join(items: Iterable[str]) -> str:
    return "; ".join(items)


def open_ports(
    rules: list[dict[str, Any]],
    version: int,
    ports: Iterable[int],
    protocols: tuple[str, ...] = PORT_PROTOCOLS,
) -> list[str]:
    """Each (protocol, port) of ``ports`` that the group's rules together open to the whole
    Internet over IP ``version``, described with the sources and the rules that admit it."""
    found: list[str] = []
    for port in ports:
        for protocol in protocols:
            matching = [r for r in rules if admits(r, protocol, port) and sources(r, version)]
            cidrs = [c for r in matching for c in sources(r, version)]
            how = world_reach(version, cidrs)
            if how is not None:
                labels = ", ".join(dict.fromkeys(describe_rule(r) for r in matching))
                found.append(f"{protocol} {port} from {how} (ingress {labels})")
    return found


def open_anywhere(rules: list[dict[str, Any]], version: int) -> list[str]:
    """Every protocol and port range the group's rules together open to the whole Internet
    over IP ``version`` (ports are split where some rule's range begins or ends, and each
    piece is judged with every rule that admits it)."""
    found: list[str] = []
    for protocol in PORT_PROTOCOLS:
        cuts = {0, MAX_PORT + 1}
        for rule in rules:
            if protocol_of(rule) == protocol and (ports := port_range(rule)) is not None:
                cuts.update((max(0, ports[0]), min(MAX_PORT, ports[1]) + 1))
        bounds = sorted(c for c in cuts if 0 <= c <= MAX_PORT + 1)
        spans: list[list[int]] = []  # open [low, high] pieces, adjacent ones merged
        for low, end in pairwise(bounds):
            if not open_ports(rules, version, [low], (protocol,)):
                continue
            if spans and spans[-1][1] == low - 1:
                spans[-1][1] = end - 1
            else:
                spans.append([low, end - 1])
        found += [
            f"{protocol} {low if low == high else f'{low}-{high}'} open over {FAMILY[version]}"
            for low, high in spans
        ]
    others = sorted({protocol_of(r) for r in rules} - {ALL_PROTOCOLS, *PORT_PROTOCOLS})
    for protocol in others:
        cidrs = [
            c
            for r in rules
            if protocol_of(r) in (protocol, ALL_PROTOCOLS)
            for c in sources(r, version)
        ]
        if (how := world_reach(version, cidrs)) is not None:
            found.append(f"{protocol} from {how}")
    return found


def _port_policy(resource: Resource, versions: tuple[int, ...], ports: tuple[int, ...]) -> Verdict:
    if missing := require(resource, "ingress"):
        return missing
    rules = _rules(resource.config["ingress"])
    found = [line for version in versions for line in open_ports(rules, version, ports)]
    world = " or ".join("0.0.0.0/0" if v == IPV4 else "::/0" for v in versions)
    listed = " or ".join(map(str, ports))
    if found:
        return Verdict.violation(_join(found))
    return Verdict.compliant(f"no ingress from {world} (or ranges adding up to it) to {listed}")


# ---- evaluators ---------------------------------------------------------------------------------
@policy(
    id="ec2.ebs_volume_encryption",
    resource_types=VOLUME,
    title="EBS volume is not encrypted",
    severity=Severity.HIGH,
    remediation=(
        "Console: EC2 > Volumes > the volume > Actions > Create snapshot; Snapshots > the "
        "snapshot > Actions > Copy snapshot with Encrypt this snapshot; create a volume from "
        "the copy, swap it in and delete the unencrypted one. CLI: aws ec2 create-snapshot "
        "--volume-id <id>, aws ec2 copy-snapshot --source-snapshot-id <snap> --source-region "
        "<region> --encrypted, aws ec2 create-volume --snapshot-id <copy> --availability-zone "
        "<az>."
    ),
)
def ebs_volume_encryption(resource: Resource, _now: datetime) -> Verdict | None:
    """A volume must be encrypted; volumes being deleted are not applicable.

    Not a CIS v3.0/v5.0 control: the benchmark's EBS control (v3.0 2.2.1, v5.0 5.1.1) audits
    the region's encryption-by-default setting (``ec2.ebs_default_encryption``); volumes created
    before it was turned on stay unencrypted, which this policy reports.

    Rationale: an unencrypted volume exposes its data, and its snapshots', to anyone who gets
    hold of a copy."""
    if resource.config.get("state") in GONE_VOLUME_STATES:
        return None
    return expect_flag(resource, "encrypted", True)


@policy(
    id="ec2.ebs_default_encryption",
    resource_types=EBS_DEFAULT,
    title="EBS encryption by default is off in the region",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: EC2 > Dashboard > Account attributes > Data protection and security > EBS "
        "encryption > Manage > Enable > Update EBS encryption, in every region in use. CLI: aws "
        "ec2 enable-ebs-encryption-by-default --region <region> (each region)."
    ),
)
def ebs_default_encryption(resource: Resource, _now: datetime) -> Verdict | None:
    """EBS encryption by default (GetEbsEncryptionByDefault) must be on in the region, so that
    every new volume and snapshot copy is encrypted; judged per region inventoried, as the
    benchmark asks for every region in use.

    Rationale: with encryption by default every new volume and snapshot copy is encrypted,
    whoever creates it and however."""
    return expect_flag(resource, "enabled", True, f" in {resource.scope}")


@policy(
    id="ec2.imdsv2_required",
    resource_types=INSTANCE,
    title="EC2 instance does not require IMDSv2",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: EC2 > Instances > the instance > Actions > Instance settings > Modify "
        "instance metadata options > IMDSv2 Required > Save. CLI: aws ec2 "
        "modify-instance-metadata-options --instance-id <id> --http-tokens required "
        "--http-endpoint enabled --region <region>; and make it the region's default for new "
        "instances (aws ec2 modify-instance-metadata-defaults --http-tokens required)."
    ),
)
def imdsv2_required(resource: Resource, _now: datetime) -> Verdict | None:
    """Every instance must require IMDSv2 tokens (``HttpTokens = required``, with its
    metadata options ``applied``), or have the metadata endpoint disabled.

    Stopped instances count, as in the benchmark's audit (which lists every instance): one that
    allows IMDSv1 starts again with IMDSv1. Not applicable (None) only to instances shutting
    down or terminated. A change of a running or stopped instance's options still ``pending``
    is not in effect yet and fails until it is applied (an instance being launched with them
    passes).

    Rationale: IMDSv2's session tokens stop server-side request forgery and open proxies from
    reading the instance role's credentials from the metadata service."""
    if missing := require(resource, "state"):
        return missing
    if resource.config["state"] in GONE_INSTANCE_STATES:
        return None
    config = resource.config
    tokens_missing = require(resource, "http_tokens")
    endpoint_missing = require(resource, "http_endpoint")
    # options still "pending" are not in effect, unless the instance itself is launching with them
    applied = config.get("metadata_state") != "pending" or config["state"] == "pending"
    where = f" (state={config['state']!r})"
    if tokens_missing is None and config["http_tokens"] == "required":
        if applied:
            return Verdict.compliant(f"http_tokens='required'{where}")
        return Verdict.violation(f"http_tokens='required' but metadata_state='pending'{where}")
    if endpoint_missing is None and config["http_endpoint"] == "disabled" and applied:
        return Verdict.compliant(f"http_endpoint='disabled'{where}")
    if tokens_missing is not None:
        return tokens_missing
    if endpoint_missing is not None:
        return endpoint_missing
    return Verdict.violation(
        f"http_tokens={config['http_tokens']!r} (http_endpoint={config['http_endpoint']!r}){where}"
    )


@policy(
    id="ec2.imdsv2_account_default",
    resource_types=IMDS_DEFAULT,
    title="New EC2 instances in the region do not require IMDSv2 by default",
    severity=Severity.LOW,
    remediation=(
        "Console: EC2 > Dashboard > Account attributes > Data protection and security > IMDS "
        "defaults > Manage > Metadata version: V2 only (token required) > Update. CLI: aws ec2 "
        "modify-instance-metadata-defaults --http-tokens required --region <region>."
    ),
)
def imdsv2_account_default(resource: Resource, _now: datetime) -> Verdict | None:
    """The region's instance metadata defaults (GetInstanceMetadataDefaults) must make new
    instances require IMDSv2 (``HttpTokens = required``) or disable the metadata endpoint.

    Without an account default, a new instance takes its AMI's setting (IMDSv1 for most older
    AMIs). Not a CIS v3.0/v5.0 control: the benchmark audits instances
    (``ec2.imdsv2_required``); this keeps new ones from failing it.

    Rationale: the account default makes instances launched without explicit metadata options
    require IMDSv2 too, so new instances start compliant."""
    if missing := require(resource, "http_tokens", "http_endpoint"):
        return missing
    tokens, endpoint = resource.config["http_tokens"], resource.config["http_endpoint"]
    where = f" in {resource.scope}"
    if tokens == "required":
        return Verdict.compliant(f"http_tokens='required'{where}")
    if endpoint == "disabled":
        return Verdict.compliant(f"http_endpoint='disabled'{where}")
    return Verdict.violation(f"http_tokens={tokens!r}, http_endpoint={endpoint!r}{where}")


@policy(
    id="ec2.sg_open_admin_ports",
    resource_types=SECURITY_GROUP,
    title="Security group allows SSH (22) or RDP (3389) from 0.0.0.0/0",
    severity=Severity.HIGH,
    remediation=(
        "Console: VPC > Security groups > the group > Inbound rules > Edit inbound rules: "
        "change the source of the rules for 22 and 3389 to trusted CIDRs, or delete them "
        "(use SSM Session Manager instead) > Save rules. CLI: aws ec2 "
        "revoke-security-group-ingress --group-id <id> --protocol tcp --port 22 --cidr "
        "0.0.0.0/0 --region <region> (and the same for 3389)."
    ),
)
def sg_open_admin_ports(resource: Resource, _now: datetime) -> Verdict | None:
    """No IPv4 ingress may open port 22 or 3389 to the whole Internet (0.0.0.0/0, or ranges
    that add up to it: ``0.0.0.0/1`` + ``128.0.0.0/1``, or everything but private space).

    Rules of all protocols, TCP and UDP count; a port range that holds 22 or 3389 (``0-1024``,
    all ports) counts. IPv6 sources are ``ec2.sg_open_admin_ports_ipv6``'s, as the benchmark
    keeps the two apart.

    Rationale: SSH and RDP open to the whole internet invite brute force and exploits of the
    remote-administration service itself."""
    return _port_policy(resource, (IPV4,), ADMIN_PORTS)


@policy(
    id="ec2.sg_open_admin_ports_ipv6",
    resource_types=SECURITY_GROUP,
    title="Security group allows SSH (22) or RDP (3389) from ::/0",
    severity=Severity.HIGH,
    remediation=(
        "Console: VPC > Security groups > the group > Inbound rules > Edit inbound rules: "
        "change the source of the rules for 22 and 3389 from ::/0 to trusted ranges, or delete "
        "them > Save rules. CLI: aws ec2 revoke-security-group-ingress --group-id <id> "
        "--ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]' "
        "--region <region> (and the same for 3389)."
    ),
)
def sg_open_admin_ports_ipv6(resource: Resource, _now: datetime) -> Verdict | None:
    """No IPv6 ingress may open port 22 or 3389 to the whole Internet (``::/0``, or ranges that
    add up to it: ``::/1`` + ``8000::/1``, or all of global unicast ``2000::/3``).

    Counted as ``ec2.sg_open_admin_ports`` counts IPv4 rules.

    Rationale: SSH and RDP open to every IPv6 address are as exposed as to 0.0.0.0/0, and IPv6
    rules are easily overlooked."""
    return _port_policy(resource, (IPV6,), ADMIN_PORTS)


@policy(
    id="ec2.sg_open_cifs",
    resource_types=SECURITY_GROUP,
    title="Security group allows CIFS/SMB (445) from 0.0.0.0/0 or ::/0",
    severity=Severity.HIGH,
    remediation=(
        "Console: EC2 > Security groups > the group > Inbound rules > Edit inbound rules: "
        "restrict the source of the rule for port 445 to trusted networks, or delete it > Save "
        "rules. CLI: aws ec2 revoke-security-group-ingress --group-id <id> --protocol tcp "
        "--port 445 --cidr 0.0.0.0/0 --region <region> (and the ::/0 rule with "
        "--ip-permissions)."
    ),
)
def sg_open_cifs(resource: Resource, _now: datetime) -> Verdict | None:
    """No ingress may open port 445 (CIFS/SMB) to the whole Internet, over IPv4 or IPv6
    (``0.0.0.0/0``, ``::/0``, or ranges that add up to them).

    Counted as ``ec2.sg_open_admin_ports`` counts: rules of all protocols, TCP and UDP, any
    port range holding 445. CIS v5.0 only (5.1.2); v3.0 has no such control.

    Rationale: SMB/CIFS exposed to the internet has a long history of wormable vulnerabilities
    and leaks file shares."""
    return _port_policy(resource, (IPV4, IPV6), (CIFS_PORT,))


@policy(
    id="ec2.default_sg_restricts_traffic",
    resource_types=SECURITY_GROUP,
    title="Default security group of a VPC allows traffic",
    severity=Severity.MEDIUM,
    remediation=(
        "Move the resources that use the default group to purpose-built groups, then "
        "Console: VPC > Security groups > the VPC's 'default' group > Inbound rules > Edit > "
        "Delete every rule > Save, and the same for Outbound rules. CLI: aws ec2 "
        "revoke-security-group-ingress --group-id <id> --ip-permissions <its rules> and aws "
        "ec2 revoke-security-group-egress --group-id <id> --ip-permissions <its rules>."
    ),
)
def default_sg_restricts_traffic(resource: Resource, _now: datetime) -> Verdict | None:
    """A VPC's default security group must have no ingress and no egress rules (AWS creates it
    allowing all traffic out, and in from its own members), so that nothing gets access by
    landing in it.

    Not applicable (None) to groups that are not a default group.

    Rationale: resources launched without a chosen security group land in the default one; if
    it allows nothing, a forgotten choice fails closed."""
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
    """A group whose ingress admits the whole Internet (``0.0.0.0/0``, ``::/0`` or ranges adding
    up to them, on any port) must not be attached to an instance with a public IP.

    Reads ``attached_public_instances`` (instance ids with a public IP that use the group). A
    group with no world-open ingress is compliant whatever that key holds; otherwise a missing
    key is unknown. Not a CIS v3.0/v5.0 control: best practice beyond the benchmark.

    Rationale: an instance with a public address behind a world-open group is reachable from
    the internet on those ports today, not only in principle."""
    if missing := require(resource, "ingress"):
        return missing
    rules = _rules(resource.config["ingress"])
    open_rules = [line for version in (IPV4, IPV6) for line in open_anywhere(rules, version)]
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


# ---- network ACLs -----------------------------------------------------------------------------
def nacl_allowed(
    entries: list[dict[str, Any]], version: int, protocol: str, port: int
) -> tuple[AddressSet, list[int]]:
    """The sources a network ACL lets reach ``protocol``/``port`` over IP ``version``, and the
    numbers of the allow rules that let them: entries are evaluated in rule-number order and
    the first that matches a packet decides, so a lower-numbered deny shadows later allows."""
    remaining = AddressSet.everything(version)
    allowed = AddressSet(version)
    rules: list[int] = []
    ordered = sorted(
        entries,
        key=lambda e: e.get("rule_number", 0) if isinstance(e.get("rule_number"), int) else 0,
    )
    for entry in ordered:
        network = parse_cidr(entry.get("cidr"), version)
        if network is None or not admits(entry, protocol, port):
            continue
        block = AddressSet(version, (network,))
        if entry.get("action") == "allow":
            admitted = block.intersection(remaining)
            if admitted:
                allowed = allowed.union(admitted)
                rules.append(entry.get("rule_number", 0))
        remaining = remaining.minus(block)
        if not remaining:
            break
    return allowed, rules


@policy(
    id="ec2.nacl_open_admin_ports",
    resource_types=NETWORK_ACL,
    title="Network ACL allows ingress from 0.0.0.0/0 to SSH (22) or RDP (3389)",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: VPC > Network ACLs > the ACL > Inbound rules > Edit inbound rules: change the "
        "source of the rules that allow 22 and 3389 to trusted CIDRs, or add lower-numbered "
        "DENY rules for 0.0.0.0/0 on those ports > Save. CLI: aws ec2 create-network-acl-entry "
        "--network-acl-id <id> --ingress --rule-number 50 --protocol tcp --port-range "
        "From=22,To=22 --cidr-block 0.0.0.0/0 --rule-action deny --region <region> (and the "
        "same for 3389, and for ::/0 with --ipv6-cidr-block)."
    ),
)
def nacl_open_admin_ports(resource: Resource, _now: datetime) -> Verdict | None:
    """The network ACL's inbound rules must not allow the whole Internet to reach port 22 or
    3389 over TCP or UDP.

    Evaluated as the ACL evaluates packets: rules in rule-number order, the first match
    decides, so a lower-numbered DENY for the port shadows a later ALLOW of all traffic (the
    default ACL's rule 100 allows everything: it fails unless such denies come first). The
    sources the ALLOW rules let through are added up: several ranges that together cover every
    (public) address are open to the world. Rules of all protocols, TCP and UDP count; port
    ranges holding 22 or 3389 count. IPv6 entries are judged the same way as IPv4 ones (``::/0``).

    Rationale: a network ACL is the subnet's stateless first filter; letting SSH and RDP in
    from anywhere removes that layer of defence."""
    if missing := require(resource, "ingress"):
        return missing
    entries = _rules(resource.config["ingress"])
    found: list[str] = []
    for version in (IPV4, IPV6):
        for port in ADMIN_PORTS:
            for protocol in PORT_PROTOCOLS:
                allowed, numbers = nacl_allowed(entries, version, protocol, port)
                how = reach(allowed)
                if how is not None:
                    rules = ", ".join(map(str, numbers))
                    found.append(
                        f"{protocol} {port} from {how} over {FAMILY[version]} (rule {rules})"
                    )
    if found:
        return Verdict.violation(_join(found))
    return Verdict.compliant("no inbound rule lets the Internet reach 22 or 3389")


# ---- VPC flow logs ----------------------------------------------------------------------------
@policy(
    id="ec2.vpc_flow_logs",
    resource_types=VPC,
    title="VPC has no active flow log",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: VPC > Your VPCs > the VPC > Flow logs > Create flow log: Filter Reject (or "
        "All), a CloudWatch Logs group or S3 bucket destination > Create. CLI: aws ec2 "
        "create-flow-logs --resource-type VPC --resource-ids <vpc-id> --traffic-type REJECT "
        "--log-destination-type s3 --log-destination arn:aws:s3:::<bucket> --region <region> "
        "(or --log-group-name <group> --deliver-logs-permission-arn <role-arn>)."
    ),
)
def vpc_flow_logs(resource: Resource, _now: datetime) -> Verdict | None:
    """The VPC must have a flow log of its own (resource type VPC: subnet and interface flow
    logs do not cover it) whose status is ``ACTIVE``.

    A flow log whose delivery fails (``DeliverLogsStatus = FAILED``: the destination refuses
    it) records nothing and does not count. Any traffic type counts (the benchmark suggests
    REJECT at least).

    Rationale: flow logs record the network traffic of the VPC, needed to detect and
    investigate unusual connections."""
    if missing := require(resource, "flow_logs"):
        return missing
    logs = _rules(resource.config["flow_logs"])
    active = [log for log in logs if log.get("status") == "ACTIVE"]
    delivering = [log for log in active if log.get("deliver_status") != DELIVERY_FAILED]
    if delivering:
        log = delivering[0]
        return Verdict.compliant(
            f"flow log {log.get('id')} ACTIVE, traffic {log.get('traffic_type')}, "
            f"to {log.get('destination_type')}"
        )
    if active:
        return Verdict.violation(
            f"flow log(s) {', '.join(str(log.get('id')) for log in active)} ACTIVE but "
            "their delivery FAILED"
        )
    if logs:
        states = ", ".join(f"{log.get('id')}={log.get('status')!r}" for log in logs)
        return Verdict.violation(f"no ACTIVE flow log ({states})")
    return Verdict.violation("flow_logs=[] (no flow log for the VPC)")


@policy(
    id="ec2.instance_profile_attached",
    resource_types=INSTANCE,
    title="EC2 instance has no IAM instance profile (role)",
    severity=Severity.MEDIUM,
    remediation=(
        "Give the instance a role for the AWS access it needs and remove any stored keys. "
        "Console: EC2 > Instances > the instance > Actions > Security > Modify IAM role. CLI: "
        "aws ec2 associate-iam-instance-profile --instance-id <id> --iam-instance-profile "
        "Name=<instance profile>."
    ),
)
def instance_profile_attached(resource: Resource, _now: datetime) -> Verdict | None:
    """CIS v5.0 1.17: every instance (running or stopped: DescribeInstances lists both) has an
    ``IamInstanceProfile``. Whether the profile holds a role, and whether the instance also
    keeps credentials on its disk, is not visible through the EC2 API (the benchmark's
    secret-scanning step), so a profile is a pass. Terminated instances are not inventoried.
    (CIS v3.0 1.18 is Manual and asks only about instances known to call AWS: no mapping.)

    Rationale: a role's credentials are short-lived and rotated by AWS; keys stored on an
    instance can be copied off it and used from anywhere."""
    if missing := needs(resource, "iam_instance_profile"):
        return missing
    profile = resource.config["iam_instance_profile"]
    if profile:
        return Verdict.compliant(f"iam_instance_profile={profile}")
    return Verdict.violation(f"iam_instance_profile=None (state={resource.config.get('state')!r})")
