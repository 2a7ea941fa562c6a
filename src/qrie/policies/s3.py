"""S3 policies: buckets (``s3.bucket``) and the account's S3 settings (``s3.account``: account-level
Block Public Access and the CloudTrail trails that log S3 object-level events). Config keys are
those of ``qrie.inventory.schema``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from qrie.domain import Resource, Severity
from qrie.policies._public import public_statements
from qrie.policies._util import (
    as_list,
    policy_statements,
    require,
    statements_dropped,
    wildcard_match,
)
from qrie.policies.base import Verdict, needs, policy

BUCKET = frozenset({"s3.bucket"})
ACCOUNT = frozenset({"s3.account"})

PUBLIC_ACCESS_BLOCK_FLAGS: tuple[str, ...] = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
BUCKET_LEVEL, ACCOUNT_LEVEL = "public_access_block", "account_public_access_block"
# ACL grantees that are the public: anyone, and anyone with an AWS account.
PUBLIC_GROUPS = frozenset({"AllUsers", "AuthenticatedUsers"})
ACLS_DISABLED = "BucketOwnerEnforced"
# S3 object-level (data) events, and the selector values that mean "every bucket, current and
# future" (basic selectors: the ``arn:aws:s3`` prefix, with or without ``:::``).
S3_OBJECT = "AWS::S3::Object"
ALL_BUCKETS = re.compile(r"^arn:aws[a-z-]*:s3(:::)?$")
READ, WRITE = "read", "write"


def bucket_name(resource: Resource) -> str:
    """The bucket's name, from its ARN (``arn:aws:s3:::<bucket>``) or ``resource.name``."""
    _, sep, name = resource.arn.partition(":::")
    return name if sep and name else resource.name


# ---- Block Public Access: bucket and account level -----------------------------------------
def _flag(resource: Resource, level: str, flag: str) -> bool | None:
    settings = resource.config.get(level)
    if not isinstance(settings, dict):
        return None
    return settings.get(flag) is True


def effective_flag(resource: Resource, flag: str) -> tuple[bool | None, str]:
    """A Block Public Access flag as S3 applies it, the stricter of the bucket's and the
    account's setting: ``(True, "bucket" | "account")``, ``(False, "")`` when both are off, or
    ``(None, <level that could not be read>)``."""
    bucket, account = _flag(resource, BUCKET_LEVEL, flag), _flag(resource, ACCOUNT_LEVEL, flag)
    if bucket:
        return True, "bucket"
    if account:
        return True, "account"
    if bucket is None:
        return None, BUCKET_LEVEL
    if account is None:
        return None, ACCOUNT_LEVEL
    return False, ""


def _unread(resource: Resource, attribute: str) -> Verdict:
    """Why ``attribute`` holds no usable value, as an unknown verdict."""
    missing = require(resource, attribute)
    if missing is not None:
        return missing
    return Verdict.unknown(attribute, f"unexpected value {resource.config[attribute]!r}")


def _public_unless(resource: Resource, why: str, flag: str, effect: str = "") -> Verdict:
    """A public grant (``why``) is a violation unless the Block Public Access ``flag`` that
    neutralizes it is on at the bucket or the account level; unknown when that cannot be told."""
    on, level = effective_flag(resource, flag)
    if on:
        return Verdict.compliant(f"{why}, but {flag} is on ({level} level){effect}")
    if on is None:
        return _unread(resource, level)
    return Verdict.violation(why)


@policy(
    id="s3.public_access_block",
    resource_types=BUCKET,
    title="S3 bucket is not covered by all four Block Public Access settings",
    severity=Severity.HIGH,
    remediation=(
        "Console: S3 > Block Public Access settings for this account > Edit > Block all public "
        "access > Save (or, per bucket: the bucket > Permissions > Block public access > Edit). "
        "CLI: aws s3control put-public-access-block --account-id <account> "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,"
        "BlockPublicPolicy=true,RestrictPublicBuckets=true (or aws s3api "
        "put-public-access-block --bucket <bucket> with the same four settings)."
    ),
)
def public_access_block(resource: Resource, _now: datetime) -> Verdict | None:
    """Block Public Access must be on for the bucket: each of the four settings
    (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets) on at the
    bucket level or at the account level (``s3control:GetPublicAccessBlock``).

    S3 applies the stricter of the two, so a bucket whose settings are off but whose account
    turns all four on is protected and compliant; a setting off at both levels is a violation
    (a level that was never configured counts as all off). When a setting is off at one level
    and the other level could not be read, the verdict is unknown.

    Rationale: Block Public Access overrides any policy or ACL that would make the bucket
    public, so a later mistake in either cannot expose its data."""
    off: list[str] = []
    unread: str | None = None
    levels: dict[str, list[str]] = {"bucket": [], "account": []}
    for flag in PUBLIC_ACCESS_BLOCK_FLAGS:
        value, level = effective_flag(resource, flag)
        if value is False:
            off.append(flag)
        elif value is None:
            unread = unread or level
        else:
            levels[level].append(flag)
    if off:
        return Verdict.violation("off at both the bucket and the account level: " + ", ".join(off))
    if unread is not None:
        return _unread(resource, unread)
    on = "; ".join(f"{', '.join(flags)} ({level})" for level, flags in levels.items() if flags)
    return Verdict.compliant(f"all four settings on: {on}")


@policy(
    id="s3.public_bucket_policy",
    resource_types=BUCKET,
    title="S3 bucket is public through its bucket policy",
    severity=Severity.CRITICAL,
    remediation=(
        "Console: the bucket > Permissions > Bucket policy > Edit: remove or restrict (with a "
        "condition such as aws:SourceVpce or aws:PrincipalOrgID) the statements that allow "
        "Principal '*'; then turn on Block Public Access (BlockPublicPolicy, "
        "RestrictPublicBuckets). CLI: aws s3api put-bucket-policy --bucket <bucket> --policy "
        "file://policy.json, then aws s3api put-public-access-block --bucket <bucket> "
        "--public-access-block-configuration BlockPublicPolicy=true,RestrictPublicBuckets=true,"
        "BlockPublicAcls=true,IgnorePublicAcls=true."
    ),
)
def public_bucket_policy(resource: Resource, _now: datetime) -> Verdict | None:
    """The bucket policy must not give the public access to the bucket.

    A policy is public by AWS's definition (``qrie.policies._public``): an ``Allow`` to ``"*"``,
    a wildcard principal or a ``NotPrincipal``, without a condition that pins the caller down
    (``aws:SourceIp`` ranges short of the whole Internet, ``aws:SourceVpc(e)``,
    ``aws:PrincipalOrgID``, ``aws:SourceAccount``, ``aws:PrincipalAccount``, ...), or when
    GetBucketPolicyStatus says ``IsPublic``. A public policy is still compliant when
    RestrictPublicBuckets is on at the bucket or account level: S3 then lets only AWS services
    and the bucket owner's account use it. Not a CIS v3.0/v5.0 control: best practice beyond
    the benchmark.

    Rationale: a policy that grants anyone access lets every internet user read, list or change
    the bucket's objects, the most common cause of S3 data leaks."""
    if missing := needs(resource, "policy"):
        return missing
    document = resource.config["policy"]
    if document is None:
        return Verdict.compliant("policy=None (no bucket policy)")
    aws_says = resource.config.get("policy_is_public")
    grants = public_statements(document)
    if grants is None and aws_says is not True:
        return Verdict.unknown("policy", "document is not a JSON policy")
    if grants:
        why = (
            f"policy.Statement[{', '.join(grants)}] allow everyone without a restricting condition"
        )
    elif aws_says is True:
        why = "GetBucketPolicyStatus reports the policy public (policy_is_public=True)"
    elif statements_dropped(resource, "policy") and aws_says is not False:
        dropped = statements_dropped(resource, "policy")
        return Verdict.unknown("policy", f"{dropped} statement(s) dropped from an over-size policy")
    else:
        return Verdict.compliant(
            "no statement allows everyone without a restricting condition "
            f"(policy_is_public={aws_says!r})"
        )
    return _public_unless(
        resource,
        why,
        "RestrictPublicBuckets",
        ": only AWS services and the bucket owner's account can use it",
    )


@policy(
    id="s3.public_bucket_acl",
    resource_types=BUCKET,
    title="S3 bucket is public through its access control list",
    severity=Severity.CRITICAL,
    remediation=(
        "Console: the bucket > Permissions > Object Ownership > Edit > ACLs disabled (Bucket "
        "owner enforced), or Access control list > Edit: remove the Everyone and Authenticated "
        "users groups; and turn on Block Public Access. CLI: aws s3api "
        "put-bucket-ownership-controls --bucket <bucket> --ownership-controls "
        "'Rules=[{ObjectOwnership=BucketOwnerEnforced}]' (or aws s3api put-bucket-acl --bucket "
        "<bucket> --acl private)."
    ),
)
def public_bucket_acl(resource: Resource, _now: datetime) -> Verdict | None:
    """The bucket ACL (GetBucketAcl) must grant nothing to the ``AllUsers`` (everyone) or
    ``AuthenticatedUsers`` (anyone with an AWS account) groups.

    Compliant without reading the ACL when ACLs are disabled (Object Ownership
    ``BucketOwnerEnforced``: S3 ignores them); a public grant is compliant when
    IgnorePublicAcls is on at the bucket or the account level (S3 ignores public ACLs then).
    Not a CIS v3.0/v5.0 control: best practice beyond the benchmark.

    Rationale: an ACL grant to AllUsers or AuthenticatedUsers opens the bucket to every
    internet user (or every AWS account), bypassing its bucket policy."""
    if resource.config.get("object_ownership") == ACLS_DISABLED:
        return Verdict.compliant(f"object_ownership={ACLS_DISABLED!r} (ACLs are disabled)")
    if missing := require(resource, "acl_grants"):
        return missing
    public = [
        f"{grant.get('permission')} to {grant.get('grantee')}"
        for grant in as_list(resource.config["acl_grants"])
        if isinstance(grant, dict) and grant.get("grantee") in PUBLIC_GROUPS
    ]
    if not public:
        return Verdict.compliant("acl_grants: nothing granted to AllUsers or AuthenticatedUsers")
    return _public_unless(resource, f"acl_grants: {', '.join(public)}", "IgnorePublicAcls")


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

    Rationale: default encryption makes every new object encrypted at rest without relying on
    each writer to ask for it."""
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

    Rationale: versions let you recover objects that were overwritten or deleted, by mistake or
    by ransomware."""
    if missing := require(resource, "versioning"):
        return missing
    status = resource.config["versioning"]
    if status != "Enabled":
        return Verdict.violation(f"versioning={status!r}")
    return Verdict.compliant("versioning='Enabled'")


@policy(
    id="s3.mfa_delete",
    resource_types=BUCKET,
    title="S3 bucket does not have versioning with MFA delete enabled",
    severity=Severity.LOW,
    remediation=(
        "Console: not possible (MFA delete is set through the API only). CLI, as the root user "
        "with its MFA device: aws s3api put-bucket-versioning --bucket <bucket> "
        "--versioning-configuration Status=Enabled,MFADelete=Enabled --mfa "
        "'arn:aws:iam::<account>:mfa/root-account-mfa-device <code>'."
    ),
)
def mfa_delete(resource: Resource, _now: datetime) -> Verdict | None:
    """Versioning must be ``Enabled`` and MFA delete ``Enabled`` (GetBucketVersioning), as the
    benchmark's audit requires both.

    A bucket that was never versioned fails (MFA delete cannot be on without versioning), and
    so does a suspended one: it keeps its versions but MFA delete no longer guards new ones.

    Rationale: with MFA delete, permanently deleting a version or turning versioning off needs
    the root user's MFA code, so stolen credentials alone cannot destroy the bucket's history."""
    if missing := require(resource, "versioning"):
        return missing
    status = resource.config["versioning"]
    if status != "Enabled":
        return Verdict.violation(f"versioning={status!r} (MFA delete needs versioning Enabled)")
    if missing := require(resource, "mfa_delete"):
        return missing
    mfa = resource.config["mfa_delete"]
    if mfa != "Enabled":
        return Verdict.violation(f"mfa_delete={mfa!r} (versioning='Enabled')")
    return Verdict.compliant("mfa_delete='Enabled' (versioning='Enabled')")


# ---- TLS only -------------------------------------------------------------------------------
def _is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _is_everyone(principal: object) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in as_list(principal.get("AWS"))
    return False


def _holds_for_http(operator: str, key: str, values: list[Any]) -> bool:
    """Whether ``operator: {key: values}`` is true for every request made without TLS.

    Such a request carries ``aws:SecureTransport=false`` and no ``s3:TlsVersion`` at all: a
    plain ``NumericLessThan`` on the TLS version does not match it (a missing key fails the
    test), an ``...IfExists`` one does, and so does ``Null: {"s3:TlsVersion": true}``.
    """
    op, key = operator.lower(), key.lower()
    if key == "aws:securetransport":
        return op in ("bool", "boolifexists") and any(_is_false(v) for v in values)
    if key == "s3:tlsversion":
        if op == "null":
            return any(_is_true(v) for v in values)
        return op.startswith("numeric") and op.endswith("ifexists")
    return False


def _denies_every_http_request(condition: object) -> bool:
    """The condition holds for every request made without TLS, whatever else the request is
    (each of its tests does; a test on any other key narrows the Deny)."""
    if not isinstance(condition, dict) or not condition:
        return False
    tests = [
        (str(operator), str(key), as_list(value))
        for operator, keys in condition.items()
        for key, value in (keys.items() if isinstance(keys, dict) else [(None, None)])
    ]
    return all(_holds_for_http(op, key, values) for op, key, values in tests)


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
    return _denies_every_http_request(statement.get("Condition"))


@policy(
    id="s3.tls_only",
    resource_types=BUCKET,
    title="S3 bucket policy does not deny HTTP (non-TLS) requests",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: the bucket > Permissions > Bucket policy > Edit: add a statement with Effect "
        "Deny, Principal '*', Action 's3:*', Resource 'arn:aws:s3:::<bucket>' and "
        "'arn:aws:s3:::<bucket>/*', Condition "
        '{"Bool": {"aws:SecureTransport": "false"}}. CLI: aws s3api get-bucket-policy --bucket '
        "<bucket> --query Policy --output text > policy.json, add the statement, then aws s3api "
        "put-bucket-policy --bucket <bucket> --policy file://policy.json."
    ),
)
def tls_only(resource: Resource, _now: datetime) -> Verdict | None:
    """The bucket policy must deny every request made without TLS.

    Compliant only with a statement that has Effect ``Deny``, Principal ``*`` (or
    ``{"AWS": "*"}``), Action ``s3:*`` or ``*``, a Resource covering ``arn:aws:s3:::<bucket>/*``
    (IAM wildcards ``*`` and ``?`` allowed) and a condition every plain-HTTP request meets:
    ``{"Bool" | "BoolIfExists": {"aws:SecureTransport": false}}`` (str, bool or a list holding
    false), ``{"NumericLessThanIfExists": {"s3:TlsVersion": ...}}`` or
    ``{"Null": {"s3:TlsVersion": true}}``. A plain ``NumericLessThan`` on ``s3:TlsVersion``
    (CIS v5.0's second example) does not deny HTTP: a request without TLS has no TLS version,
    and a test on a missing key is false. A condition with tests on further keys narrows the
    Deny and does not count. No bucket policy at all is non-compliant. When the collector had
    to drop statements from an over-size policy and none of the kept ones qualifies, the
    verdict is unknown.

    Rationale: denying requests without TLS keeps the bucket's data and credentials from
    crossing the network in clear text."""
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
                "to every request without TLS (aws:SecureTransport=false)"
            )
    if dropped := statements_dropped(resource, "policy"):
        return Verdict.unknown("policy", f"{dropped} statement(s) dropped from an over-size policy")
    return Verdict.violation(
        f"policy has no Deny statement for aws:SecureTransport=false covering "
        f"arn:aws:s3:::{bucket}/*"
    )


# ---- object-level logging (CloudTrail data events) -------------------------------------------
def _basic_selector_logs(selector: dict[str, Any], direction: str) -> str | None:
    kind = selector.get("read_write_type", "All")
    if kind not in ("All", "ReadOnly" if direction == READ else "WriteOnly"):
        return None
    for resource in as_list(selector.get("data_resources")):
        if not isinstance(resource, dict) or resource.get("type") != S3_OBJECT:
            continue
        for value in as_list(resource.get("values")):
            if isinstance(value, str) and ALL_BUCKETS.match(value):
                return f"event selector ReadWriteType={kind}, {S3_OBJECT} {value}"
    return None


def _advanced_selector_logs(selector: dict[str, Any], direction: str) -> str | None:
    """The selector logs every S3 object event of ``direction`` in every bucket: data events of
    ``AWS::S3::Object``, at most a ``readOnly`` and an all-buckets ``resources.ARN`` prefix
    beside them (any other field, or a negated test, narrows it)."""
    fields: dict[str, dict[str, Any]] = {}
    for field in as_list(selector.get("field_selectors")):
        if isinstance(field, dict) and isinstance(field.get("field"), str):
            fields[field["field"]] = field
    if set(fields) - {"eventCategory", "resources.type", "readOnly", "resources.ARN"}:
        return None
    tests = {
        field: {k for k, v in test.items() if k != "field" and v} for field, test in fields.items()
    }
    if any(keys - {"equals", "starts_with"} for keys in tests.values()):
        return None

    def equals(field: str) -> list[Any]:
        return as_list(fields.get(field, {}).get("equals"))

    if equals("eventCategory") != ["Data"] or equals("resources.type") != [S3_OBJECT]:
        return None
    if "readOnly" in fields:
        wanted = "true" if direction == READ else "false"
        if [str(v).lower() for v in equals("readOnly")] != [wanted]:
            return None
    if "resources.ARN" in fields:
        arn = fields["resources.ARN"]
        prefixes = as_list(arn.get("starts_with"))
        if arn.get("equals") or not any(
            isinstance(p, str) and ALL_BUCKETS.match(p) for p in prefixes
        ):
            return None
    return f"advanced event selector {selector.get('name') or '(unnamed)'!r}"


def _trail_logs(trail: dict[str, Any], direction: str) -> tuple[bool | None, str]:
    """Whether one trail logs S3 object-level ``direction`` events of every bucket in every
    region: ``(True, how)``, ``(False, why not)``, or ``(None, what could not be read)``."""
    name = f"trail {trail.get('name')!r}"
    raw_unknown = trail.get("unknown")
    unknown: dict[str, Any] = raw_unknown if isinstance(raw_unknown, dict) else {}
    if trail.get("multi_region") is not True:
        return False, f"{name} is single-region"
    basic, advanced = trail.get("event_selectors"), trail.get("advanced_event_selectors")
    if basic is None or advanced is None:
        reason = unknown.get("selectors", "not collected")
        return None, f"{name} event selectors could not be read: {reason}"
    how = next(
        (
            found
            for selector in as_list(basic)
            if isinstance(selector, dict) and (found := _basic_selector_logs(selector, direction))
        ),
        None,
    ) or next(
        (
            found
            for selector in as_list(advanced)
            if isinstance(selector, dict)
            and (found := _advanced_selector_logs(selector, direction))
        ),
        None,
    )
    if how is None:
        return False, f"{name} logs no S3 object-level {direction} events for all buckets"
    logging = trail.get("logging")
    if logging is None:
        return (
            None,
            f"{name} logging status could not be read: {unknown.get('logging', 'not collected')}",
        )
    if logging is not True:
        return False, f"{name} has {how} but is not logging (stopped)"
    return True, f"{name} (multi-region, logging) has {how}"


def _object_logging(resource: Resource, direction: str) -> Verdict:
    if missing := require(resource, "trails"):
        return missing
    results = [
        _trail_logs(trail, direction)
        for trail in as_list(resource.config["trails"])
        if isinstance(trail, dict)
    ]
    for logs, how in results:
        if logs:
            return Verdict.compliant(how)
    unread = [how for logs, how in results if logs is None]
    if unread:
        return Verdict.unknown("trails", "; ".join(unread))
    if not results:
        return Verdict.violation("no CloudTrail trail (trails=[])")
    return Verdict.violation(
        f"no multi-region, logging trail records S3 object-level {direction} events for all "
        "current and future buckets: " + "; ".join(how for _, how in results)
    )


@policy(
    id="s3.object_write_logging",
    resource_types=ACCOUNT,
    title="S3 object-level write events are not logged by a multi-region CloudTrail trail",
    severity=Severity.MEDIUM,
    remediation=(
        "Console: CloudTrail > Trails > a multi-region trail > Data events > Edit > Add data "
        "event type S3, Log selector template 'Log all events' (or 'Log writeOnly events') > "
        "Save. CLI: aws cloudtrail put-event-selectors --trail-name <trail> --region <home "
        'region> --advanced-event-selectors \'[{"Name":"S3 data events","FieldSelectors":'
        '[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type",'
        '"Equals":["AWS::S3::Object"]}]}]\' (a trail created with aws cloudtrail create-trail '
        "--is-multi-region-trail and started with aws cloudtrail start-logging)."
    ),
)
def object_write_logging(resource: Resource, _now: datetime) -> Verdict | None:
    """A multi-region trail that is logging must record S3 object-level write events
    (PutObject, DeleteObject, ...) for all current and future buckets of the account.

    A basic event selector counts with ReadWriteType ``All`` or ``WriteOnly`` and an
    ``AWS::S3::Object`` data resource of ``arn:aws:s3`` (every bucket); an advanced one with
    ``eventCategory = Data``, ``resources.type = AWS::S3::Object``, ``readOnly`` absent or
    ``false`` and no other field but an all-buckets ``resources.ARN`` prefix (the "Log all
    events" template). Selectors naming some buckets, single-region trails and stopped trails
    do not count. Organization trails seen from a member account count like the account's own.
    Unknown when no trail qualifies and a multi-region trail's selectors or status could not be
    read.

    Rationale: object-level write events in CloudTrail record who changed or deleted which
    object, evidence for an investigation that bucket-level events do not give."""
    return _object_logging(resource, WRITE)


@policy(
    id="s3.object_read_logging",
    resource_types=ACCOUNT,
    title="S3 object-level read events are not logged by a multi-region CloudTrail trail",
    severity=Severity.LOW,
    remediation=(
        "Console: CloudTrail > Trails > a multi-region trail > Data events > Edit > Add data "
        "event type S3, Log selector template 'Log all events' (or 'Log readOnly events') > "
        "Save. CLI: aws cloudtrail put-event-selectors --trail-name <trail> --region <home "
        'region> --advanced-event-selectors \'[{"Name":"S3 data events","FieldSelectors":'
        '[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type",'
        '"Equals":["AWS::S3::Object"]}]}]\'.'
    ),
)
def object_read_logging(resource: Resource, _now: datetime) -> Verdict | None:
    """A multi-region trail that is logging must record S3 object-level read events
    (GetObject, ...) for all current and future buckets of the account.

    As ``s3.object_write_logging``, with ReadWriteType ``All`` or ``ReadOnly`` (basic
    selectors) and ``readOnly`` absent or ``true`` (advanced selectors).

    Rationale: object-level read events in CloudTrail record who read which object, the
    evidence needed to scope a data exfiltration."""
    return _object_logging(resource, READ)
