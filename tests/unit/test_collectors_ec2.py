"""The EC2 collector against moto, through assumed member-account roles (as the engine runs it)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qrie.aws import AccountSessions
from qrie.domain import Resource
from qrie.inventory import ec2
from qrie.inventory.registry import get_collector
from tests.unit.collectors_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    ACCOUNT_C,
    HookedSession,
    deny,
)

US, EU = "us-east-1", "eu-west-1"
NOT_OPTED_IN = "ap-east-1"  # moto reports it "not-opted-in", as AWS does for a new account


# ---- fixtures and helpers ----------------------------------------------------------------------


IMAGE_ID = "ami-12c6146b"  # any id: moto does not require the AMI to exist


def default_vpc(client: Any) -> str:
    vpcs = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"])


def launch(client: Any, count: int = 1, **kwargs: Any) -> list[str]:
    """``count`` instances, one reservation each (EC2 pages DescribeInstances by reservation in
    moto)."""
    ids = []
    for _ in range(count):
        answer = client.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1, **kwargs)
        ids.append(str(answer["Instances"][0]["InstanceId"]))
    return ids


def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = {}
    for resource in resources:
        grouped.setdefault(resource.type, []).append(resource)
    return grouped


def open_group(client: Any, name: str, port: int, referenced: str | None = None) -> str:
    """A security group with ``port`` open to 0.0.0.0/0 and ::/0 (and, optionally, all traffic
    from ``referenced``)."""
    group_id = str(
        client.create_security_group(GroupName=name, Description=name, VpcId=default_vpc(client))[
            "GroupId"
        ]
    )
    permissions: list[dict[str, Any]] = [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        }
    ]
    if referenced:
        permissions.append({"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": referenced}]})
    client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    return group_id


# ---- tests -------------------------------------------------------------------------------------
def test_registry_returns_this_collector() -> None:
    # GIVEN the registry / WHEN asked for ec2 / THEN it is this module's collector
    assert get_collector("ec2") is ec2.COLLECTOR
    assert ec2.COLLECTOR.service == "ec2"


def test_scopes_are_the_jobs_enabled_regions_in_job_order(sessions: AccountSessions) -> None:
    # GIVEN a job over two enabled regions, a region the account has not opted in to, a
    # region that does not exist and a repeat
    session = HookedSession(sessions.for_account(ACCOUNT_A))
    wanted = [EU, NOT_OPTED_IN, US, "xx-nowhere-1", EU]
    # WHEN the scopes are computed
    scopes = ec2.COLLECTOR.scopes(session, wanted)
    # THEN they are the enabled ones, in the job's order, from one DescribeRegions in the first
    assert scopes == [EU, US]
    assert session.regions == [("DescribeRegions", EU)]


def test_scopes_skip_a_first_region_that_is_disabled(sessions: AccountSessions) -> None:
    # GIVEN a job whose first region answers AuthFailure (a region not enabled for the account)
    session = HookedSession(sessions.for_account(ACCOUNT_A))
    session.client("ec2", NOT_OPTED_IN).meta.events.register(
        "before-call.ec2.DescribeRegions", deny("DescribeRegions", "AuthFailure")
    )
    # WHEN the scopes are computed
    scopes = ec2.COLLECTOR.scopes(session, [NOT_OPTED_IN, US])
    # THEN DescribeRegions is asked in the next region and the disabled one is left out
    assert scopes == [US]
    assert [region for _, region in session.regions] == [NOT_OPTED_IN, US]


def test_scopes_raise_when_describe_regions_is_denied(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call DescribeRegions
    session = HookedSession(
        sessions.for_account(ACCOUNT_A),
        {"before-call.ec2.DescribeRegions": deny("DescribeRegions", "UnauthorizedOperation")},
    )
    # WHEN the scopes are computed / THEN the error is raised (the task fails), once
    with pytest.raises(ClientError) as caught:
        ec2.COLLECTOR.scopes(session, [US, EU])
    assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert session.calls["DescribeRegions"] == 1


def test_scopes_of_an_empty_job_are_empty(sessions: AccountSessions) -> None:
    # GIVEN no regions / WHEN the scopes are computed / THEN nothing is asked and none returned
    session = HookedSession(sessions.for_account(ACCOUNT_A))
    assert ec2.COLLECTOR.scopes(session, []) == []
    assert session.calls == Counter()


def test_two_regions_are_collected_separately_and_normalized(sessions: AccountSessions) -> None:
    # GIVEN us-east-1 with an IMDSv2 instance behind SSH open to the world, an encrypted and an
    # unencrypted volume; eu-west-1 with an IMDSv1 instance behind RDP open to the world and
    # EBS default encryption on
    member = sessions.for_account(ACCOUNT_A)
    us, eu = member.client("ec2", US), member.client("ec2", EU)
    ssh = open_group(us, "ssh-open", 22)
    (us_instance,) = launch(us, SecurityGroupIds=[ssh], MetadataOptions={"HttpTokens": "required"})
    encrypted = us.create_volume(Size=10, AvailabilityZone="us-east-1a", Encrypted=True)
    plain = us.create_volume(Size=20, AvailabilityZone="us-east-1b", Encrypted=False)
    bastion = str(
        eu.create_security_group(GroupName="bastion", Description="bastion", VpcId=default_vpc(eu))[
            "GroupId"
        ]
    )
    rdp = open_group(eu, "rdp-open", 3389, referenced=bastion)
    (eu_instance,) = launch(eu, SecurityGroupIds=[rdp], MetadataOptions={"HttpTokens": "optional"})
    subnet = eu.describe_subnets()["Subnets"][0]["SubnetId"]
    (private,) = launch(
        eu,
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet,
                "AssociatePublicIpAddress": False,
                "Groups": [rdp],
            }
        ],
    )
    eu.enable_ebs_encryption_by_default()

    # WHEN each region is collected
    in_us = by_type(list(ec2.COLLECTOR.collect(member, US)))
    in_eu = by_type(list(ec2.COLLECTOR.collect(member, EU)))

    # THEN each region holds only its own instances, with the schema's ARNs and attributes
    (instance,) = in_us["ec2.instance"]
    assert instance.arn == f"arn:aws:ec2:{US}:{ACCOUNT_A}:instance/{us_instance}"
    assert instance.name == us_instance
    assert instance.scope == US
    assert instance.config["http_tokens"] == "required"
    assert instance.config["security_groups"] == [ssh]
    assert instance.config["state"] == "running"
    assert instance.config["launched"].endswith("Z")
    eu_instances = {r.name: r.config for r in in_eu["ec2.instance"]}
    assert set(eu_instances) == {eu_instance, private}
    assert eu_instances[eu_instance]["http_tokens"] == "optional"
    assert eu_instances[eu_instance]["public_ip"] is not None
    assert eu_instances[private]["public_ip"] is None
    assert eu_instances[private]["security_groups"] == [rdp]  # from its network interface

    # AND volumes carry their encryption and attachments
    volumes = {r.name: r.config for r in in_us["ec2.volume"]}
    assert volumes[encrypted["VolumeId"]]["encrypted"] is True
    assert volumes[plain["VolumeId"]]["encrypted"] is False
    assert volumes[plain["VolumeId"]]["size_gib"] == 20
    assert volumes[plain["VolumeId"]]["attached_to"] == []
    root_volumes = [v for v in volumes.values() if v["attached_to"] == [us_instance]]
    assert len(root_volumes) == 1
    assert all(
        r.arn.startswith(f"arn:aws:ec2:{US}:{ACCOUNT_A}:volume/vol-") for r in in_us["ec2.volume"]
    )

    # AND security groups carry IPv4 and IPv6 rules, referenced groups and their instances
    us_groups = {r.name: r.config for r in in_us["ec2.security-group"]}
    assert us_groups[ssh]["ingress"] == [
        {
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "ipv4": ["0.0.0.0/0"],
            "ipv6": ["::/0"],
            "groups": [],
            "prefix_lists": [],
        }
    ]
    assert us_groups[ssh]["attached_instances"] == [us_instance]
    assert us_groups[ssh]["attached_public_instances"] == [us_instance]
    assert us_groups[ssh]["is_default"] is False
    assert us_groups[ssh]["egress"][0]["ipv4"] == ["0.0.0.0/0"]
    defaults = [g for g in us_groups.values() if g["is_default"]]
    assert [g["group_name"] for g in defaults] == ["default"]
    assert defaults[0]["attached_instances"] == []
    eu_groups = {r.name: r.config for r in in_eu["ec2.security-group"]}
    assert rdp not in us_groups
    assert ssh not in eu_groups
    rdp_rules = {rule["protocol"]: rule for rule in eu_groups[rdp]["ingress"]}
    assert rdp_rules["tcp"]["from_port"] == 3389
    assert rdp_rules["tcp"]["ipv6"] == ["::/0"]
    assert rdp_rules["-1"]["groups"] == [bastion]
    assert rdp_rules["-1"]["from_port"] is None
    assert sorted(eu_groups[rdp]["attached_instances"]) == sorted([eu_instance, private])
    assert eu_groups[rdp]["attached_public_instances"] == [eu_instance]

    # AND each region has exactly one EBS default-encryption resource with its own setting
    (us_default,) = in_us["ec2.ebs-default"]
    (eu_default,) = in_eu["ec2.ebs-default"]
    assert us_default.arn == f"arn:aws:ec2:{US}:{ACCOUNT_A}:ebs-encryption-by-default"
    assert eu_default.arn == f"arn:aws:ec2:{EU}:{ACCOUNT_A}:ebs-encryption-by-default"
    assert (us_default.config, eu_default.config) == ({"enabled": False}, {"enabled": True})
    # AND configs are JSON-safe as stored
    json.dumps([r.config for rs in (*in_us.values(), *in_eu.values()) for r in rs])


def test_each_account_inventory_holds_only_its_own_resources(sessions: AccountSessions) -> None:
    # GIVEN three accounts with 1, 2 and 3 instances in us-east-1
    launched = {
        account: launch(sessions.for_account(account).client("ec2", US), count)
        for account, count in ((ACCOUNT_A, 1), (ACCOUNT_B, 2), (ACCOUNT_C, 3))
    }
    for account, ids in launched.items():
        # WHEN the account's region is collected
        resources = list(ec2.COLLECTOR.collect(sessions.for_account(account), US))
        # THEN it holds exactly that account's instances and only its own ARNs
        instances = by_type(resources)["ec2.instance"]
        assert sorted(r.name for r in instances) == sorted(ids)
        assert {r.account_id for r in resources} == {account}
        assert all(f":{account}:" in r.arn for r in resources)


def test_instances_are_paginated_and_streamed_first(sessions: AccountSessions) -> None:
    # GIVEN 11 instances and pages of 5
    member = sessions.for_account(ACCOUNT_B)
    ids = launch(member.client("ec2", US), 11)
    sent: list[int] = []

    def record_page_size(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["MaxResults"])

    session = HookedSession(
        member, {"before-parameter-build.ec2.DescribeInstances": record_page_size}
    )
    collector = ec2.Ec2Collector(page_size=5)

    # WHEN the first resource is taken, then the rest
    stream = collector.collect(session, US)
    first = next(stream)
    listed_before_first = dict(session.calls)
    rest = list(stream)

    # THEN the first instance came before any volume or group listing
    assert first.type == "ec2.instance"
    assert listed_before_first == {"DescribeInstances": 1}
    # AND all 11 instances were collected over three pages of at most 5
    instances = [first, *(r for r in rest if r.type == "ec2.instance")]
    assert sorted(r.name for r in instances) == sorted(ids)
    assert session.calls["DescribeInstances"] == 3
    assert sent == [5, 5, 5]
    # AND the instance -> group map fed the default group's attachments
    (default_group,) = [r for r in rest if r.type == "ec2.security-group"]
    assert sorted(default_group.config["attached_instances"]) == sorted(ids)


def test_terminated_instances_are_not_inventoried(sessions: AccountSessions) -> None:
    # GIVEN a running and a terminated instance
    client = sessions.for_account(ACCOUNT_A).client("ec2", US)
    running, terminated = launch(client, 2)
    client.terminate_instances(InstanceIds=[terminated])
    # WHEN collected
    resources = list(ec2.COLLECTOR.collect(sessions.for_account(ACCOUNT_A), US))
    # THEN only the running instance is reported (the terminated one will be swept)
    assert [r.name for r in resources if r.type == "ec2.instance"] == [running]


def test_describe_failure_propagates(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call DescribeSecurityGroups
    member = sessions.for_account(ACCOUNT_A)
    launch(member.client("ec2", US))
    session = HookedSession(
        member,
        {
            "before-call.ec2.DescribeSecurityGroups": deny(
                "DescribeSecurityGroups", "UnauthorizedOperation"
            )
        },
    )
    # WHEN the region is collected / THEN the listing error is raised (no sweep of the region)
    with pytest.raises(ClientError) as caught:
        list(ec2.COLLECTOR.collect(session, US))
    assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_denied_ebs_default_is_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call GetEbsEncryptionByDefault
    session = HookedSession(
        sessions.for_account(ACCOUNT_C),
        {
            "before-call.ec2.GetEbsEncryptionByDefault": deny(
                "GetEbsEncryptionByDefault", "UnauthorizedOperation"
            )
        },
    )
    # WHEN the region is collected
    resources = by_type(list(ec2.COLLECTOR.collect(session, EU)))
    # THEN the setting is None with the reason, not a silent "disabled"
    (default,) = resources["ec2.ebs-default"]
    assert default.config == {"enabled": None, "unknown": {"enabled": "UnauthorizedOperation"}}
    assert default.unknown("enabled") == "UnauthorizedOperation"


def test_public_ip_on_any_interface_counts() -> None:
    # GIVEN instances as DescribeInstances lists them / WHEN checked / THEN a public IPv4 on the
    # instance or on any of its interfaces makes it public
    assert ec2.has_public_ip({"PublicIpAddress": "203.0.113.7"}) is True
    secondary = {"NetworkInterfaces": [{}, {"Association": {"PublicIp": "203.0.113.8"}}]}
    assert ec2.has_public_ip(secondary) is True
    assert ec2.has_public_ip({"NetworkInterfaces": [{"Association": {}}]}) is False


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("6", "tcp"), ("17", "udp"), ("-1", "-1"), ("TCP", "tcp"), ("50", "50")],
)
def test_rule_protocols_are_normalized(protocol: str, expected: str) -> None:
    # GIVEN an IpPermission with a numeric or named protocol / WHEN converted
    rule = ec2.ip_rule({"IpProtocol": protocol, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]})
    # THEN the protocol is the named form policies compare against
    assert rule["protocol"] == expected
    assert rule["ipv4"] == ["10.0.0.0/8"]


# ---- network ACLs, VPCs and flow logs, instance metadata defaults --------------------------------
def test_network_acls_are_normalized(sessions: AccountSessions) -> None:
    # GIVEN the default VPC's default ACL (allows everything, as AWS creates it) and a custom ACL
    # that denies SSH from anywhere and allows RDP from ::/0
    member = sessions.for_account(ACCOUNT_A)
    client = member.client("ec2", US)
    vpc = default_vpc(client)
    custom = str(client.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"])
    client.create_network_acl_entry(
        NetworkAclId=custom,
        RuleNumber=50,
        Protocol="6",
        RuleAction="deny",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 22, "To": 22},
    )
    client.create_network_acl_entry(
        NetworkAclId=custom,
        RuleNumber=60,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        Ipv6CidrBlock="::/0",
        PortRange={"From": 3389, "To": 3389},
    )
    session = HookedSession(member)

    # WHEN the region is collected
    acls = {r.name: r for r in by_type(list(ec2.COLLECTOR.collect(session, US)))["ec2.network-acl"]}

    # THEN each ACL is addressed per the schema, with its entries by direction
    (default_acl,) = [a for a in acls.values() if a.config["is_default"]]
    assert default_acl.arn == f"arn:aws:ec2:{US}:{ACCOUNT_A}:network-acl/{default_acl.name}"
    assert default_acl.config["vpc_id"] == vpc
    assert default_acl.config["subnets"]  # the default VPC's subnets
    assert {
        "rule_number": 100,
        "action": "allow",
        "protocol": "-1",
        "from_port": None,
        "to_port": None,
        "cidr": "0.0.0.0/0",
    } in default_acl.config["ingress"]
    rules = {e["rule_number"]: e for e in acls[custom].config["ingress"]}
    assert rules[50] == {
        "rule_number": 50,
        "action": "deny",
        "protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidr": "0.0.0.0/0",
    }
    assert rules[60]["cidr"] == "::/0"
    assert acls[custom].config["is_default"] is False
    assert session.calls["DescribeNetworkAcls"] == 1


def test_vpcs_carry_their_own_flow_logs(sessions: AccountSessions) -> None:
    # GIVEN the default VPC with a VPC flow log, a second VPC whose only flow log is a subnet's
    member = sessions.for_account(ACCOUNT_B)
    client = member.client("ec2", EU)
    member.client("s3", EU).create_bucket(
        Bucket="flow-logs", CreateBucketConfiguration={"LocationConstraint": EU}
    )
    logged = default_vpc(client)
    flow = client.create_flow_logs(
        ResourceIds=[logged],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flow-logs",
    )["FlowLogIds"][0]
    other = str(client.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"])
    subnet = client.create_subnet(VpcId=other, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    client.create_flow_logs(
        ResourceIds=[subnet],
        ResourceType="Subnet",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flow-logs",
    )

    # WHEN the region is collected
    vpcs = {r.name: r for r in by_type(list(ec2.COLLECTOR.collect(member, EU)))["ec2.vpc"]}

    # THEN the default VPC has its flow log, the other none (a subnet's does not cover a VPC)
    assert vpcs[logged].arn == f"arn:aws:ec2:{EU}:{ACCOUNT_B}:vpc/{logged}"
    assert vpcs[logged].config["is_default"] is True
    assert vpcs[logged].config["flow_logs"] == [
        {
            "id": flow,
            "status": "ACTIVE",
            "deliver_status": "SUCCESS",
            "traffic_type": "REJECT",
            "destination_type": "s3",
        }
    ]
    assert vpcs[other].config["flow_logs"] == []
    assert vpcs[other].config["cidr_blocks"] == ["10.1.0.0/16"]


def test_denied_flow_logs_are_unknown_on_every_vpc(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call DescribeFlowLogs
    session = HookedSession(
        sessions.for_account(ACCOUNT_C),
        {"before-call.ec2.DescribeFlowLogs": deny("DescribeFlowLogs", "UnauthorizedOperation")},
    )
    # WHEN the region is collected
    vpcs = by_type(list(ec2.COLLECTOR.collect(session, US)))["ec2.vpc"]
    # THEN the VPCs are still inventoried, their flow logs unknown (not "none")
    assert vpcs
    for vpc in vpcs:
        assert vpc.config["flow_logs"] is None
        assert vpc.unknown("flow_logs") == "UnauthorizedOperation"


def test_instance_metadata_defaults_per_region(sessions: AccountSessions) -> None:
    # GIVEN IMDSv2 required by default in eu-west-1, nothing set in us-east-1
    member = sessions.for_account(ACCOUNT_A)
    member.client("ec2", EU).modify_instance_metadata_defaults(
        HttpTokens="required", HttpPutResponseHopLimit=2
    )
    # WHEN both regions are collected
    (in_eu,) = by_type(list(ec2.COLLECTOR.collect(member, EU)))["ec2.imds-default"]
    (in_us,) = by_type(list(ec2.COLLECTOR.collect(member, US)))["ec2.imds-default"]
    # THEN each region has its own defaults; unset fields read "no-preference"
    assert in_eu.arn == f"arn:aws:ec2:{EU}:{ACCOUNT_A}:instance-metadata-defaults"
    assert in_eu.config == {
        "http_tokens": "required",
        "http_endpoint": "no-preference",
        "hop_limit": 2,
        "managed_by": None,
    }
    assert in_us.config["http_tokens"] == "no-preference"


def test_denied_instance_metadata_defaults_are_unknown(sessions: AccountSessions) -> None:
    # GIVEN a role that may not call GetInstanceMetadataDefaults
    session = HookedSession(
        sessions.for_account(ACCOUNT_B),
        {
            "before-call.ec2.GetInstanceMetadataDefaults": deny(
                "GetInstanceMetadataDefaults", "UnauthorizedOperation"
            )
        },
    )
    # WHEN the region is collected
    (defaults,) = by_type(list(ec2.COLLECTOR.collect(session, US)))["ec2.imds-default"]
    # THEN every attribute is unknown with the reason
    assert defaults.config["http_tokens"] is None
    assert defaults.unknown("http_tokens") == "UnauthorizedOperation"
    assert defaults.unknown("http_endpoint") == "UnauthorizedOperation"


def test_stopped_instances_are_inventoried_with_their_metadata_state(
    sessions: AccountSessions,
) -> None:
    # GIVEN a stopped instance that allows IMDSv1
    client = sessions.for_account(ACCOUNT_A).client("ec2", US)
    (stopped,) = launch(client, MetadataOptions={"HttpTokens": "optional"})
    client.stop_instances(InstanceIds=[stopped])
    # WHEN collected
    (instance,) = by_type(list(ec2.COLLECTOR.collect(sessions.for_account(ACCOUNT_A), US)))[
        "ec2.instance"
    ]
    # THEN it is reported stopped, with its metadata options and their state
    assert instance.config["state"] == "stopped"
    assert instance.config["http_tokens"] == "optional"
    assert instance.config["metadata_state"] == "applied"
