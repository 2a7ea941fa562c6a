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

moto answers every Query with a pass over the whole table, sorted: ``Table.all_items`` lists and
sorts every item (by hash and range key, comparing moto's typed values) before the query keeps
its partition. On a table of 12,000 findings one Query cost 0.5-2 s, growing with the table;
DynamoDB reads only the partition. Patched (under the DynamoDB lock, so no other request sees
it), a base-table Query lists only its partition and an index Query the table's items unsorted
(moto sorts the index's matches itself): the same answers, at the cost of what they read.

moto answers ``ReturnConsumedCapacity`` with fixed figures; ``moto_capacity`` makes it answer what
DynamoDB would charge (qrie's cost figures are built from these answers).

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


QUERY_INDEX_ARG = 7  # ``index_name``: Table.query's 8th positional parameter after self


def _partition_query(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Table.query`` reading what DynamoDB reads (see the module docstring). Runs under the
    DynamoDB lock: the backend's query is wrapped by :func:`_locked`."""

    @functools.wraps(original)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = (
            args[QUERY_INDEX_ARG - 1] if len(args) >= QUERY_INDEX_ARG else kwargs.get("index_name")
        )
        ranged = self.range_key_attr is not None
        if index_name is None:
            partition = self.items.get(hash_key) if hash_key is not None else None
            items = (
                [] if partition is None else (list(partition.values()) if ranged else [partition])
            )
        else:
            items = [
                item
                for hash_set in self.items.values()
                for item in (hash_set.values() if ranged else [hash_set])
            ]
        self.all_items = lambda: items  # shadows the method for this call only
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return query


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


# --------------------------------------------------------------------------------------------
# Deploying a SAM-built stack with ``sam deploy``: CloudFormation, S3 and Lambda as AWS has them.
# Each function below restores one AWS behaviour that ``sam deploy`` (or the stack it deploys)
# relies on; :func:`_apply_deploy_patches` installs them.
# --------------------------------------------------------------------------------------------
SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"


def _s3_location(url: str) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of an S3 object URL, in the forms CloudFormation accepts for a
    TemplateURL: virtual-hosted (``https://bucket.s3.region.amazonaws.com/key``) or path-style
    (``https://s3.region.amazonaws.com/bucket/key``, and ``<endpoint>/bucket/key`` on the S3
    endpoint the caller uses, which is what the SAM CLI sends), with ``?versionId=``."""
    import ipaddress  # noqa: PLC0415
    from urllib.parse import parse_qs, unquote, urlparse  # noqa: PLC0415

    parts = urlparse(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path).lstrip("/")
    versions = parse_qs(parts.query).get("versionId")
    version = versions[0] if versions else None
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    aws_s3 = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    if aws_s3 and not host.startswith(("s3.", "s3-")) and ".s3" in host:
        return host.split(".s3", 1)[0], path, version  # virtual-hosted
    if is_ip or host == "localhost" or aws_s3:
        bucket, _, key = path.partition("/")
        return bucket, key, version
    # a bucket-named host of another endpoint (bucket.localhost.localstack.cloud style)
    return host.split(".", 1)[0], path, version


def _template_from_s3_url(self: Any, template_url: str) -> str:
    """``CloudFormationResponse._get_stack_from_s3_url``: CloudFormation reads a TemplateURL in
    any of S3's URL forms, including the path-style URL of the endpoint the caller uploaded to.
    moto takes the first label of any host that is not ``localhost`` or ``s3.*.amazonaws.com``
    for the bucket, so ``http://127.0.0.1:PORT/bucket/key`` (the SAM CLI's TemplateURL on a
    local endpoint) looked for bucket ``127``: NoSuchBucket."""
    from moto.s3.models import s3_backends  # noqa: PLC0415

    bucket, key, version = _s3_location(template_url)
    found = s3_backends[self.current_account][self.partition].get_object(
        bucket, key, version_id=version
    )
    if found is None:
        from moto.s3.exceptions import MissingKey  # noqa: PLC0415

        raise MissingKey(key=key)
    return str(found.value.decode("utf-8"))


def _text(value: Any) -> str:
    """A template or parameter value as CloudFormation reads it: text (lists comma-joined)."""
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_problems(declared: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """What CloudFormation refuses in ``given`` parameter values for the ``declared``
    parameters (empty: nothing)."""
    import re  # noqa: PLC0415

    unknown = sorted(set(given) - set(declared))
    if unknown:
        return [f"Parameters: [{', '.join(unknown)}] do not exist in the template"]
    missing = sorted(
        n for n, d in declared.items() if n not in given and "Default" not in (d or {})
    )
    if missing:
        return [f"Parameters: [{', '.join(missing)}] must have values"]
    problems: list[str] = []
    for name, declaration in declared.items():
        spec = declaration or {}
        value = _text(given[name] if name in given else spec["Default"])
        allowed = [_text(a) for a in spec.get("AllowedValues") or []]
        pattern = spec.get("AllowedPattern")
        if allowed and value not in allowed:
            problems.append(f"Parameter '{name}' must be one of AllowedValues")
        elif pattern and re.fullmatch(str(pattern), value) is None:
            problems.append(f"Parameter '{name}' must match pattern {pattern}")
        elif "MinLength" in spec and len(value) < int(spec["MinLength"]):
            problems.append(
                f"Parameter '{name}' must contain at least {spec['MinLength']} characters"
            )
        elif "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            problems.append(
                f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
            )
        elif spec.get("Type") == "Number" and ("MinValue" in spec or "MaxValue" in spec):
            number = float(value)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(
                    f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
                )
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(
                    f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
                )
    return problems


def _receive_template(template: Any, parameters: Any, region: str) -> Any:
    """A template CloudFormation received, after what it does first: refuse parameter values
    the template does not accept, and run the ``AWS::Serverless-2016-10-31`` transform (as JSON
    text); a template without the transform is passed on unchanged."""
    import json  # noqa: PLC0415

    from moto.cloudformation.exceptions import ValidationError  # noqa: PLC0415

    from qrie_local.template import TemplateError, loads_template, translate  # noqa: PLC0415

    if not isinstance(template, str):
        return template
    try:
        parsed = loads_template(template, source="TemplateBody")
    except TemplateError as exc:
        raise ValidationError(message=f"Template format error: {exc}") from exc
    values = {str(k): v for k, v in dict(parameters or {}).items()}
    problems = _parameter_problems(parsed.get("Parameters") or {}, values)
    if problems:
        raise ValidationError(message="; ".join(problems))
    declared = parsed.get("Transform")
    transforms = declared if isinstance(declared, list) else [declared]
    if SERVERLESS_TRANSFORM not in transforms:
        return template
    try:
        return json.dumps(translate(parsed, values, region=region))
    except TemplateError as exc:
        raise ValidationError(message=f"Transform {SERVERLESS_TRANSFORM} failed: {exc}") from exc


def _serverless_transform(original: Callable[..., Any], template_at: int) -> Callable[..., Any]:
    """CloudFormation checks the parameter values against the template's declarations (every
    parameter declared, each with a value or a Default, within its AllowedValues,
    AllowedPattern, lengths and bounds) and runs a template's ``Transform:
    AWS::Serverless-2016-10-31`` (the SAM translator, with the stack's parameter values) when it
    receives the template, then creates the plain CloudFormation resources it expands to. moto
    checks none of the parameters and has no transforms: it would look for
    ``AWS::Serverless::Function`` models, warn and create nothing. Wraps a
    ``CloudFormationBackend`` method whose ``template`` is its ``template_at``-th argument
    (``create_stack``, ``create_change_set``)."""

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        parameters = kwargs.get("parameters")
        if "template" in kwargs:
            kwargs["template"] = _receive_template(kwargs["template"], parameters, self.region_name)
        elif len(args) > template_at:
            args = (
                *args[:template_at],
                _receive_template(args[template_at], parameters, self.region_name),
                *args[template_at + 1 :],
            )
        return original(self, *args, **kwargs)

    return wrapper


def _execute_change_set(original: Callable[..., Any]) -> Callable[..., Any]:
    """``CloudFormationBackend.execute_change_set``: once a change set is executed its stack is
    the change set's template -- its Outputs, Description and parameters. moto creates the
    resources but leaves the stack with the template it had before (none, for a CREATE change
    set), so ``DescribeStacks`` answered no Outputs; the SAM CLI then refuses its own bucket
    stack ("aws-sam-cli-managed-default is missing Tags and/or Outputs") and the CLI reads
    nothing from the deployed stack.

    And execution is asynchronous: ExecuteChangeSet succeeds, and a resource that cannot be
    created leaves the stack ``CREATE_FAILED`` (``UPDATE_FAILED``) with the reason in its events,
    which ``sam deploy`` prints. moto raised out of ExecuteChangeSet (an HTTP 500 with a Python
    traceback the SAM CLI cannot parse) and left the stack in review."""

    @functools.wraps(original)
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name),
            None,
        )
        if change_set is None:  # moto's own error for an unknown change set
            original(self, change_set_name=change_set_name, stack_name=stack_name)
            return
        stack = self.stacks[change_set.stack_id]
        try:
            original(self, change_set_name=change_set_name, stack_name=stack_name)
        except Exception as exc:  # any failure is the stack's, as in AWS
            reason = f"{type(exc).__name__}: {exc}"
            stack.status = f"{change_set.change_set_type}_FAILED"
            stack._add_stack_event(stack.status, resource_status_reason=reason)
            change_set.execution_status = "EXECUTE_FAILED"
            change_set.status_reason = reason
            return
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.parameters = dict(change_set.parameters)
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export

    return execute_change_set


# AWS::Lambda::Function properties that are CreateFunction parameters moto's CloudFormation
# model leaves out (it passes only Code, Handler, Role, Runtime and a few more): property name ->
# the LambdaFunction attribute and how the API shapes it.
_FUNCTION_PROPERTIES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Architectures": ("architectures", list),
    "TracingConfig": ("tracing_config", dict),
    "KmsKeyArn": ("kms_key_arn", str),
    "EphemeralStorage": ("ephemeral_storage", lambda value: int(value["Size"])),
    "Tags": ("tags", lambda tags: {str(t["Key"]): str(t["Value"]) for t in tags}),
}


def _finish_from_template(
    original: Any, finish: Callable[[Any, dict[str, Any], str, str], None]
) -> Any:
    """A CloudFormation model's ``create_from_cloudformation_json`` or
    ``update_from_cloudformation_json`` classmethod that then calls ``finish(resource,
    properties, account_id, region_name)`` on what it made."""
    import inspect  # noqa: PLC0415

    func = original.__func__
    signature = inspect.signature(func)

    @functools.wraps(func)
    def from_template(cls: Any, *args: Any, **kwargs: Any) -> Any:
        resource = func(cls, *args, **kwargs)
        bound = signature.bind(cls, *args, **kwargs).arguments
        properties = bound["cloudformation_json"].get("Properties") or {}
        finish(resource, properties, bound["account_id"], bound["region_name"])
        return resource

    return classmethod(from_template)


def _function_properties(fn: Any, properties: dict[str, Any], _account: str, _region: str) -> None:
    """``AWS::Lambda::Function``: a function CloudFormation creates has every property the
    template gives it -- Architectures, Layers, TracingConfig, KmsKeyArn, EphemeralStorage, Tags
    -- as CreateFunction would set them, and environment variables that are strings. moto's
    model drops those properties: a template's arm64 function with its dependency layer and
    active tracing was deployed as an x86_64 function with no layer and no tracing."""
    for name, (attribute, shape) in _FUNCTION_PROPERTIES.items():
        if properties.get(name) is not None:
            setattr(fn, attribute, shape(properties[name]))
    # Environment variables are strings: a Number parameter's value is its text. moto kept the
    # number it parsed (GetFunctionConfiguration answered JOB_TIMEOUT_SECONDS: 3600).
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    if variables:
        fn.environment_vars = {str(k): _text(v) for k, v in variables.items()}
    # (a list item that is AWS::NoValue, e.g. a layer under a false condition, is no item)
    layers = [str(arn) for arn in properties.get("Layers") or [] if arn is not None]
    if layers:
        fn.layers = fn._get_layers_data(layers)


def _layer_from_template(original: Any) -> Any:
    """``LayerVersion.create_from_cloudformation_json``: an ``AWS::Lambda::LayerVersion`` has
    the declared LayerName and CompatibleArchitectures, and its ``Ref`` is the layer version's
    ARN (what a function's Layers lists). moto names the layer after the logical id, drops the
    architectures and answers ``Ref`` with its model object, so no function could use the
    layer."""
    func = original.__func__

    @functools.wraps(func)
    def from_template(
        cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        name = str(properties.get("LayerName") or resource_name)
        layer = func(cls, name, cloudformation_json, *args, **kw)
        if properties.get("CompatibleArchitectures"):
            layer.compatible_architectures = list(properties["CompatibleArchitectures"])
        return layer

    return classmethod(from_template)


def _layer_version_ref(self: Any) -> str:
    return str(self.arn)


def _presigned_get(base: str, bucket: str, key: str, region: str) -> str:
    """A presigned, path-style GetObject URL of ``bucket``/``key`` on the endpoint ``base``."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    from qrie_local.identity import FAKE_CREDENTIALS  # noqa: PLC0415

    s3 = boto3.client(  # type: ignore[call-overload]
        "s3",
        endpoint_url=base,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        **FAKE_CREDENTIALS,
    )
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PACKAGE_URL_SECONDS
        )
    )


PACKAGE_URL_SECONDS = 600  # how long GetFunction's Code.Location is valid, as in AWS


def _function_code_location(original: Callable[..., Any]) -> Callable[..., Any]:
    """``LambdaResponse.get_function``: GetFunction's ``Code.Location`` is a presigned URL from
    which the deployment package can be downloaded for 10 minutes. moto answers a made-up
    ``awslambda-<region>-tasks`` host; here it is a presigned URL of the package's S3 object on
    the endpoint the caller used (the local AWS serves S3 on the same endpoint)."""

    @functools.wraps(original)
    def get_function(self: Any) -> Any:
        import json  # noqa: PLC0415
        from urllib.parse import unquote  # noqa: PLC0415

        answer = original(self)
        body = answer[2] if isinstance(answer, tuple) else answer
        data = json.loads(body)
        name = unquote(self.path.rsplit("/", 1)[-1])
        fn = self.backend.get_function(name, self._get_param("Qualifier", None))
        code = getattr(fn, "code", {}) or {}
        host = str(self.headers.get("Host") or "")
        if host and code.get("S3Bucket") and code.get("S3Key") and "Code" in data:
            # AWS's Lambda host serves no S3; the local AWS's endpoint serves every service
            aws = ".amazonaws." in host
            base = f"https://s3.{fn.region}.amazonaws.com" if aws else f"http://{host}"
            data["Code"]["Location"] = _presigned_get(
                base, str(code["S3Bucket"]), str(code["S3Key"]), str(fn.region)
            )
        text = json.dumps(data)
        return (*answer[:2], text) if isinstance(answer, tuple) else text

    return get_function


def _table_settings(table: Any, properties: dict[str, Any], account_id: str, region: str) -> None:
    """``AWS::DynamoDB::Table``: the table has the template's TimeToLiveSpecification and
    PointInTimeRecoverySpecification (DynamoDB's UpdateTimeToLive and UpdateContinuousBackups),
    and its SSESpecification's ``SSEEnabled``. moto ignores the first two and reads the third in
    the API's shape (``Enabled``): the deployed table had TTL, PITR and encryption off."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    sse = properties.get("SSESpecification")
    if sse:
        spec = {k: v for k, v in dict(table.sse_specification or {}).items() if k != "SSEEnabled"}
        table.sse_specification = {**spec, "Enabled": _text(sse.get("SSEEnabled")) == "true"}
    backend = dynamodb_backends[account_id][region]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled")).lower() == "true":
        backend.update_time_to_live(
            table.name, {"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr and str(pitr.get("PointInTimeRecoveryEnabled")).lower() == "true":
        backend.update_continuous_backups(table.name, {"PointInTimeRecoveryEnabled": True})


_MODELS: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``QueuePolicy`` (the model class) is built on first use, so that importing this module
    does not import moto, and pickle (a saved local AWS) finds it here by name."""
    if name == "QueuePolicy":
        return _queue_policy_model()
    raise AttributeError(name)


def _queue_policy_model() -> type:
    """``AWS::SQS::QueuePolicy``: sets the ``Policy`` attribute of each of its Queues (by URL),
    and removes it when deleted. moto has no model for it and skips it with a warning, so the
    deployed queues had no policy."""
    if "QueuePolicy" in _MODELS:
        return _MODELS["QueuePolicy"]
    import json  # noqa: PLC0415

    from moto.core.common_models import CloudFormationModel  # noqa: PLC0415
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    def _set(account_id: str, region: str, properties: dict[str, Any], policy: str) -> None:
        backend = sqs_backends[account_id][region]
        for url in properties.get("Queues") or []:
            backend.set_queue_attributes(
                str(url).rstrip("/").rsplit("/", 1)[-1], {"Policy": policy}
            )

    class QueuePolicy(CloudFormationModel):
        def __init__(self, name: str, properties: dict[str, Any]) -> None:
            self.name = name
            self.properties = properties

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SQS::QueuePolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> QueuePolicy:
            properties = cloudformation_json.get("Properties") or {}
            document = properties.get("PolicyDocument") or {}
            policy = document if isinstance(document, str) else json.dumps(document)
            _set(account_id, region_name, properties, policy)
            return cls(resource_name, properties)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> QueuePolicy:
            _set(account_id, region_name, original_resource.properties, "")
            return cls.create_from_cloudformation_json(
                original_resource.name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            _set(account_id, region_name, cloudformation_json.get("Properties") or {}, "")

        def delete(self, account_id: str, region_name: str) -> None:
            _set(account_id, region_name, self.properties, "")

    QueuePolicy.__module__ = __name__
    QueuePolicy.__qualname__ = QueuePolicy.__name__
    _MODELS["QueuePolicy"] = QueuePolicy
    return QueuePolicy


def _list_parameter_defaults(original: Callable[..., Any]) -> Callable[..., Any]:
    """``ResourceMap.load_parameters``: a ``CommaDelimitedList`` (or ``List<...>``) parameter is a
    list whether its value was given or is its Default. moto splits given values only, so a
    default list was one string (``Fn::Join`` joined its characters)."""

    @functools.wraps(original)
    def load_parameters(self: Any) -> None:
        original(self)
        for name, spec in (self._template.get("Parameters") or {}).items():
            kind = str((spec or {}).get("Type", ""))
            value = self.resolved_parameters.get(name)
            if isinstance(value, str) and (
                kind == "CommaDelimitedList" or kind.startswith("List<")
            ):
                items: list[Any] = value.split(",")
                if kind == "List<Number>":
                    items = [float(v) if "." in v else int(v) for v in items]
                self.resolved_parameters[name] = self._parsed_resources[name] = items

    return load_parameters


def _send_without_delivery(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Queue.add_message`` (every SendMessage): sending only stores the message; an event
    source mapping's pollers receive it later (Lambda's, here the runner's). moto delivers to a
    queue's event source mappings inside SendMessage: it receives the visible messages (each
    receive counts), fails to run the function without Docker and makes them visible again, so
    one SendMessageBatch pushed messages past maxReceiveCount into the dead-letter queue before
    any worker saw them."""

    @functools.wraps(original)
    def add_message(self: Any, message: Any) -> None:
        mappings = self.lambda_event_source_mappings
        self.lambda_event_source_mappings = {}
        try:
            original(self, message)
        finally:  # keep a mapping created meanwhile
            mappings.update(self.lambda_event_source_mappings)
            self.lambda_event_source_mappings = mappings

    return add_message


def _apply_deploy_patches() -> None:
    from moto.cloudformation.models import CloudFormationBackend  # noqa: PLC0415
    from moto.cloudformation.responses import CloudFormationResponse  # noqa: PLC0415

    CloudFormationResponse._get_stack_from_s3_url = _template_from_s3_url  # type: ignore[method-assign]
    CloudFormationBackend.create_stack = _serverless_transform(  # type: ignore[method-assign]
        CloudFormationBackend.create_stack, 1
    )
    CloudFormationBackend.create_change_set = _serverless_transform(  # type: ignore[method-assign]
        CloudFormationBackend.create_change_set, 2
    )
    CloudFormationBackend.execute_change_set = _execute_change_set(  # type: ignore[method-assign]
        CloudFormationBackend.execute_change_set
    )

    from moto.awslambda.models import LambdaFunction, LayerVersion  # noqa: PLC0415
    from moto.awslambda.responses import LambdaResponse  # noqa: PLC0415
    from moto.cloudformation import parsing  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        finished = _finish_from_template(getattr(LambdaFunction, name), _function_properties)
        setattr(LambdaFunction, name, finished)
    LayerVersion.create_from_cloudformation_json = _layer_from_template(  # type: ignore[method-assign]
        LayerVersion.create_from_cloudformation_json
    )
    LayerVersion.physical_resource_id = property(_layer_version_ref)  # type: ignore[attr-defined]
    LambdaResponse.get_function = _function_code_location(LambdaResponse.get_function)  # type: ignore[method-assign]
    Table.create_from_cloudformation_json = _finish_from_template(  # type: ignore[method-assign]
        Table.create_from_cloudformation_json, _table_settings
    )
    _queue_policy_model()
    from moto.sqs.models import Queue  # noqa: PLC0415

    Queue.add_message = _send_without_delivery(Queue.add_message)  # type: ignore[method-assign]
    parsing.ResourceMap.load_parameters = _list_parameter_defaults(  # type: ignore[method-assign]
        parsing.ResourceMap.load_parameters
    )
    # moto lists its CloudFormation models once (cached): list them again with QueuePolicy
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def apply() -> None:
    """Install the patches (idempotent). Call before moto serves requests."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415
    from moto.s3.responses import S3Response  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415
    from moto.sts.responses import TokenResponse  # noqa: PLC0415

    TokenResponse.assume_role = _trusting_assume_role(TokenResponse.assume_role)  # type: ignore[method-assign]

    for name in _WRITE_METHODS:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Table.query = _partition_query(Table.query)  # type: ignore[method-assign]

    for name in _SQS_METHODS:
        setattr(SQSBackend, name, _locked(getattr(SQSBackend, name), _SQS_LOCK))
    SQSBackend.receive_message = _receive_message(SQSBackend.receive_message)  # type: ignore[method-assign]
    S3Response.all_buckets = _list_buckets  # type: ignore[method-assign]
    _apply_deploy_patches()
    from qrie_local import moto_capacity  # noqa: PLC0415

    moto_capacity.apply(_LOCK)
    _APPLIED = True
