"""EC2 inventory (scope: one region; every call, its IAM action and count: :data:`CALLS`).

``scopes``: the job's regions (in the job's order) that the account has enabled, from one
DescribeRegions call. ``collect(region)`` streams, in this order: ``ec2.instance``
(DescribeInstances), ``ec2.volume`` (DescribeVolumes), ``ec2.security-group``
(DescribeSecurityGroups; ``attached_instances`` and ``attached_public_instances`` come from
the instance pass, which keeps group id -> instance ids maps for that one region) and one
``ec2.ebs-default`` per region (GetEbsEncryptionByDefault). Config shapes:
qrie.inventory.schema, plus ``attached_public_instances`` on security groups (ids of the
attached instances with a public IPv4) and, when the capped id lists are cut,
``attached_instance_count`` / ``attached_public_instance_count``.

A failing Describe* call raises (the region is not swept); a failing
GetEbsEncryptionByDefault marks ``enabled`` unknown. Terminated instances are skipped: they are
gone, only still listed for a while.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from qrie.aws import error_code
from qrie.domain import Resource
from qrie.inventory.base import Session, iso, member_resource, paginate, read_attribute
from qrie.inventory.calls import AwsCall, CallSheet
from qrie.inventory.schema import IpRule

SERVICE = "ec2"
PARTITION = "aws"
ENABLED_OPT_IN = frozenset({"opt-in-not-required", "opted-in"})
# Errors a disabled (not opted-in) region answers with: DescribeRegions is then retried in the
# job's next region.
REGION_DISABLED_CODES = frozenset(
    {"AuthFailure", "OptInRequired", "UnrecognizedClientException", "InvalidClientTokenId"}
)
# MaxResults bounds per operation.
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZES = {"describe_instances": 1000, "describe_volumes": 500}
DEFAULT_MAX_PAGE_SIZE = 1000
# A security group can back thousands of instances; keep the item small.
MAX_ATTACHED_INSTANCES = 100
SKIPPED_STATES = frozenset({"terminated"})
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

CALLS = CallSheet(
    scope="one scope per enabled region",
    notation=(
        "`R` regions inventoried, and per region `I` instances (really reservations), "
        "`V` volumes, `G` security groups"
    ),
    calls=(
        AwsCall(
            "DescribeRegions",
            "ec2:DescribeRegions",
            "1 per account (+1 per disabled region tried first)",
            "`AllRegions=True`, in the job's first region; keeps regions with opt-in status "
            "`opt-in-not-required` or `opted-in`; a failure fails the task",
        ),
        AwsCall(
            "DescribeInstances",
            "ec2:DescribeInstances",
            f"⌈I/{MAX_PAGE_SIZES['describe_instances']}⌉ per region",
            "terminated instances skipped",
            listing=True,
        ),
        AwsCall(
            "DescribeVolumes",
            "ec2:DescribeVolumes",
            f"⌈V/{MAX_PAGE_SIZES['describe_volumes']}⌉ per region",
            listing=True,
        ),
        AwsCall(
            "DescribeSecurityGroups",
            "ec2:DescribeSecurityGroups",
            f"⌈G/{DEFAULT_MAX_PAGE_SIZE}⌉ per region",
            "`attached_instances` from the instance pass (no extra call)",
            listing=True,
        ),
        AwsCall(
            "GetEbsEncryptionByDefault",
            "ec2:GetEbsEncryptionByDefault",
            "1 per region",
            "denied → `enabled` unknown",
        ),
    ),
    total=(
        "`1 + Σ_regions (⌈I/1000⌉ + ⌈V/500⌉ + ⌈G/1000⌉ + 1)`, i.e. at least `1 + 4·R`. "
        "Example: 17 regions, mostly empty → 1 + 68 = 69 calls. No per-resource calls."
    ),
)


def ip_rule(permission: dict[str, Any]) -> IpRule:
    """One IpPermission in the schema's shape."""
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    return {
        "protocol": PROTOCOL_NAMES.get(protocol, protocol),
        "from_port": permission.get("FromPort"),
        "to_port": permission.get("ToPort"),
        "ipv4": [str(r["CidrIp"]) for r in permission.get("IpRanges", []) if "CidrIp" in r],
        "ipv6": [str(r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", []) if "CidrIpv6" in r],
        "groups": [
            str(pair.get("GroupId") or pair.get("GroupName"))
            for pair in permission.get("UserIdGroupPairs", [])
            if pair.get("GroupId") or pair.get("GroupName")
        ],
        "prefix_lists": [
            str(p["PrefixListId"])
            for p in permission.get("PrefixListIds", [])
            if "PrefixListId" in p
        ],
    }


def instance_security_groups(instance: dict[str, Any]) -> list[str]:
    """Group ids of the instance and of all its network interfaces, in order, without repeats."""
    ids = [g["GroupId"] for g in instance.get("SecurityGroups", []) if "GroupId" in g]
    for interface in instance.get("NetworkInterfaces", []):
        ids.extend(g["GroupId"] for g in interface.get("Groups", []) if "GroupId" in g)
    return list(dict.fromkeys(str(i) for i in ids))


def has_public_ip(instance: dict[str, Any]) -> bool:
    """The instance has a public IPv4 address on any of its network interfaces."""
    if instance.get("PublicIpAddress"):
        return True
    return any(
        (interface.get("Association") or {}).get("PublicIp")
        for interface in instance.get("NetworkInterfaces", [])
    )


class Ec2Collector:
    """Instances, volumes, security groups and the EBS default-encryption setting per region."""

    service = SERVICE
    calls = CALLS

    def __init__(self, page_size: int | None = None) -> None:
        """``page_size``: MaxResults for every Describe call (clamped to each call's bounds);
        None uses each call's maximum."""
        if page_size is not None and page_size < MIN_PAGE_SIZE:
            raise ValueError(f"page_size must be >= {MIN_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size

    def _pages(self, operation: str) -> dict[str, Any]:
        upper = MAX_PAGE_SIZES.get(operation, DEFAULT_MAX_PAGE_SIZE)
        size = upper if self.page_size is None else min(self.page_size, upper)
        return {"PaginationConfig": {"PageSize": size}}

    def scopes(self, session: Session, regions: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(regions))
        first_error: ClientError | None = None
        for region in wanted:
            try:
                answer = session.client(SERVICE, region).describe_regions(AllRegions=True)
            except ClientError as exc:
                if error_code(exc) not in REGION_DISABLED_CODES:
                    raise
                first_error = first_error or exc
                continue
            enabled = {
                str(r["RegionName"])
                for r in answer.get("Regions", [])
                if r.get("OptInStatus", "opt-in-not-required") in ENABLED_OPT_IN
            }
            return [r for r in wanted if r in enabled]
        if first_error is not None:
            raise first_error
        return []

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        region = scope
        client = session.client(SERVICE, region)
        instances_by_group: defaultdict[str, list[str]] = defaultdict(list)
        public_by_group: defaultdict[str, list[str]] = defaultdict(list)

        for reservation in paginate(
            client, "describe_instances", "Reservations", **self._pages("describe_instances")
        ):
            for instance in reservation.get("Instances", []):
                resource = self._instance(session, region, instance)
                if resource is None:
                    continue
                for group_id in resource.config["security_groups"]:
                    instances_by_group[group_id].append(resource.name)
                    if has_public_ip(instance):
                        public_by_group[group_id].append(resource.name)
                yield resource

        for volume in paginate(
            client, "describe_volumes", "Volumes", **self._pages("describe_volumes")
        ):
            yield self._volume(session, region, volume)

        for group in paginate(
            client,
            "describe_security_groups",
            "SecurityGroups",
            **self._pages("describe_security_groups"),
        ):
            yield self._security_group(session, region, group, instances_by_group, public_by_group)

        yield self._ebs_default(session, region, client)

    def _instance(self, session: Session, region: str, instance: dict[str, Any]) -> Resource | None:
        state = str((instance.get("State") or {}).get("Name", ""))
        if state in SKIPPED_STATES:
            return None
        instance_id = str(instance["InstanceId"])
        metadata = instance.get("MetadataOptions") or {}
        config: dict[str, Any] = {
            "instance_id": instance_id,
            "state": state,
            "instance_type": instance.get("InstanceType"),
            "public_ip": instance.get("PublicIpAddress"),
            "http_tokens": metadata.get("HttpTokens"),
            "http_endpoint": metadata.get("HttpEndpoint"),
            "security_groups": instance_security_groups(instance),
            "iam_instance_profile": (instance.get("IamInstanceProfile") or {}).get("Arn"),
            "vpc_id": instance.get("VpcId"),
            "launched": iso(instance.get("LaunchTime")),
        }
        return self._resource(session, region, "ec2.instance", f"instance/{instance_id}", config)

    def _volume(self, session: Session, region: str, volume: dict[str, Any]) -> Resource:
        volume_id = str(volume["VolumeId"])
        config: dict[str, Any] = {
            "volume_id": volume_id,
            "encrypted": bool(volume.get("Encrypted", False)),
            "kms_key_id": volume.get("KmsKeyId"),
            "size_gib": int(volume.get("Size", 0)),
            "state": volume.get("State"),
            "attached_to": [
                str(a["InstanceId"]) for a in volume.get("Attachments", []) if "InstanceId" in a
            ],
        }
        return self._resource(session, region, "ec2.volume", f"volume/{volume_id}", config)

    def _security_group(
        self,
        session: Session,
        region: str,
        group: dict[str, Any],
        instances_by_group: dict[str, list[str]],
        public_by_group: dict[str, list[str]],
    ) -> Resource:
        group_id = str(group["GroupId"])
        name = str(group.get("GroupName", ""))
        attached = instances_by_group.get(group_id, [])
        public = public_by_group.get(group_id, [])
        config: dict[str, Any] = {
            "group_id": group_id,
            "group_name": name,
            "vpc_id": group.get("VpcId"),
            "is_default": name == "default",
            "ingress": [ip_rule(p) for p in group.get("IpPermissions", [])],
            "egress": [ip_rule(p) for p in group.get("IpPermissionsEgress", [])],
            "attached_instances": attached[:MAX_ATTACHED_INSTANCES],
            "attached_public_instances": public[:MAX_ATTACHED_INSTANCES],
        }
        # Lists are capped to keep the item small; the counts say how many there really are.
        if len(attached) > MAX_ATTACHED_INSTANCES:
            config["attached_instance_count"] = len(attached)
        if len(public) > MAX_ATTACHED_INSTANCES:
            config["attached_public_instance_count"] = len(public)
        return self._resource(
            session, region, "ec2.security-group", f"security-group/{group_id}", config
        )

    def _ebs_default(self, session: Session, region: str, client: Any) -> Resource:
        config: dict[str, Any] = {}
        read_attribute(
            config,
            "enabled",
            lambda: bool(client.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]),
        )
        return self._resource(
            session, region, "ec2.ebs-default", "ebs-encryption-by-default", config
        )

    @staticmethod
    def _resource(
        session: Session,
        region: str,
        type_: str,
        resource_id: str,
        config: dict[str, Any],
    ) -> Resource:
        arn = f"arn:{PARTITION}:ec2:{region}:{session.account_id}:{resource_id}"
        return member_resource(session, type_, region, arn, config, resource_id.rsplit("/", 1)[-1])


COLLECTOR = Ec2Collector()
