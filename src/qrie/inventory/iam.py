"""IAM inventory (scopes: ``global``, and each enabled region for IAM Access Analyzer; every
call, its IAM action and count: :data:`CALLS`).

``global``, in this order: one ``iam.account`` (GetAccountSummary; the credential report's
``<root_account>`` row; whether a virtual MFA device is the root user's; the entities the
``AWSSupportAccess`` policy is attached to), one ``iam.password-policy``, ``iam.user`` per user,
``iam.policy`` per customer-managed policy and per AWS-managed policy attached in the account,
``iam.role`` per role and ``iam.server-certificate`` per certificate stored in IAM. Per enabled
region (the EC2 collector's scopes: the job's regions the account has enabled): one
``iam.access-analyzers`` listing that region's analyzers. Config shapes: qrie.inventory.schema.

Users cost a constant number of calls, whatever their number: their credentials (password,
MFA, both access keys, with their dates) come from the credential report
(GenerateCredentialReport, polled until COMPLETE, then GetCredentialReport: one CSV for the whole
account, parsed by :mod:`qrie.inventory._credential_report`), and their groups and directly
attached and inline policies from GetAccountAuthorizationDetails, 1,000 users a page. IAM
regenerates the report at most every four hours: a user created since is unknown
(``NotInCredentialReport``) until the next one, never judged on no data.

Listing calls (GetAccountAuthorizationDetails, ListPolicies, ListRoles, ListServerCertificates)
raise on failure so the scope is not swept; every other read that fails is recorded in
``config["unknown"]`` (a credential report that cannot be read makes every user's credentials
unknown). A report still not ready after :data:`REPORT_WAIT_SECONDS` fails the scope as
transient: the task is retried, and IAM has finished the report by then.

This module also holds the policy-document helpers (IAM policy language) that the S3 collector
uses for bucket policies.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from qrie.aws import TRANSIENT_CODES, error_code
from qrie.domain import GLOBAL, Resource
from qrie.errors import TransientTaskError
from qrie.inventory._credential_report import CredentialReport
from qrie.inventory.base import (
    GlobalCollector,
    Session,
    iso,
    member_resource,
    paginate,
    read_attribute,
    same_unknown,
)
from qrie.inventory.calls import AwsCall, CallSheet
from qrie.inventory.ec2 import COLLECTOR as EC2_COLLECTOR

SERVICE = "iam"
PARTITION = "aws"
IAM_REGION = "us-east-1"  # IAM is global; its endpoint for the aws partition lives here
DEFAULT_PAGE_SIZE = 1000  # IAM's MaxItems upper bound
POLICY_THREADS = 8  # AWS-managed policy documents read concurrently (GlobalCollector.concurrently)

NO_SUCH_ENTITY = frozenset({"NoSuchEntity"})
UNPARSEABLE_DOCUMENT = "UnparseableDocument"
NOT_LISTED = "NotReturnedByListRoles"
NOT_RETURNED = "NotReturned"
SUPPORT_POLICY = "AWSSupportAccess"
ROOT_MFA_SERIAL = "mfa/root-account-mfa-device"  # the serial the console gives a root device
# GetCredentialReport's answers while a report is being (re)generated: generate again.
REPORT_NOT_READY = frozenset({"ReportInProgress", "ReportNotPresent", "ReportExpired"})
REPORT_WAIT_SECONDS = 90.0  # then the scope fails as transient and the task is retried
REPORT_FIRST_POLL_SECONDS = 0.1
REPORT_MAX_POLL_SECONDS = 5.0
MAX_LISTED = 20  # names kept per list on a config (users, roles, ...): items stay small
MAX_ANALYZERS = 50

CALLS = CallSheet(
    scope="scope `global`, and one per enabled region (Access Analyzer)",
    notation=(
        "`U` users, `P` customer-managed policies, `A` AWS-managed policies attached in the "
        "account, `L` roles, `C` server certificates, `V` assigned virtual MFA devices, `R` "
        "enabled regions, `W` polls of the credential report until it is ready"
    ),
    calls=(
        AwsCall(
            "GetAccountSummary",
            "iam:GetAccountSummary",
            "1",
            "→ `iam.account`: root MFA, root keys, root password present",
        ),
        AwsCall(
            "GenerateCredentialReport",
            "iam:GenerateCredentialReport",
            "1 + W",
            f"polled (backoff {REPORT_FIRST_POLL_SECONDS:g} s doubling to "
            f"{REPORT_MAX_POLL_SECONDS:g} s) until `COMPLETE`, at most "
            f"{REPORT_WAIT_SECONDS:g} s; IAM keeps a report four hours, so usually `COMPLETE` "
            "at once",
        ),
        AwsCall(
            "GetCredentialReport",
            "iam:GetCredentialReport",
            "1",
            "every user's password, MFA and access keys, and the `<root_account>` row",
        ),
        AwsCall(
            "ListVirtualMFADevices",
            "iam:ListVirtualMFADevices",
            f"⌈V/{DEFAULT_PAGE_SIZE}⌉ at most",
            "`AssignmentStatus=Assigned`; stops at the root user's device",
        ),
        AwsCall(
            "ListEntitiesForPolicy",
            "iam:ListEntitiesForPolicy",
            "1",
            f"`{SUPPORT_POLICY}`: the roles, users and groups it is attached to",
        ),
        AwsCall(
            "GetAccountPasswordPolicy",
            "iam:GetAccountPasswordPolicy",
            "1",
            "`NoSuchEntity` → `exists: False`",
        ),
        AwsCall(
            "GetAccountAuthorizationDetails",
            "iam:GetAccountAuthorizationDetails",
            f"⌈U/{DEFAULT_PAGE_SIZE}⌉ + ⌈P/{DEFAULT_PAGE_SIZE}⌉",
            "`Filter=User`: groups, attached and inline policies; `Filter=LocalManagedPolicy`: "
            "customer-managed policies with their documents",
            listing=True,
        ),
        AwsCall(
            "ListPolicies",
            "iam:ListPolicies",
            f"⌈A/{DEFAULT_PAGE_SIZE}⌉",
            "`Scope=AWS, OnlyAttached=True`: the AWS-managed policies in use",
            listing=True,
        ),
        AwsCall("GetPolicyVersion", "iam:GetPolicyVersion", "A", "their default version"),
        AwsCall(
            "ListRoles",
            "iam:ListRoles",
            f"⌈L/{DEFAULT_PAGE_SIZE}⌉",
            "no GetRole per role",
            listing=True,
        ),
        AwsCall(
            "ListServerCertificates",
            "iam:ListServerCertificates",
            f"⌈C/{DEFAULT_PAGE_SIZE}⌉",
            listing=True,
        ),
        AwsCall(
            "DescribeRegions",
            "ec2:DescribeRegions",
            "1 (+1 per disabled region tried first)",
            "the EC2 collector's scopes: the job's regions the account has enabled",
        ),
        AwsCall(
            "ListAnalyzers",
            "access-analyzer:ListAnalyzers",
            "R",
            "→ `iam.access-analyzers` per region; denied → `analyzers` unknown",
            client="accessanalyzer",
        ),
    ),
    total=(
        "`7 + W + ⌈U/1000⌉ + ⌈P/1000⌉ + ⌈A/1000⌉ + A + ⌈L/1000⌉ + ⌈C/1000⌉ + R` (the 7: "
        "summary, report generation and download, virtual MFA devices, support policy "
        "entities, password policy, regions): no call per user. Example: 5,000 users, 80 "
        "customer policies, 6 AWS-managed policies in use, 300 roles, 17 regions, a report "
        "ready at once → 7 + 5 + 1 + 1 + 6 + 1 + 1 + 17 = 39 calls, where reading each user "
        "made `3·U + K` (over 15,000; bench/iam_calls.py measures both). The AWS-managed "
        f"documents are read {POLICY_THREADS} at a time; throttling is absorbed by the "
        "standard retry mode."
    ),
)

# ---- policy documents --------------------------------------------------------------------------
MAX_DOCUMENT_BYTES = 8 * 1024
REDACTED = "<redacted>"
SECRET_CONDITION_KEY = re.compile(
    r"externalid|secret|password|passphrase|api_?key|private_?key", re.IGNORECASE
)
# What a reduced (over-size) document keeps of each statement: everything that decides what it
# allows or denies; Sid and unknown keys go.
STATEMENT_KEYS = (
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)


def parse_policy_document(raw: object) -> dict[str, Any] | None:
    """A policy document as a dict: accepts a dict (boto3 decodes IAM documents), a JSON string
    (S3 bucket policies) or a URL-encoded JSON string (raw IAM responses). None if unparseable."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return None
    for text in (raw, unquote(raw)):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def document_size(document: object) -> int:
    return len(json.dumps(document, separators=(",", ":"), default=str))


def bound_document(
    document: dict[str, Any], limit: int = MAX_DOCUMENT_BYTES
) -> tuple[dict[str, Any], int | None]:
    """``(document, None)`` when it fits in ``limit`` bytes of JSON; otherwise a reduced form and
    the number of statements that had to be dropped (0 when reducing the keys was enough).

    The reduced form keeps Version and, per statement, only :data:`STATEMENT_KEYS`; statements
    that still do not fit are dropped (in order, so short wildcard statements survive)."""
    if document_size(document) <= limit:
        return document, None
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        statements = []
    reduced: dict[str, Any] = {}
    if "Version" in document:
        reduced["Version"] = document["Version"]
    kept: list[dict[str, Any]] = []
    reduced["Statement"] = kept
    size = document_size(reduced)
    dropped = 0
    for statement in statements:
        if not isinstance(statement, dict):
            dropped += 1
            continue
        slim = {key: statement[key] for key in STATEMENT_KEYS if key in statement}
        cost = document_size(slim) + 1  # the separating comma
        if size + cost <= limit:
            kept.append(slim)
            size += cost
        else:
            dropped += 1
    return reduced, dropped


def is_secret_condition_key(key: str) -> bool:
    """Whether a condition key's values are secrets (``sts:ExternalId``, or a key named like a
    secret, e.g. ``aws:RequestTag/ApiKey``); case-insensitive, as IAM compares keys."""
    return bool(SECRET_CONDITION_KEY.search(key))


def redact_conditions(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose secret condition values (:func:`is_secret_condition_key`,
    under any operator) read ``"<redacted>"`` -- a list keeps its length. A trust policy that
    requires an ExternalId keeps that requirement, never the id: qrie stores what it inventories,
    and its own member role's ExternalId would otherwise sit in the table once per account."""
    statements = document.get("Statement")
    if statements is None:
        return document
    redacted = dict(document)
    redacted["Statement"] = (
        [_redact_statement(s) for s in statements]
        if isinstance(statements, list)
        else _redact_statement(statements)
    )
    return redacted


def _redact_statement(statement: Any) -> Any:
    if not isinstance(statement, dict) or not isinstance(statement.get("Condition"), dict):
        return statement
    condition = {
        operator: (
            {key: _redact_value(key, value) for key, value in block.items()}
            if isinstance(block, dict)
            else block
        )
        for operator, block in statement["Condition"].items()
    }
    return {**statement, "Condition": condition}


def _redact_value(key: object, value: Any) -> Any:
    if not is_secret_condition_key(str(key)):
        return value
    return [REDACTED] * len(value) if isinstance(value, list) else REDACTED


def store_document(config: dict[str, Any], attribute: str, raw: object) -> None:
    """Parse ``raw`` into ``config[attribute]``, secret condition values redacted
    (:func:`redact_conditions`) and bounded to ~8 KB. A reduced document is noted as
    ``config["<attribute>_truncated"] = True`` (plus ``<attribute>_statements_dropped`` when
    statements had to go); an unparseable one is unknown (``UnparseableDocument``)."""
    document = parse_policy_document(raw)
    if document is None:
        config[attribute] = None
        config.setdefault("unknown", {})[attribute] = UNPARSEABLE_DOCUMENT
        return
    bounded, dropped = bound_document(redact_conditions(document))
    config[attribute] = bounded
    if dropped is not None:
        config[f"{attribute}_truncated"] = True
        if dropped:
            config[f"{attribute}_statements_dropped"] = dropped


def _policy_name(policy: dict[str, Any]) -> str:
    """A managed policy's name (the last part of its ARN if the answer left it out)."""
    return str(policy.get("PolicyName") or str(policy["Arn"]).rsplit("/", 1)[-1])


def _listed(values: list[str]) -> list[str]:
    """At most :data:`MAX_LISTED` names, sorted (the config keeps a count beside a cut list)."""
    return sorted(values)[:MAX_LISTED]


# ---- collector ---------------------------------------------------------------------------------
class IamCollector(GlobalCollector):
    """The account (root user, support role), password policy, users with their credentials,
    customer-managed and attached AWS-managed policies, roles, server certificates, and IAM
    Access Analyzer per enabled region."""

    service = SERVICE
    calls = CALLS
    default_page_size = DEFAULT_PAGE_SIZE
    max_page_size = DEFAULT_PAGE_SIZE
    default_threads = POLICY_THREADS

    def __init__(
        self,
        page_size: int | None = None,
        threads: int | None = None,
        report_wait: float = REPORT_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(page_size, threads)
        self.report_wait = report_wait
        self.sleep = sleep

    def scopes(self, session: Session, regions: Sequence[str]) -> list[str]:
        """``global``, then the job's regions that the account has enabled (Access Analyzer is
        regional); the EC2 collector decides which those are."""
        return [GLOBAL, *EC2_COLLECTOR.scopes(session, regions)]

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        if scope != GLOBAL:
            yield self._access_analyzers(session, scope)
            return
        client = session.client("iam", IAM_REGION)
        report = self._credential_report(client)
        yield self._account(session, client, report)
        yield self._password_policy(session, client)
        for user in self.pages(
            client, "get_account_authorization_details", "UserDetailList", Filter=["User"]
        ):
            yield self._user(session, user, report)
        for policy in self.pages(
            client,
            "get_account_authorization_details",
            "Policies",
            Filter=["LocalManagedPolicy"],
        ):
            yield self._customer_policy(session, policy)
        attached = self.pages(client, "list_policies", "Policies", Scope="AWS", OnlyAttached=True)
        for found in self.concurrently(lambda p: self._aws_policy(session, client, p), attached):
            if found is not None:
                yield found
        for role in self.pages(client, "list_roles", "Roles"):
            yield self._role(session, role)
        for certificate in self.pages(
            client, "list_server_certificates", "ServerCertificateMetadataList"
        ):
            yield self._server_certificate(session, certificate)

    # -- the credential report --
    def _credential_report(self, client: Any) -> CredentialReport:
        """Generate (or reuse: IAM keeps one four hours) the account's report, polling with
        backoff until it is COMPLETE, then read it. A refusal (e.g. AccessDenied) makes it
        unavailable; throttling that outlasts the retries, and a report not ready in time,
        raise (the scope is retried)."""
        waited, delay, state = 0.0, REPORT_FIRST_POLL_SECONDS, ""
        while True:
            try:
                state = str(client.generate_credential_report().get("State", ""))
                if state == "COMPLETE":
                    answer = client.get_credential_report()
                    return CredentialReport.parse(
                        answer.get("Content", b""), iso(answer.get("GeneratedTime"))
                    )
            except ClientError as exc:
                code = error_code(exc)
                if code in TRANSIENT_CODES:
                    raise
                if code not in REPORT_NOT_READY:
                    return CredentialReport.failed(code)
                state = code  # generated, then expired or regenerating: ask again
            if waited >= self.report_wait:
                raise TransientTaskError(
                    f"iam credential report not ready after {waited:.0f} s (state {state})"
                )
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, REPORT_MAX_POLL_SECONDS)

    # -- account-level resources --
    def _account(self, session: Session, client: Any, report: CredentialReport) -> Resource:
        config: dict[str, Any] = {}
        summary = read_attribute(
            config, "root_mfa_enabled", lambda: client.get_account_summary()["SummaryMap"]
        )
        if summary is None:
            same_unknown(
                config, "root_mfa_enabled", "root_access_keys_present", "root_password_present"
            )
        else:
            config["root_mfa_enabled"] = bool(summary.get("AccountMFAEnabled", 0))
            config["root_access_keys_present"] = bool(summary.get("AccountAccessKeysPresent", 0))
            if "AccountPasswordPresent" in summary:
                config["root_password_present"] = bool(summary["AccountPasswordPresent"])
            else:
                config["root_password_present"] = None
                config.setdefault("unknown", {})["root_password_present"] = NOT_RETURNED
        report.fill_root(config)
        root_arn = f"arn:{PARTITION}:iam::{session.account_id}:root"
        read_attribute(config, "root_virtual_mfa", lambda: self._root_virtual_mfa(client, root_arn))
        entities = read_attribute(
            config,
            "support_policy_roles",
            lambda: self._support_entities(client),
            NO_SUCH_ENTITY,
            {"PolicyRoles": [], "PolicyUsers": [], "PolicyGroups": []},
        )
        if entities is None:
            same_unknown(
                config, "support_policy_roles", "support_policy_users", "support_policy_groups"
            )
        else:
            for attribute, key, name in (
                ("support_policy_roles", "PolicyRoles", "RoleName"),
                ("support_policy_users", "PolicyUsers", "UserName"),
                ("support_policy_groups", "PolicyGroups", "GroupName"),
            ):
                names = [str(e.get(name)) for e in entities[key]]
                config[attribute] = _listed(names)
                if len(names) > MAX_LISTED:
                    config[f"{attribute}_count"] = len(names)
        return self._resource(session, "iam.account", "root", "root", config)

    def _root_virtual_mfa(self, client: Any, root_arn: str) -> bool:
        """Whether a virtual MFA device is assigned to the root user (it then has no hardware
        one as its MFA: CIS's hardware-MFA control)."""
        devices = self.pages(
            client, "list_virtual_mfa_devices", "VirtualMFADevices", AssignmentStatus="Assigned"
        )
        return any(
            (device.get("User") or {}).get("Arn") == root_arn
            or str(device.get("SerialNumber", "")).endswith(f":{ROOT_MFA_SERIAL}")
            for device in devices
        )

    def _support_entities(self, client: Any) -> dict[str, list[dict[str, Any]]]:
        """The roles, users and groups the AWS-managed ``AWSSupportAccess`` policy is attached
        to. (``NoSuchEntity``, which AWS never answers for its own policy, means none.)"""
        arn = f"arn:{PARTITION}:iam::aws:policy/{SUPPORT_POLICY}"
        entities: dict[str, list[dict[str, Any]]] = {
            "PolicyRoles": [],
            "PolicyUsers": [],
            "PolicyGroups": [],
        }
        paginator = client.get_paginator("list_entities_for_policy")
        for page in paginator.paginate(
            PolicyArn=arn, PaginationConfig={"PageSize": self.page_size}
        ):
            for key, found in entities.items():
                found.extend(page.get(key, []))
        return entities

    def _password_policy(self, session: Session, client: Any) -> Resource:
        config: dict[str, Any] = {}
        policy = read_attribute(
            config,
            "exists",
            lambda: client.get_account_password_policy()["PasswordPolicy"],
            NO_SUCH_ENTITY,
            False,
        )
        fields: dict[str, Callable[[dict[str, Any]], Any]] = {
            "minimum_length": lambda p: p.get("MinimumPasswordLength"),
            "reuse_prevention": lambda p: p.get("PasswordReusePrevention"),
            "require_symbols": lambda p: bool(p.get("RequireSymbols", False)),
            "require_numbers": lambda p: bool(p.get("RequireNumbers", False)),
            "require_uppercase": lambda p: bool(p.get("RequireUppercaseCharacters", False)),
            "require_lowercase": lambda p: bool(p.get("RequireLowercaseCharacters", False)),
            "max_age_days": lambda p: p.get("MaxPasswordAge"),
        }
        if policy is None:  # could not be read
            same_unknown(config, "exists", *fields)
        elif policy is False:  # NoSuchEntity: no password policy set
            config.update(dict.fromkeys(fields))
        else:
            config["exists"] = True
            for field_name, extract in fields.items():
                config[field_name] = extract(policy)
        return self._resource(
            session, "iam.password-policy", "password-policy", "password-policy", config
        )

    # -- users --
    def _user(self, session: Session, detail: dict[str, Any], report: CredentialReport) -> Resource:
        """One user from GetAccountAuthorizationDetails, its credentials from the report."""
        name = str(detail["UserName"])
        attached = [str(p.get("PolicyArn")) for p in detail.get("AttachedManagedPolicies", [])]
        inline = [str(p.get("PolicyName")) for p in detail.get("UserPolicyList", [])]
        config: dict[str, Any] = {
            "user_name": name,
            "created": iso(detail.get("CreateDate")),
            "groups": _listed([str(g) for g in detail.get("GroupList", [])]),
            "attached_policies": _listed(attached),
            "inline_policies": _listed(inline),
        }
        for attribute, values in (("attached_policies", attached), ("inline_policies", inline)):
            if len(values) > MAX_LISTED:
                config[f"{attribute}_count"] = len(values)
        report.fill_user(config, name)
        return self._resource(session, "iam.user", f"user/{name}", name, config)

    # -- managed policies --
    def _customer_policy(self, session: Session, policy: dict[str, Any]) -> Resource:
        """A customer-managed policy from GetAccountAuthorizationDetails (every version's
        document comes with it: the default one is kept)."""
        arn = str(policy["Arn"])
        version = str(policy.get("DefaultVersionId") or "")
        config = self._policy_config(policy, aws_managed=False)
        versions = policy.get("PolicyVersionList") or []
        default = next(
            (
                v
                for v in versions
                if v.get("IsDefaultVersion") or str(v.get("VersionId")) == version
            ),
            None,
        )
        if default is None or default.get("Document") is None:
            config["document"] = None
            config.setdefault("unknown", {})["document"] = NOT_RETURNED
        else:
            store_document(config, "document", default["Document"])
        return self.global_resource(session, "iam.policy", arn, config, config["policy_name"])

    def _aws_policy(self, session: Session, client: Any, policy: dict[str, Any]) -> Resource | None:
        """An AWS-managed policy attached in the account, with its default version's document
        (its ARN is AWS's, the same in every account: ``arn:aws:iam::aws:policy/...``)."""
        arn = str(policy["Arn"])
        version = str(policy.get("DefaultVersionId") or "")
        config = self._policy_config(policy, aws_managed=True)
        raw = read_attribute(
            config,
            "document",
            lambda: client.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
                "Document"
            ],
        )
        if raw is not None:
            store_document(config, "document", raw)
        elif (config.get("unknown") or {}).get("document") == "NoSuchEntity":
            return None  # gone between ListPolicies and now
        return self.global_resource(session, "iam.policy", arn, config, config["policy_name"])

    @staticmethod
    def _policy_config(policy: dict[str, Any], aws_managed: bool) -> dict[str, Any]:
        return {
            "policy_name": _policy_name(policy),
            "default_version": str(policy.get("DefaultVersionId") or ""),
            "attachment_count": int(policy.get("AttachmentCount", 0)),
            "aws_managed": aws_managed,
        }

    # -- roles --
    def _role(self, session: Session, role: dict[str, Any]) -> Resource:
        name = str(role["RoleName"])
        config: dict[str, Any] = {"role_name": name, "created": iso(role.get("CreateDate"))}
        raw = role.get("AssumeRolePolicyDocument")
        if raw is None:
            config["trust_policy"] = None
        else:
            store_document(config, "trust_policy", raw)
        # ListRoles does not return RoleLastUsed on AWS today; use it when present, never GetRole.
        if "RoleLastUsed" in role:
            config["last_used"] = iso((role.get("RoleLastUsed") or {}).get("LastUsedDate"))
        else:
            config["last_used"] = None
            config.setdefault("unknown", {})["last_used"] = NOT_LISTED
        return self._resource(session, "iam.role", f"role/{name}", name, config)

    # -- server certificates --
    def _server_certificate(self, session: Session, metadata: dict[str, Any]) -> Resource:
        name = str(metadata["ServerCertificateName"])
        config: dict[str, Any] = {
            "certificate_name": name,
            "certificate_id": metadata.get("ServerCertificateId"),
            "path": metadata.get("Path"),
            "expiration": iso(metadata.get("Expiration")),
            "uploaded": iso(metadata.get("UploadDate")),
        }
        arn = str(
            metadata.get("Arn")
            or f"arn:{PARTITION}:iam::{session.account_id}:server-certificate/{name}"
        )
        return self.global_resource(session, "iam.server-certificate", arn, config, name)

    # -- IAM Access Analyzer (regional) --
    def _access_analyzers(self, session: Session, region: str) -> Resource:
        """The region's analyzers (name, type, status); ``analyzers`` unknown when they could
        not be listed (e.g. the role lacks access-analyzer:ListAnalyzers)."""
        client = session.client("accessanalyzer", region)
        config: dict[str, Any] = {"region": region}
        analyzers = read_attribute(
            config,
            "analyzers",
            lambda: [
                {"name": a.get("name"), "type": a.get("type"), "status": a.get("status")}
                for a in paginate(client, "list_analyzers", "analyzers")
            ],
        )
        if analyzers is not None and len(analyzers) > MAX_ANALYZERS:  # active ones kept first
            active_first = sorted(analyzers, key=lambda a: a["status"] != "ACTIVE")
            config["analyzers"] = active_first[:MAX_ANALYZERS]
            config["analyzer_count"] = len(analyzers)
        arn = f"arn:{PARTITION}:access-analyzer:{region}:{session.account_id}:analyzers"
        return member_resource(session, "iam.access-analyzers", region, arn, config, region)

    def _resource(
        self, session: Session, type_: str, resource_id: str, name: str, config: dict[str, Any]
    ) -> Resource:
        arn = f"arn:{PARTITION}:iam::{session.account_id}:{resource_id}"
        return self.global_resource(session, type_, arn, config, name)


COLLECTOR = IamCollector()
