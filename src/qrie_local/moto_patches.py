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

moto answers ``ReturnConsumedCapacity`` with fixed figures; ``moto_capacity`` makes it answer what
DynamoDB would charge (qrie's cost figures are built from these answers).

All of this is part of the local AWS, never of qrie's own code paths.
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections.abc import Callable
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
    """AssumeRole as AWS does it: the role must exist in the target account, and when its trust
    policy requires an ExternalId the caller must present that ExternalId. moto alone lets any
    ARN be assumed, so a member account whose role was never deployed could not fail locally."""

    @functools.wraps(original)
    def assume_role(self: Any, **kwargs: Any) -> Any:
        from moto.iam.models import iam_backends  # noqa: PLC0415
        from moto.sts.exceptions import STSClientError  # noqa: PLC0415

        role_arn = str(kwargs.get("role_arn", ""))
        parts = role_arn.split(":")
        account_id = parts[4] if len(parts) > 5 else ""
        role_name = role_arn.rsplit("/", 1)[-1]
        if STRICT_ASSUME_ROLE["enabled"] and role_name != BOOTSTRAP_ROLE:
            denied = STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
            partition = parts[1] if len(parts) > 1 else "aws"
            try:
                role = iam_backends[account_id][partition].get_role_by_arn(role_arn)
            except Exception as exc:
                raise denied from exc
            required = _required_external_ids(role.assume_role_policy_document)
            if required and kwargs.get("external_id") not in required:
                raise denied
        return original(self, **kwargs)

    return assume_role


def _required_external_ids(document: Any) -> set[str]:
    import json  # noqa: PLC0415
    from urllib.parse import unquote  # noqa: PLC0415

    if isinstance(document, str):
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return set()
    found: set[str] = set()
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        condition = statement.get("Condition", {}) if isinstance(statement, dict) else {}
        value = condition.get("StringEquals", {}).get("sts:ExternalId")
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found.update(str(v) for v in value)
    return found


def strict_assume_role(enabled: bool) -> None:
    STRICT_ASSUME_ROLE["enabled"] = enabled


def apply() -> None:
    """Install the patches (idempotent). Call before moto serves requests."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.s3.responses import S3Response  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415
    from moto.sts.models import STSBackend  # noqa: PLC0415

    STSBackend.assume_role = _trusting_assume_role(STSBackend.assume_role)  # type: ignore[method-assign]

    for name in _WRITE_METHODS:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]

    for name in _SQS_METHODS:
        setattr(SQSBackend, name, _locked(getattr(SQSBackend, name), _SQS_LOCK))
    SQSBackend.receive_message = _receive_message(SQSBackend.receive_message)  # type: ignore[method-assign]
    S3Response.all_buckets = _list_buckets  # type: ignore[method-assign]
    from qrie_local import moto_capacity  # noqa: PLC0415

    moto_capacity.apply(_LOCK)
    _APPLIED = True
