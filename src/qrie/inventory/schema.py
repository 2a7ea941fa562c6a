"""The shape of ``Resource.config`` per resource type: the contract between collectors and
policies. Every config may also hold ``unknown: {attribute: reason}`` (see qrie.inventory.base).

ARNs: S3 ``arn:aws:s3:::<bucket>``, ``arn:aws:s3::<account>:account`` (the account's S3
settings, one per account); EC2 ``arn:aws:ec2:<region>:<account>:instance/<id>``,
``…:volume/<id>``, ``…:security-group/<id>``, ``…:network-acl/<id>``, ``…:vpc/<id>``,
``…:ebs-encryption-by-default`` and ``…:instance-metadata-defaults`` (one each per region);
IAM ``arn:aws:iam::<account>:user/<name>``, ``…:policy/<path><name>`` (AWS-managed:
``arn:aws:iam::aws:policy/<name>``), ``…:role/<name>``, ``…:server-certificate/<path><name>``,
``arn:aws:iam::<account>:root`` (account summary), ``arn:aws:iam::<account>:password-policy``,
``arn:aws:access-analyzer:<region>:<account>:analyzers`` (a region's analyzers).
"""

from __future__ import annotations

from typing import TypedDict


# ---- s3.bucket (scope: global; "region" holds the bucket's location) -----------------------
class PublicAccessBlock(TypedDict):
    BlockPublicAcls: bool
    IgnorePublicAcls: bool
    BlockPublicPolicy: bool
    RestrictPublicBuckets: bool


class S3Bucket(TypedDict, total=False):
    region: str | None
    created: str | None
    public_access_block: PublicAccessBlock | None  # all False when not configured
    # the account-level settings (s3control GetPublicAccessBlock), the same in every bucket of
    # the account: S3 applies the stricter of the two levels
    account_public_access_block: PublicAccessBlock | None
    policy_is_public: bool | None  # GetBucketPolicyStatus.IsPublic; False when no policy
    policy: dict[str, object] | None  # parsed bucket policy document; None when none
    versioning: str | None  # "Enabled" | "Suspended" | "Disabled" (never configured)
    mfa_delete: str | None  # "Enabled" | "Disabled"
    encryption: list[str] | None  # SSE algorithms of the default encryption rules; [] if none
    logging_target: str | None  # target bucket, or None when logging is off
    object_ownership: str | None  # "BucketOwnerEnforced" | ...; None when not set
    # GetBucketAcl's grants; not read (absent) when object_ownership is BucketOwnerEnforced
    acl_grants: list[AclGrant] | None


class AclGrant(TypedDict):
    grantee: str  # a group's name (AllUsers, AuthenticatedUsers, LogDelivery), else its id/email
    type: str  # Group | CanonicalUser | AmazonCustomerByEmail
    permission: str  # READ | WRITE | READ_ACP | WRITE_ACP | FULL_CONTROL


# ---- s3.account (scope: global; one per account) ---------------------------------------------
class DataResource(TypedDict):
    type: str  # only AWS::S3::Object is kept
    values: list[str]  # e.g. ["arn:aws:s3"] (every bucket) or ["arn:aws:s3:::bucket/"]


class EventSelector(TypedDict):
    read_write_type: str  # All | ReadOnly | WriteOnly
    data_resources: list[DataResource]


class FieldSelector(TypedDict, total=False):
    field: str  # eventCategory | resources.type | readOnly | resources.ARN | eventName | ...
    equals: list[str]
    starts_with: list[str]
    ends_with: list[str]
    not_equals: list[str]
    not_starts_with: list[str]
    not_ends_with: list[str]


class AdvancedEventSelector(TypedDict):
    name: str | None
    field_selectors: list[FieldSelector]


class Trail(TypedDict, total=False):
    name: str
    arn: str
    home_region: str
    multi_region: bool
    organization: bool  # an organization trail (seen from a member account too)
    logging: bool | None  # GetTrailStatus.IsLogging; None: not read (single-region) or failed
    event_selectors: list[EventSelector] | None  # None: not read (single-region) or failed
    advanced_event_selectors: list[AdvancedEventSelector] | None
    unknown: dict[str, str]  # {"selectors" | "logging": error code}


class S3Account(TypedDict, total=False):
    public_access_block: PublicAccessBlock | None  # account level; all False when not set
    trails: list[Trail] | None  # DescribeTrails (includeShadowTrails): every trail it lists


# ---- ec2.* (scope: region) -------------------------------------------------------------------
class IpRule(TypedDict, total=False):
    protocol: str  # "-1" for all, "tcp", "udp", "icmp", ...
    from_port: int | None
    to_port: int | None
    ipv4: list[str]
    ipv6: list[str]
    groups: list[str]  # referenced security group ids
    prefix_lists: list[str]


class Ec2Instance(TypedDict, total=False):
    instance_id: str
    state: str  # pending | running | stopping | stopped | shutting-down (terminated: skipped)
    instance_type: str
    public_ip: str | None
    http_tokens: str | None  # MetadataOptions.HttpTokens: "required" | "optional"
    http_endpoint: str | None  # "enabled" | "disabled"
    metadata_state: str | None  # MetadataOptions.State: "applied" | "pending"
    security_groups: list[str]  # ids
    iam_instance_profile: str | None  # ARN
    vpc_id: str | None
    launched: str | None


class Ec2Volume(TypedDict, total=False):
    volume_id: str
    encrypted: bool
    kms_key_id: str | None
    size_gib: int
    state: str
    attached_to: list[str]  # instance ids


class Ec2SecurityGroup(TypedDict, total=False):
    group_id: str
    group_name: str
    vpc_id: str | None
    is_default: bool  # group_name == "default"
    ingress: list[IpRule]
    egress: list[IpRule]
    attached_instances: list[str]  # instance ids using the group (from DescribeInstances)


class Ec2EbsDefault(TypedDict, total=False):
    enabled: bool | None  # GetEbsEncryptionByDefault


class Ec2ImdsDefault(TypedDict, total=False):
    # GetInstanceMetadataDefaults' AccountLevel; "no-preference" where nothing is set
    http_tokens: str | None  # "required" | "optional" | "no-preference"
    http_endpoint: str | None  # "enabled" | "disabled" | "no-preference"
    hop_limit: int | None
    managed_by: str | None  # "account" | "declarative-policy"


class NaclEntry(TypedDict, total=False):
    rule_number: int  # 32767 is the final "*" rule
    action: str  # allow | deny
    protocol: str  # "-1" for all, "tcp", "udp", "icmp", "icmpv6", or a number
    from_port: int | None
    to_port: int | None
    cidr: str  # the IPv4 or IPv6 CIDR block


class Ec2NetworkAcl(TypedDict, total=False):
    network_acl_id: str
    vpc_id: str | None
    is_default: bool
    subnets: list[str]  # associated subnet ids (capped; subnet_count when cut)
    ingress: list[NaclEntry]
    egress: list[NaclEntry]


class FlowLog(TypedDict, total=False):
    id: str
    status: str  # FlowLogStatus: ACTIVE
    deliver_status: str | None  # DeliverLogsStatus: SUCCESS | FAILED
    traffic_type: str | None  # ACCEPT | REJECT | ALL
    destination_type: str | None  # cloud-watch-logs | s3 | kinesis-data-firehose


class Ec2Vpc(TypedDict, total=False):
    vpc_id: str
    is_default: bool
    state: str | None
    cidr_blocks: list[str]
    ipv6_cidr_blocks: list[str]
    flow_logs: list[FlowLog] | None  # the VPC's own flow logs (resource type VPC)


# ---- iam.* (scope: global; iam.access-analyzers: region) ----------------------------------------
# Credential attributes come from the credential report (IAM regenerates it at most every four
# hours): a user created since has them None with ``unknown: NotInCredentialReport``. Report
# markers: ``N/A`` / ``no_information`` / ``not_supported`` dates are None.
class AccessKey(TypedDict, total=False):
    slot: int  # 1 or 2: the report's access_key_<slot>_* columns
    status: str  # Active | Inactive (an inactive slot the report does not date is left out)
    last_rotated: str | None  # access_key_<slot>_last_rotated: when it was created or changed
    last_used: str | None  # access_key_<slot>_last_used_date; None when never used


class IamUser(TypedDict, total=False):
    user_name: str
    created: str | None
    groups: list[str]  # group names (GetAccountAuthorizationDetails), at most 20
    attached_policies: list[str]  # ARNs of managed policies attached to the user, at most 20
    attached_policies_count: int  # only when the list was cut
    inline_policies: list[str]  # names of the user's inline policies, at most 20
    inline_policies_count: int  # only when the list was cut
    credentials_as_of: str | None  # the credential report's GeneratedTime
    console_access: bool | None  # password_enabled
    password_last_used: str | None  # None: never used (no_information), or no password
    password_last_changed: str | None  # when the password was set; None without one
    mfa_active: bool | None
    access_keys: list[AccessKey] | None


class IamAccount(TypedDict, total=False):
    root_mfa_enabled: bool | None  # AccountSummary.AccountMFAEnabled
    root_access_keys_present: bool | None  # AccountSummary.AccountAccessKeysPresent
    root_password_present: bool | None  # AccountSummary.AccountPasswordPresent
    credentials_as_of: str | None  # the credential report's GeneratedTime
    root_password_last_used: str | None  # <root_account> row; None: never used
    root_access_key_1_last_used: str | None
    root_access_key_2_last_used: str | None
    root_virtual_mfa: bool | None  # a virtual MFA device is assigned to the root user
    support_policy_roles: list[str] | None  # roles with AWSSupportAccess attached, at most 20
    support_policy_users: list[str] | None
    support_policy_groups: list[str] | None


class IamPasswordPolicy(TypedDict, total=False):
    exists: bool  # False on NoSuchEntity
    minimum_length: int | None
    reuse_prevention: int | None
    require_symbols: bool | None
    require_numbers: bool | None
    require_uppercase: bool | None
    require_lowercase: bool | None
    max_age_days: int | None


class IamPolicy(TypedDict, total=False):
    """A customer-managed policy, or an AWS-managed one attached in the account (its ARN is
    AWS's: ``arn:aws:iam::aws:policy/<name>``)."""

    policy_name: str
    default_version: str
    attachment_count: int
    aws_managed: bool
    document: dict[str, object] | None  # the default version's document, parsed


class IamRole(TypedDict, total=False):
    role_name: str
    created: str | None
    trust_policy: dict[str, object] | None
    last_used: str | None


class IamServerCertificate(TypedDict, total=False):
    certificate_name: str
    certificate_id: str | None
    path: str | None
    expiration: str | None
    uploaded: str | None


class AccessAnalyzer(TypedDict, total=False):
    name: str
    type: str  # ACCOUNT | ORGANIZATION | ACCOUNT_UNUSED_ACCESS | ...
    status: str  # ACTIVE | CREATING | DISABLED | FAILED


class IamAccessAnalyzers(TypedDict, total=False):
    """One per enabled region (scope: the region)."""

    region: str
    analyzers: list[AccessAnalyzer] | None  # at most 50, active ones first
    analyzer_count: int  # only when the list was cut
