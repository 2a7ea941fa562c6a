"""Make moto's DynamoDB behave like DynamoDB where qrie's guarantees depend on it.

moto's ``transact_write_items`` deep-copies every table it touches before each transaction
(O(table size) per call) and restores the copies when a condition fails. Under concurrent
requests (the local server is threaded) a restore can overwrite writes that other requests made
meanwhile, and on a table holding 10,000 tasks each transaction costs a full copy. Real
DynamoDB transactions are atomic and isolated per item. This patch applies the same checks with
a per-item undo log, and serializes DynamoDB writes with one lock so that moto's item updates
are atomic as DynamoDB's are.

moto's SQS is not thread-safe either: ``DeleteMessage`` rebuilds the queue's message list and
assigns it back, so two deletes (or a delete and a send, or a receive moving a message to the
dead-letter queue) that overlap lose one of the updates. A message SQS answered as deleted comes
back, in flight for the queue's visibility timeout (``make chaos`` found whole batches left in
flight that way), and a sent message can vanish. The patch serializes moto's SQS operations with
one lock; ``ReceiveMessage`` holds it only while it picks messages, never while it long-polls.

moto's ListBuckets cuts the list at ``MaxBuckets`` without a ``ContinuationToken``, so a paginated
listing (qrie's S3 collector asks for pages of 1,000) ends after its first page: patched, it
pages in name order, as S3 does.

moto's IAM writes a credential report without the ``<root_account>`` row, with
``not_supported`` where IAM writes ``N/A`` and the user's creation as every password's last
change, dates it 2015, answers GetAccountAuthorizationDetails in one page whatever its size and
leaves ``AccountPasswordPresent`` out of the account summary, and lists every server
certificate as expired in 2012: patched (``_iam_as_aws``), they read as IAM's.

All of this is part of the local AWS, never of qrie's own code paths.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_LOCK = threading.RLock()
_SQS_LOCK = threading.RLock()
_APPLIED = False
# AssumeRole checks the role's existence and ExternalId while this is True (always in the local
# server; tests that use plain moto semantics can turn it off).
STRICT_ASSUME_ROLE = {"enabled": True}

_WRITE_METHODS = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_get_items",
)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the DynamoDB and SQS locks: no patched operation of either runs meanwhile (a
    consistent view of both, e.g. to save the local AWS's state)."""
    with _LOCK, _SQS_LOCK:
        yield


def _locked(method: Callable[..., Any], lock: threading.RLock = _LOCK) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return wrapper


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (  # noqa: PLC0415
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression  # type: ignore[attr-defined]  # noqa: PLC0415

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        undo: list[tuple[str, dict[str, Any], Any]] = []
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []
        # 1) validate and check every condition before writing anything
        ops = []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise MockValidationException("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(sorted(key.items())))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            failed = False
            if condition is not None:
                expr = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not expr.expr(current):
                    failed = True
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
            if not failed:
                errors.append((None, None, None))
            ops.append((op_type, op, table_name, key, current))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        # 2) apply, with an undo log in case moto refuses one of the writes
        try:
            for op_type, op, table_name, key, current in ops:
                undo.append((table_name, key, copy.deepcopy(current)))
                names = op.get("ExpressionAttributeNames")
                vals = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(table_name, op["Item"])
                elif op_type == "Delete":
                    self.delete_item(table_name, key)
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=vals,
                    )
        except Exception:
            for table_name, key, original in reversed(undo):
                if original is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, original.to_json()["Attributes"])
            raise


# Every SQS operation that reads or changes a queue's messages (ReceiveMessage: see below).
_SQS_METHODS = (
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
    "delete_queue",
    "get_queue_attributes",
)


def _receive_message(original: Callable[..., Any]) -> Callable[..., Any]:
    """ReceiveMessage picks its messages under the SQS lock (moto marks them received and moves
    exhausted ones to the dead-letter queue there) and long-polls outside it, so that the sends
    it waits for can happen."""

    @functools.wraps(original)
    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        queue = self.get_queue(queue_name)
        while True:
            with _SQS_LOCK:
                result = original(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
                # visible messages none of which it may take (a FIFO group in flight)
                blocked = not result and bool(queue.messages)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            if blocked:
                time.sleep(min(0.05, remaining))
            else:
                queue.wait_for_messages(min(1.0, remaining))

    return receive_message


def _list_buckets(self: Any) -> Any:
    """``S3Response.all_buckets`` (ListBuckets) with S3's paging: buckets in name order,
    ``MaxBuckets`` per page, and a ``ContinuationToken`` (the page's last name) while more
    follow."""
    from moto.core.responses import ActionResult  # noqa: PLC0415

    self.data["Action"] = "ListAllMyBuckets"
    self._authenticate_and_authorize_s3_action()
    buckets = sorted(
        self.backend.list_buckets(
            prefix=self._get_param("prefix"),
            bucket_region=self._get_param("bucket-region"),
            max_buckets=None,
        ),
        key=lambda bucket: bucket.name,
    )
    token = (self.querystring.get("continuation-token") or [""])[0]
    if token:
        buckets = [bucket for bucket in buckets if bucket.name > token]
    result: dict[str, Any] = {
        "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"}
    }
    limit = int(self._get_param("max-buckets") or 0)
    if limit and len(buckets) > limit:
        buckets = buckets[:limit]
        result["ContinuationToken"] = buckets[-1].name
    result["Buckets"] = [
        {"Name": bucket.name, "CreationDate": bucket.creation_date_ISO8601} for bucket in buckets
    ]
    self.data["Action"] = "ListBuckets"
    return self.serialized(ActionResult(result))


# AWS Organizations creates this role in every member account; the local stack uses it to seed.
BOOTSTRAP_ROLE = "OrganizationAccountAccessRole"


def _trusting_assume_role(original: Callable[..., Any]) -> Callable[..., Any]:
    """AssumeRole as AWS does it (``TokenResponse.assume_role``, where the caller is known): the
    role must exist in the target account, and its trust policy must let the caller assume it
    (:mod:`qrie_local.trust`: the principal, ``sts:ExternalId``, ``aws:PrincipalArn``). moto
    alone lets anyone assume any ARN, so a member account whose role was never deployed, a wrong
    ExternalId or a principal the role does not trust could not fail locally."""

    @functools.wraps(original)
    def assume_role(self: Any) -> Any:
        from moto.iam.models import iam_backends  # noqa: PLC0415
        from moto.sts.exceptions import STSClientError  # noqa: PLC0415
        from moto.sts.models import sts_backends  # noqa: PLC0415

        from qrie_local.trust import Caller, allows  # noqa: PLC0415

        role_arn = str(self._get_param("RoleArn") or "")
        parts = role_arn.split(":")
        if STRICT_ASSUME_ROLE["enabled"] and role_arn.rsplit("/", 1)[-1] != BOOTSTRAP_ROLE:
            denied = STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
            try:
                role = iam_backends[parts[4]][parts[1]].get_role_by_arn(role_arn)
            except Exception as exc:
                raise denied from exc
            key = self.get_access_key()
            # The caller: a role session (its role's ARN), an IAM user, or moto's default user.
            sessions = (
                backend.get_assumed_role_from_access_key(key)
                for by_partition in list(sts_backends.values())
                for backend in list(by_partition.values())
            )
            session = next((found for found in sessions if found is not None), None)
            if session is not None:
                principal, account = session.role_arn, session.account_id
            else:
                _, principal, account = self.backend.get_caller_identity(key, self.region)
            caller = Caller(principal, account, self._get_param("ExternalId"))
            if not allows(role.assume_role_policy_document, caller):
                raise denied
        return original(self)

    return assume_role


def strict_assume_role(enabled: bool) -> None:
    STRICT_ASSUME_ROLE["enabled"] = enabled


# ---- IAM as AWS answers it: the credential report, authorization details, account summary ------
# Self-contained: only ``_iam_as_aws`` (called by ``apply``) touches moto's IAM.
REPORT_COLUMNS = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)
_REPORT_DATE = "%Y-%m-%dT%H:%M:%S+00:00"


def _report_date(value: Any, absent: str = "N/A") -> str:
    return value.strftime(_REPORT_DATE) if value is not None else absent


def _credential_report_row(user: Any, backend: Any) -> str:
    """One user's row as IAM writes it (IAM User Guide, "Generate credential reports"):
    ``password_last_used`` is ``no_information`` for a password never used and ``N/A`` without
    a password, ``password_last_changed`` is when the password was set, every other absent date
    is ``N/A``; keys fill slots 1 and 2 in creation order, each dated."""
    from datetime import timedelta  # noqa: PLC0415

    has_password = bool(user.password)
    changed = getattr(user, "qrie_password_changed", None) or user.create_date
    policy = backend.account_password_policy
    rotation = "N/A"
    if has_password and policy is not None and policy.expire_passwords:
        rotation = _report_date(changed + timedelta(days=int(policy.max_password_age)))
    fields = [
        user.name,
        user.arn,
        _report_date(user.create_date),
        "true" if has_password else "false",
        _report_date(user.password_last_used, "no_information") if has_password else "N/A",
        _report_date(changed) if has_password else "N/A",
        rotation,
        "true" if user.mfa_devices else "false",
    ]
    keys = sorted(user.access_keys, key=lambda k: k.create_date)
    for slot in range(2):
        key = keys[slot] if slot < len(keys) else None
        used = getattr(key, "last_used", None)
        fields += [
            "true" if key is not None and key.status == "Active" else "false",
            _report_date(key.create_date if key is not None else None),
            _report_date(used),
            str(getattr(used, "region", None) or "N/A"),
            str(getattr(used, "service", None) or "N/A"),
        ]
    certificates = list(user.signing_certificates.values())
    for slot in range(2):
        certificate = certificates[slot] if slot < len(certificates) else None
        uploaded = (
            certificate.upload_date if certificate and certificate.status == "Active" else None
        )
        fields += ["true" if uploaded else "false", _report_date(uploaded)]
    return ",".join(fields)


def _credential_report(self: Any) -> str:
    """``IAMBackend.get_credential_report``: the header, the ``<root_account>`` row (never
    listed by moto; no password data, MFA as the account summary says, no keys), then a row per
    user. (IAM writes the report when it is generated and keeps it four hours; this one is
    written when it is read, as moto's own.)"""
    from moto.iam.exceptions import ReportNotPresentException  # noqa: PLC0415

    if not self.credential_report:
        raise ReportNotPresentException("Credential report not present")
    mfa = "true" if self.account_summary.summary_map.get("AccountMFAEnabled") else "false"
    created = _report_date(getattr(self, "qrie_report_generated", None) or _utcnow())
    root = [
        "<root_account>",
        f"arn:{self.partition}:iam::{self.account_id}:root",
        created,
        "not_supported",
        "no_information",
        "not_supported",
        "not_supported",
        mfa,
        *(["false", "N/A", "N/A", "N/A", "N/A"] * 2),
        *(["false", "N/A"] * 2),
    ]
    rows = [REPORT_COLUMNS, ",".join(root)]
    rows += [_credential_report_row(user, self) for user in self.users.values()]
    return "\n".join(rows) + "\n"


def _utcnow() -> Any:
    from moto.core.utils import utcnow  # noqa: PLC0415

    return utcnow()


def _generate_report(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def generate_report(self: Any) -> Any:
        if not self.credential_report:
            self.qrie_report_generated = _utcnow()
        return original(self)

    return generate_report


def _get_credential_report_response(self: Any) -> Any:
    """GetCredentialReport with the time the report was generated (moto: a fixed 2015 date)."""
    from moto.core.responses import ActionResult  # noqa: PLC0415

    report = self.backend.get_credential_report()
    generated = getattr(self.backend, "qrie_report_generated", None) or _utcnow()
    return ActionResult(
        {
            "Content": report,
            "ReportFormat": "text/csv",
            "GeneratedTime": generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def _password_set(original: Callable[..., Any]) -> Callable[..., Any]:
    """Login-profile writes remember when the password was set (``password_last_changed``)."""

    @functools.wraps(original)
    def set_password(self: Any, user_name: str, *args: Any, **kwargs: Any) -> Any:
        user = original(self, user_name, *args, **kwargs)
        self.get_user(user_name).qrie_password_changed = _utcnow()
        return user

    return set_password


def _authorization_details_page(self: Any) -> Any:
    """GetAccountAuthorizationDetails with IAM's paging: at most ``MaxItems`` entities (users,
    groups, roles, then policies) per page and a ``Marker`` while more follow. moto answers
    everything in one page, so an account of 5,000 users would cost one call instead of five."""
    from moto.core.responses import ActionResult  # noqa: PLC0415

    details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
    lists = [
        ("UserDetailList", list(details["users"])),
        ("GroupDetailList", list(details["groups"])),
        ("RoleDetailList", list(details["roles"])),
        ("Policies", list(details["managed_policies"])),
    ]
    start = int(self._get_param("Marker") or 0)
    limit = int(self._get_param("MaxItems") or 100)
    result: dict[str, Any] = {}
    offset = 0
    for key, items in lists:
        first = max(0, start - offset)
        last = max(0, start + limit - offset)
        result[key] = items[first:last]
        offset += len(items)
    result["IsTruncated"] = start + limit < offset
    if result["IsTruncated"]:
        result["Marker"] = str(start + limit)
    return ActionResult(result)


def _certificate_uploaded(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        certificate = original(self, *args, **kwargs)
        certificate.qrie_uploaded = _utcnow()
        return certificate

    return upload


def _server_certificates(self: Any) -> Any:
    """ListServerCertificates with each certificate's own id, upload time and expiration (the
    X.509 ``notAfter`` of its body); moto answers one fixed id and 2010/2012 dates for all. A
    body that is not a PEM certificate (IAM refuses those at upload; moto keeps them) is listed
    without an expiration."""
    from cryptography import x509  # noqa: PLC0415
    from moto.core.responses import ActionResult  # noqa: PLC0415

    listed = []
    for certificate_id, certificate in self.backend.certificates.items():
        entry = {
            "ServerCertificateName": certificate.cert_name,
            "Path": certificate.path,
            "Arn": certificate.arn,
            "ServerCertificateId": certificate_id,
            "UploadDate": getattr(certificate, "qrie_uploaded", None) or _utcnow(),
        }
        try:
            body = x509.load_pem_x509_certificate(str(certificate.cert_body).encode())
        except ValueError:
            pass
        else:
            entry["Expiration"] = body.not_valid_after_utc
        listed.append(entry)
    return ActionResult({"ServerCertificateMetadataList": listed, "IsTruncated": False})


def _summary_map(original: Any) -> property:
    """GetAccountSummary with ``AccountPasswordPresent`` (moto leaves it out): 1, as for every
    account whose root user keeps its password (centralized root access can remove it)."""

    def summary_map(self: Any) -> dict[str, Any]:
        answer = dict(original.fget(self))
        answer.setdefault("AccountPasswordPresent", 1)
        return answer

    return property(summary_map)


def _iam_as_aws() -> None:
    """Make moto's IAM answer as AWS does where qrie's IAM verdicts read it: a credential report
    with the ``<root_account>`` row and the documented markers (``N/A``, ``no_information``),
    password dates and its real GeneratedTime; GetAccountAuthorizationDetails in pages, its
    policies named; the account summary's ``AccountPasswordPresent``; server certificates with
    their own expiration. And IAM Access Analyzer,
    which moto lacks (:mod:`qrie_local.access_analyzer`)."""
    from moto.iam.models import AccountSummary, IAMBackend, Policy  # noqa: PLC0415
    from moto.iam.responses import IamResponse  # noqa: PLC0415

    from qrie_local import access_analyzer  # noqa: PLC0415

    access_analyzer.register()

    IAMBackend.get_credential_report = _credential_report  # type: ignore[method-assign]
    IAMBackend.generate_report = _generate_report(IAMBackend.generate_report)  # type: ignore[method-assign]
    IAMBackend.create_login_profile = _password_set(IAMBackend.create_login_profile)  # type: ignore[method-assign]
    IAMBackend.update_login_profile = _password_set(IAMBackend.update_login_profile)  # type: ignore[method-assign]
    IamResponse.get_credential_report = _get_credential_report_response  # type: ignore[method-assign]
    IamResponse.get_account_authorization_details = _authorization_details_page  # type: ignore[method-assign]
    IAMBackend.upload_server_certificate = _certificate_uploaded(  # type: ignore[method-assign]
        IAMBackend.upload_server_certificate
    )
    IamResponse.list_server_certificates = _server_certificates  # type: ignore[method-assign]
    # GetAccountAuthorizationDetails' policies carry their name and id, as IAM's do
    Policy.policy_name = property(lambda policy: policy.name)  # type: ignore[attr-defined]
    Policy.policy_id = property(lambda policy: policy.id)  # type: ignore[attr-defined]
    AccountSummary.summary_map = _summary_map(AccountSummary.summary_map)  # type: ignore[method-assign, assignment]


def apply() -> None:
    """Install the patches (idempotent). Call before moto serves requests."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.s3.responses import S3Response  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415
    from moto.sts.responses import TokenResponse  # noqa: PLC0415

    TokenResponse.assume_role = _trusting_assume_role(TokenResponse.assume_role)  # type: ignore[method-assign]

    for name in _WRITE_METHODS:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]

    for name in _SQS_METHODS:
        setattr(SQSBackend, name, _locked(getattr(SQSBackend, name), _SQS_LOCK))
    SQSBackend.receive_message = _receive_message(SQSBackend.receive_message)  # type: ignore[method-assign]
    S3Response.all_buckets = _list_buckets  # type: ignore[method-assign]
    _iam_as_aws()
    _APPLIED = True
