"""S3 bucket policies (resource type ``s3.bucket``; config keys in ``qrie.inventory.schema``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._util import (
    as_list,
    policy_statements,
    require,
    statements_dropped,
    wildcard_match,
)
from qrie.policies.base import Verdict, needs, policy

BUCKET = frozenset({"s3.bucket"})

PUBLIC_ACCESS_BLOCK_FLAGS: tuple[str, ...] = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
# Versioning states in which a bucket holds object versions that MFA delete protects.
VERSIONED_STATES = frozenset({"Enabled", "Suspended"})
SECURE_TRANSPORT_OPERATORS = frozenset({"Bool", "BoolIfExists"})


def bucket_name(resource: Resource) -> str:
    """The bucket's name, from its ARN (``arn:aws:s3:::<bucket>``) or ``resource.name``."""
    _, sep, name = resource.arn.partition(":::")
    return name if sep and name else resource.name


@policy(
    id="s3.public_access_block",
    resource_types=BUCKET,
    title="S3 bucket does not have all four Block Public Access settings enabled",
    severity=Severity.HIGH,
    remediation=(
        "Turn on all four Block Public Access settings for the bucket "
        "(aws s3api put-public-access-block --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
        "RestrictPublicBuckets=true). Prefer enabling them at the account level too."
    ),
)
def public_access_block(resource: Resource, _now: datetime) -> Verdict | None:
    """All four bucket-level Block Public Access flags must be True (a missing flag counts as
    off). Account-level Block Public Access is not read."""
    if missing := require(resource, "public_access_block"):
        return missing
    pab = resource.config["public_access_block"]
    if not isinstance(pab, dict):
        return Verdict.unknown("public_access_block", f"unexpected value {pab!r}")
    off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if pab.get(flag) is not True]
    if off:
        return Verdict.violation(
            ", ".join(f"public_access_block.{flag}={pab.get(flag)!r}" for flag in off)
        )
    return Verdict.compliant("public_access_block: all four flags True")


@policy(
    id="s3.public_bucket_policy",
    resource_types=BUCKET,
    title="S3 bucket is public through its bucket policy",
    severity=Severity.CRITICAL,
    remediation=(
        "Remove the statements that grant access to Principal '*' without a restricting "
        "condition, then enable Block Public Access (BlockPublicPolicy, "
        "RestrictPublicBuckets) so it cannot happen again."
    ),
)
def public_bucket_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """GetBucketPolicyStatus must not report the bucket as public.

    Not a CIS v3.0/v5.0 control: best practice beyond the benchmark.
    """
    if missing := require(resource, "policy_is_public"):
        return missing
    if resource.config["policy_is_public"] is True:
        return Verdict.violation("policy_is_public=True")
    return Verdict.compliant(f"policy_is_public={resource.config['policy_is_public']!r}")


@policy(
    id="s3.default_encryption",
    resource_types=BUCKET,
    title="S3 bucket has no default encryption configured",
    severity=Severity.MEDIUM,
    remediation=(
        "Configure default encryption on the bucket with SSE-S3 or SSE-KMS "
        "(aws s3api put-bucket-encryption)."
    ),
)
def default_encryption(resource: Resource, _now: datetime) -> Verdict | None:
    """Default encryption is on when the bucket has at least one SSE rule.

    Not a CIS v3.0/v5.0 control: S3 default encryption was CIS v1.5 2.1.1 and left the
    benchmark in v2.0, once S3 encrypted every new object by default.
    """
    if missing := require(resource, "encryption"):
        return missing
    algorithms = as_list(resource.config["encryption"])
    if not algorithms:
        return Verdict.violation("encryption=[] (no default encryption rule)")
    return Verdict.compliant(f"encryption={algorithms!r}")


@policy(
    id="s3.versioning",
    resource_types=BUCKET,
    title="S3 bucket versioning is not enabled",
    severity=Severity.MEDIUM,
    remediation=(
        "Enable versioning on the bucket (aws s3api put-bucket-versioning "
        "--versioning-configuration Status=Enabled) and add a lifecycle rule that expires "
        "noncurrent versions."
    ),
)
def versioning(resource: Resource, _now: datetime) -> Verdict | None:
    """Versioning must be "Enabled" ("Suspended" and "Disabled" fail).

    Not a CIS v3.0/v5.0 control: best practice beyond the benchmark.
    """
    if missing := require(resource, "versioning"):
        return missing
    status = resource.config["versioning"]
    if status != "Enabled":
        return Verdict.violation(f"versioning={status!r}")
    return Verdict.compliant("versioning='Enabled'")


@policy(
    id="s3.mfa_delete",
    resource_types=BUCKET,
    title="S3 bucket with versioning does not have MFA delete enabled",
    severity=Severity.LOW,
    remediation=(
        "As the root user with an MFA device, run aws s3api put-bucket-versioning "
        "--versioning-configuration Status=Enabled,MFADelete=Enabled --mfa '<serial> <code>'."
    ),
)
def mfa_delete(resource: Resource, _now: datetime) -> Verdict | None:
    """MFA delete must be on for buckets that hold versions (versioning Enabled or Suspended).

    Not applicable (None) to a bucket whose versioning was never configured: MFA delete cannot be
    enabled without versioning, and ``s3.versioning`` reports that bucket instead.
    """
    if missing := require(resource, "versioning"):
        return missing
    status = resource.config["versioning"]
    if status not in VERSIONED_STATES:
        return None
    if missing := require(resource, "mfa_delete"):
        return missing
    mfa = resource.config["mfa_delete"]
    if mfa != "Enabled":
        return Verdict.violation(f"mfa_delete={mfa!r} (versioning={status!r})")
    return Verdict.compliant(f"mfa_delete='Enabled' (versioning={status!r})")


def _is_everyone(principal: object) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in as_list(principal.get("AWS"))
    return False


def _is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _denies_when_insecure(condition: object) -> bool:
    """True when the condition is exactly ``{"Bool": {"aws:SecureTransport": "false"}}`` (or
    ``BoolIfExists``; the value may be a str, a bool, or a list containing false). A condition
    with further operators or keys narrows the Deny, so it does not count."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    ((operator, tests),) = condition.items()
    if operator not in SECURE_TRANSPORT_OPERATORS or not isinstance(tests, dict):
        return False
    if len(tests) != 1:
        return False
    ((key, value),) = tests.items()
    return str(key).lower() == "aws:securetransport" and any(_is_false(v) for v in as_list(value))


def _statement_denies_http(statement: dict[str, Any], bucket: str) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    if any(key in statement for key in ("NotPrincipal", "NotAction", "NotResource")):
        return False
    if not _is_everyone(statement.get("Principal")):
        return False
    actions = [str(action).lower() for action in as_list(statement.get("Action"))]
    if not any(action in ("s3:*", "*") for action in actions):
        return False
    objects = f"arn:aws:s3:::{bucket}/*"
    resources = as_list(statement.get("Resource"))
    if not any(isinstance(r, str) and wildcard_match(r, objects) for r in resources):
        return False
    return _denies_when_insecure(statement.get("Condition"))


@policy(
    id="s3.tls_only",
    resource_types=BUCKET,
    title="S3 bucket policy does not deny HTTP (non-TLS) requests",
    severity=Severity.MEDIUM,
    remediation=(
        "Add a bucket policy statement with Effect Deny, Principal '*', Action 's3:*', "
        "Resource the bucket and 'arn:aws:s3:::<bucket>/*', and Condition "
        '{"Bool": {"aws:SecureTransport": "false"}}.'
    ),
)
def tls_only(resource: Resource, _now: datetime) -> Verdict | None:
    """The bucket policy must deny every request made without TLS.

    Compliant only with a statement that has Effect ``Deny``, Principal ``*`` (or
    ``{"AWS": "*"}``), Action ``s3:*`` or ``*``, a Resource covering ``arn:aws:s3:::<bucket>/*``
    (IAM wildcards ``*`` and ``?`` allowed) and exactly the condition
    ``{"Bool" | "BoolIfExists": {"aws:SecureTransport": false}}`` (str, bool or a list holding
    false). A condition with further keys or operators narrows the Deny and does not count.
    No bucket policy at all is non-compliant. When the collector had to drop statements from an
    over-size policy and none of the kept ones qualifies, the verdict is unknown.
    """
    if missing := needs(resource, "policy"):
        return missing
    document = resource.config["policy"]
    if document is None:
        return Verdict.violation("policy=None (no bucket policy denies HTTP requests)")
    statements = policy_statements(document)
    if statements is None:
        return Verdict.unknown("policy", "document is not a JSON policy")
    bucket = bucket_name(resource)
    for index, statement in enumerate(statements):
        if _statement_denies_http(statement, bucket):
            label = statement.get("Sid") or index
            return Verdict.compliant(
                f"policy.Statement[{label}] denies s3:* on arn:aws:s3:::{bucket}/* "
                "when aws:SecureTransport=false"
            )
    if dropped := statements_dropped(resource, "policy"):
        return Verdict.unknown("policy", f"{dropped} statement(s) dropped from an over-size policy")
    return Verdict.violation(
        f"policy has no Deny statement for aws:SecureTransport=false covering "
        f"arn:aws:s3:::{bucket}/*"
    )
