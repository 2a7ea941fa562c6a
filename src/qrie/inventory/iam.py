"""IAM inventory (scope: ``global``; every call, its IAM action and count: :data:`CALLS`).

Per account: one ``iam.account`` (GetAccountSummary), one ``iam.password-policy``
(GetAccountPasswordPolicy), ``iam.user`` per user (ListUsers, then the user's login profile,
MFA devices and access keys), ``iam.policy`` per customer-managed policy (ListPolicies
Scope=Local; its default version) and ``iam.role`` per role (ListRoles only; no GetRole per
role). Config shapes: qrie.inventory.schema.

Listing calls (ListUsers, ListPolicies, ListRoles) raise on failure so the scope is not swept;
per-resource reads that fail are recorded in ``config["unknown"]``.

This module also holds the policy-document helpers (IAM policy language) that the S3 collector
uses for bucket policies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import unquote

from qrie.domain import Resource
from qrie.inventory.base import GlobalCollector, Session, iso, paginate, read_attribute
from qrie.inventory.calls import AwsCall, CallSheet

SERVICE = "iam"
PARTITION = "aws"
IAM_REGION = "us-east-1"  # IAM is global; its endpoint for the aws partition lives here
DEFAULT_PAGE_SIZE = 1000  # IAM's MaxItems upper bound
USER_THREADS = 8  # settings read concurrently (GlobalCollector.concurrently)

NO_SUCH_ENTITY = frozenset({"NoSuchEntity"})
UNPARSEABLE_DOCUMENT = "UnparseableDocument"
NOT_LISTED = "NotReturnedByListRoles"

CALLS = CallSheet(
    scope="scope `global`",
    notation=(
        "`U` users, `K` access keys (at most 2 per user), `P` customer-managed policies, `L` roles"
    ),
    calls=(
        AwsCall(
            "GetAccountSummary",
            "iam:GetAccountSummary",
            "1",
            "→ `iam.account` (root MFA, root keys)",
        ),
        AwsCall(
            "GetAccountPasswordPolicy",
            "iam:GetAccountPasswordPolicy",
            "1",
            "`NoSuchEntity` → `exists: False`",
        ),
        AwsCall("ListUsers", "iam:ListUsers", f"⌈U/{DEFAULT_PAGE_SIZE}⌉", listing=True),
        AwsCall(
            "GetLoginProfile",
            "iam:GetLoginProfile",
            "U",
            "`NoSuchEntity` → `console_access: False`",
        ),
        AwsCall("ListMFADevices", "iam:ListMFADevices", "U (paginated; 1 in practice)"),
        AwsCall("ListAccessKeys", "iam:ListAccessKeys", "U (paginated; 1 in practice)"),
        AwsCall(
            "GetAccessKeyLastUsed",
            "iam:GetAccessKeyLastUsed",
            "K",
            "no `LastUsedDate` → `last_used: None`",
        ),
        AwsCall(
            "ListPolicies",
            "iam:ListPolicies",
            f"⌈P/{DEFAULT_PAGE_SIZE}⌉",
            "`Scope=Local`: customer-managed policies only",
            listing=True,
        ),
        AwsCall("GetPolicyVersion", "iam:GetPolicyVersion", "P", "the default version"),
        AwsCall(
            "ListRoles",
            "iam:ListRoles",
            f"⌈L/{DEFAULT_PAGE_SIZE}⌉",
            "no GetRole per role",
            listing=True,
        ),
    ),
    total=(
        "`2 + ⌈U/1000⌉ + 3·U + K + ⌈P/1000⌉ + P + ⌈L/1000⌉`. Example: 200 users with 150 keys, "
        "80 policies, 300 roles → 2 + 1 + 600 + 150 + 1 + 80 + 1 = 835 calls. IAM's control "
        "plane has a low account-wide request rate: the per-user and per-policy reads run "
        f"{USER_THREADS} at a time, and throttling is absorbed by the standard retry mode."
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


def same_unknown(config: dict[str, Any], source: str, *targets: str) -> None:
    """Mark ``targets`` unknown for the same reason as ``source`` (one call feeds several)."""
    reason = (config.get("unknown") or {}).get(source)
    for target in targets:
        config[target] = None
        if reason is not None:
            config.setdefault("unknown", {})[target] = reason


def _key_last_used(client: Any, key_id: str) -> str | None:
    """GetAccessKeyLastUsed's LastUsedDate; None when the key was never used."""
    last_used = client.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    return iso(last_used.get("LastUsedDate"))


# ---- collector ---------------------------------------------------------------------------------
class IamCollector(GlobalCollector):
    """IAM users, account summary, password policy, customer-managed policies and roles."""

    service = SERVICE
    calls = CALLS
    default_page_size = DEFAULT_PAGE_SIZE
    max_page_size = DEFAULT_PAGE_SIZE
    default_threads = USER_THREADS

    def collect(self, session: Session, scope: str) -> Iterator[Resource]:
        self.check_scope(scope)
        client = session.client("iam", IAM_REGION)
        yield self._account(session, client)
        yield self._password_policy(session, client)
        # 3-4 calls per user and 1 per policy: several at a time, in order (IAM's request
        # rate is an account-wide quota: fewer threads than S3's)
        users = self.pages(client, "list_users", "Users")
        for user_resource in self.concurrently(lambda u: self._user(session, client, u), users):
            if user_resource is not None:
                yield user_resource
        policies = self.pages(client, "list_policies", "Policies", Scope="Local")
        for policy_resource in self.concurrently(
            lambda p: self._policy(session, client, p), policies
        ):
            if policy_resource is not None:
                yield policy_resource
        for role in self.pages(client, "list_roles", "Roles"):
            yield self._role(session, role)

    # -- account-level resources --
    def _account(self, session: Session, client: Any) -> Resource:
        config: dict[str, Any] = {}
        summary = read_attribute(
            config, "root_mfa_enabled", lambda: client.get_account_summary()["SummaryMap"]
        )
        if summary is None:
            same_unknown(config, "root_mfa_enabled", "root_access_keys_present")
        else:
            config["root_mfa_enabled"] = bool(summary.get("AccountMFAEnabled", 0))
            config["root_access_keys_present"] = bool(summary.get("AccountAccessKeysPresent", 0))
        return self._resource(session, "iam.account", "root", "root", config)

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
    def _user(self, session: Session, client: Any, user: dict[str, Any]) -> Resource | None:
        name = str(user["UserName"])
        config: dict[str, Any] = {
            "user_name": name,
            "created": iso(user.get("CreateDate")),
            "password_last_used": iso(user.get("PasswordLastUsed")),
        }
        read_attribute(
            config,
            "console_access",
            lambda: bool(client.get_login_profile(UserName=name)),
            NO_SUCH_ENTITY,
            False,
        )
        read_attribute(
            config,
            "mfa_devices",
            lambda: sum(
                1 for _ in paginate(client, "list_mfa_devices", "MFADevices", UserName=name)
            ),
        )
        read_attribute(config, "access_keys", lambda: self._access_keys(client, name, config))
        unknown = config.get("unknown") or {}
        if "NoSuchEntity" in (unknown.get("mfa_devices"), unknown.get("access_keys")):
            return None  # deleted between ListUsers and now
        return self._resource(session, "iam.user", f"user/{name}", name, config)

    @staticmethod
    def _access_keys(client: Any, user: str, config: dict[str, Any]) -> list[dict[str, Any]]:
        """The user's keys (at most two), each an ``AccessKey``. A key whose last use cannot be
        read keeps ``last_used: None`` with its own ``unknown`` and marks
        ``access_keys.last_used`` unknown on the user, so None never silently means "never
        used"."""
        keys: list[dict[str, Any]] = []
        for meta in paginate(client, "list_access_keys", "AccessKeyMetadata", UserName=user):
            key_id = str(meta["AccessKeyId"])
            entry: dict[str, Any] = {
                "id": key_id,
                "status": meta.get("Status"),
                "created": iso(meta.get("CreateDate")),
            }
            read_attribute(entry, "last_used", partial(_key_last_used, client, key_id))
            reason = (entry.get("unknown") or {}).get("last_used")
            if reason is not None:
                config.setdefault("unknown", {})["access_keys.last_used"] = reason
            keys.append(entry)
        return keys

    # -- customer-managed policies --
    def _policy(self, session: Session, client: Any, policy: dict[str, Any]) -> Resource | None:
        arn = str(policy["Arn"])
        version = str(policy.get("DefaultVersionId") or "")
        config: dict[str, Any] = {
            "policy_name": policy["PolicyName"],
            "default_version": version,
            "attachment_count": int(policy.get("AttachmentCount", 0)),
        }
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
            return None  # deleted between ListPolicies and now
        return self.global_resource(session, "iam.policy", arn, config, str(policy["PolicyName"]))

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

    def _resource(
        self, session: Session, type_: str, resource_id: str, name: str, config: dict[str, Any]
    ) -> Resource:
        arn = f"arn:{PARTITION}:iam::{session.account_id}:{resource_id}"
        return self.global_resource(session, type_, arn, config, name)


COLLECTOR = IamCollector()
