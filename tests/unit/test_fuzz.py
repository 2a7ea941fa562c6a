"""Fuzzing (hypothesis) the job-request and task-message models and the code that consumes them.

Properties, for arbitrary input:
- no unhandled exception: ``parse_request``/``parse_task`` raise only ``ValidationError``; the
  job handler's ``JobService.handle`` and the worker's ``TaskWorker.process`` never raise (the
  worker may only ask for a redelivery, ``RetryLater``);
- every refusal names the field and the problem: ``error.field`` is set and the message starts
  with ``"<field>:"`` followed by the problem;
- with oracles: every generated valid request (task message) parses to what it says, and the
  same with one field broken is refused naming that field (validation neither too strict nor
  too permissive);
- nothing written on refusal: the table and the queues are unchanged (the worker keeps one
  bad-message record, by design, and never touches a job's counters or tasks).

Examples per property: ``QRIE_FUZZ_PROFILE=ci`` (default, 100) or ``chaos`` (1,000, what
``make chaos`` runs). Also here: the request and message size limits.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from qrie.aws import AccountSessions, Clients
from qrie.config import Settings
from qrie.domain import Account, TaskKind, TaskOutcome, TaskStatus
from qrie.errors import ValidationError
from qrie.handlers import runtime
from qrie.inventory.registry import SERVICES
from qrie.jobs.service import JobService, new_job_id
from qrie.jobs.worker import Delivery, RetryLater, TaskWorker
from qrie.models import (
    MAX_ACCOUNTS,
    MAX_TASK_MESSAGE_BYTES,
    OPERATIONS,
    CancelRequest,
    InventoryRequest,
    ListRequest,
    RetryRequest,
    ScanRequest,
    StatusRequest,
    TaskMessage,
    parse_request,
    parse_task,
)
from qrie.policies.registry import all_policies
from qrie.queue import TaskQueue
from qrie.store import keys
from qrie.store.table import Store
from qrie_local import moto_patches
from tests.support import REGION, Stack, create_stack

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "chaos",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROFILE = settings.get_profile(os.environ.get("QRIE_FUZZ_PROFILE", "ci"))

SQS_MAX_MESSAGE_BYTES = 256 * 1024
REQUEST_MODELS = (
    InventoryRequest,
    ScanRequest,
    StatusRequest,
    ListRequest,
    CancelRequest,
    RetryRequest,
)
WORKER_OUTCOMES = {"bad-message", "skipped", "failed", "succeeded"}
REGISTERED = "210000000001"  # a registered, active account (no member role: AssumeRole fails)


# ----------------------------------------------------------------------------- strategies
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
account_ids = st.from_regex(r"\A2[0-9]{11}\Z", fullmatch=True)
almost_accounts = st.one_of(
    account_ids,
    st.from_regex(r"\A[0-9]{1,13}\Z", fullmatch=True),
    st.text(alphabet=string.digits + " -x", max_size=14),
    st.integers(min_value=0, max_value=10**13),
    json_scalars,
)
job_ids = st.one_of(
    st.builds(
        lambda op, scope, date, token: f"{op}-{scope}-{date}-{token}",
        st.sampled_from(["inv", "scan", "x"]),
        st.sampled_from(["s3", "ec2", "iam", "all", "*", "S3"]),
        st.from_regex(r"\A20[0-9]{6}T[0-9]{6}Z\Z", fullmatch=True),
        st.from_regex(r"\A[0-9a-f]{6}\Z", fullmatch=True),
    ),
    st.text(max_size=40),
    json_scalars,
)
policy_specs = st.one_of(
    st.sampled_from(sorted(all_policies())),
    st.sampled_from(["*", "s3.*", "ec2.*", "iam.*", "gcp.*", "", "s3", "*.*"]),
    st.text(max_size=20),
    json_scalars,
)
service_names = st.one_of(
    st.sampled_from([*SERVICES, "*", "S3", "lambda", ""]), st.text(max_size=10), json_scalars
)


@st.composite
def requests(draw: st.DrawFn) -> Any:
    """Job-handler events: anything, or a request of a known operation with fuzzed fields."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    event: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        event["operation"] = draw(
            st.sampled_from(OPERATIONS)
            | st.sampled_from(["Inventory", "delete", ""])
            | json_scalars
        )
    fields = {
        "accounts": st.one_of(
            st.just("*"),
            st.lists(account_ids, min_size=1, max_size=4, unique=True),
            st.lists(almost_accounts, max_size=5),
            st.lists(st.just(REGISTERED), min_size=2, max_size=2),
            json_values,
        ),
        "service": service_names,
        "policy": policy_specs,
        "refresh": st.booleans() | json_scalars,
        "job_id": job_ids,
        "limit": st.integers(-5, 2000) | json_scalars,
        "v": json_scalars,
        draw(st.text(min_size=1, max_size=8)): json_values,
    }
    for name, strategy in fields.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


def valid_message() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda job_id, kind, account, service, policy: {
            "v": 1,
            "job_id": job_id,
            "kind": kind,
            "account_id": account,
            "service": service,
            **({"policy": policy} if kind == "scan" else {}),
        },
        st.builds(
            lambda scope, token: f"inv-{scope}-20260101T000000Z-{token}",
            st.sampled_from(["s3", "all"]),
            st.from_regex(r"\A[0-9a-f]{6}\Z", fullmatch=True),
        ),
        st.sampled_from(["inventory", "scan"]),
        account_ids,
        st.sampled_from(SERVICES),
        st.sampled_from(["*", "s3.*", *sorted(all_policies())]),
    )


@st.composite
def task_bodies(draw: st.DrawFn, job_id: str | None = None) -> str:
    """Task-message bodies: text, JSON of any shape, or a valid message with one field broken."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(st.text(max_size=60))
    if choice == 1:
        return json.dumps(draw(json_values))
    message = draw(valid_message())
    if job_id is not None and draw(st.booleans()):
        message["job_id"] = job_id
    if choice == 2:  # valid (for the worker: a task that is not one of the job's)
        return json.dumps(message)
    if choice == 3:  # a field removed, or replaced by anything
        name = draw(st.sampled_from(sorted(message)))
        if draw(st.booleans()):
            del message[name]
        else:
            message[name] = draw(json_values)
        return json.dumps(message)
    if choice == 4:  # an unknown field
        message[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        return json.dumps(message)
    text = json.dumps(message)  # truncated or bit-flipped JSON
    cut = draw(st.integers(0, len(text)))
    return text[:cut] + draw(st.text(max_size=3))


# ----------------------------------------------------------------------------- helpers
def assert_names_field(error: ValidationError) -> None:
    assert error.field, f"refusal without a field: {error.message!r}"
    assert error.message.startswith(f"{error.field}:"), (error.field, error.message)
    problem = error.message[len(error.field) + 1 :].strip()
    assert problem, f"refusal without a problem: {error.message!r}"


class Env:
    """Not a dataclass: hypothesis prints a failing example's arguments, a dataclass field by
    field, and the settings hold the ExternalId (never printed or logged)."""

    def __init__(
        self,
        stack: Stack,
        settings: Settings,
        store: Store,
        queue: TaskQueue,
        service: JobService,
        worker: dict[str, TaskWorker],
        job_id: str,
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.store = store
        self.queue = queue
        self.service = service
        self.worker = worker
        self.job_id = job_id

    def __repr__(self) -> str:
        return f"Env(job_id={self.job_id!r})"

    def queued(self) -> int:
        sqs = self.store.clients.get("sqs")
        total = 0
        for url in (self.stack.inventory_queue, self.stack.scan_queue, self.stack.dlq):
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            total += sum(int(v) for v in attrs.values())
        return total

    def reset(self) -> None:
        """Back to the fixture's state: the one job and the registered account."""
        ddb = self.store.clients.get("dynamodb")
        for item in _scan(self):
            if item["PK"] in {keys.ACCOUNT_PK} or item["PK"] == keys.job_pk(self.job_id):
                continue
            if item["PK"] == keys.RUNNING_PK and item["SK"] == self.job_id:
                continue
            ddb.delete_item(
                TableName=self.stack.table, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}}
            )
        drain(self.store.clients.get("sqs"), self.stack)


def drain(sqs: Any, stack: Stack) -> None:
    """Delete every message of the task queues and the DLQ (PurgeQueue: once a minute)."""
    for url in (stack.inventory_queue, stack.scan_queue, stack.dlq):
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )


def _scan(env: Env) -> list[dict[str, Any]]:
    ddb = env.store.clients.get("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": env.stack.table}
    while True:
        page = ddb.scan(**kwargs)
        items += [{k: next(iter(v.values())) for k, v in i.items()} for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot(env: Env) -> tuple[list[str], int]:
    return sorted(json.dumps(i, sort_keys=True, default=str) for i in _scan(env)), env.queued()


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    """qrie's table and queues on moto (one for the module: hypothesis runs many examples),
    one registered account and one running job whose only task is pending."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        moto_patches.apply()
        moto_patches.strict_assume_role(True)
        runtime.reset()
        try:
            with mock_aws():
                stack = create_stack()
                for name, value in stack.env().items():
                    mp.setenv(name, value)
                config = Settings.from_env()
                clients = Clients(boto3.Session())
                store = Store(config.table_name, clients)
                queue = TaskQueue(clients)
                service = JobService(config, store, queue)
                sessions = AccountSessions(config.member_role_name, config.external_id, clients)
                store.put_accounts([Account(REGISTERED)])
                created = service.handle(
                    {"operation": "inventory", "service": "s3", "accounts": [REGISTERED]}
                )
                drain(clients.get("sqs"), stack)
                workers = {
                    kind.value: TaskWorker(config, store, queue, sessions, kind)
                    for kind in TaskKind
                }
                yield Env(stack, config, store, queue, service, workers, str(created["job_id"]))
        finally:
            runtime.reset()
            moto_patches.strict_assume_role(False)


# ----------------------------------------------------------------------------- the models
@settings(PROFILE)
@given(event=requests())
def test_parse_request_refuses_with_the_field_and_the_problem(event: Any) -> None:
    try:
        request = parse_request(event)
    except ValidationError as error:
        assert_names_field(error)
        return
    assert isinstance(request, REQUEST_MODELS)


@settings(PROFILE)
@given(body=task_bodies())
def test_parse_task_refuses_with_the_field_and_the_problem(body: str) -> None:
    try:
        message = parse_task(body)
    except ValidationError as error:
        assert_names_field(error)
        return
    assert isinstance(message, TaskMessage)
    assert parse_task(message.model_dump_json(exclude_none=True)) == message


# ----------------------------------------------------------------------------- with oracles
valid_job_ids = st.builds(
    lambda op, scope, token: f"{op}-{scope}-20260101T000000Z-{token}",
    st.sampled_from(["inv", "scan"]),
    st.sampled_from(["s3", "all", "s3*"]),
    st.from_regex(r"\A[0-9a-f]{6}\Z", fullmatch=True),
)
ACCOUNT_LISTS = st.just("*") | st.lists(account_ids, min_size=1, max_size=6, unique=True)


@st.composite
def valid_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request every field of which is valid."""
    operation = draw(st.sampled_from(OPERATIONS))
    if operation == "inventory":
        fields = {"accounts": ACCOUNT_LISTS, "service": st.sampled_from([*SERVICES, "*"])}
    elif operation == "scan":
        policies = st.sampled_from(["*", "s3.*", "ec2.*", "iam.*", *sorted(all_policies())])
        fields = {"accounts": ACCOUNT_LISTS, "policy": policies, "refresh": st.booleans()}
    elif operation == "list":
        fields = {"limit": st.integers(1, 1000)}
    else:
        fields = {"job_id": valid_job_ids}
    event: dict[str, Any] = {"operation": operation}
    for name, strategy in fields.items():
        if name == "job_id" or draw(st.booleans()):
            event[name] = draw(strategy)
    return event


# One way to break each field, and the field a refusal must then name.
BROKEN: dict[str, st.SearchStrategy[Any]] = {
    "accounts": st.one_of(
        st.lists(st.from_regex(r"\A[0-9]{1,11}\Z", fullmatch=True), min_size=1, max_size=3),
        st.just([]),
        st.lists(account_ids, min_size=1, max_size=3).map(lambda a: a + a[:1]),
        st.sampled_from(["all", "", None, 5]),
    ),
    "service": st.sampled_from(["S3", "lambda", "", "s3 "]),
    "policy": st.sampled_from(["", "S3.*", "s3", "*.*", "s3.", "gcp.x y"]),
    "limit": st.sampled_from([0, -1, 1001, "ten", None]),
    "job_id": st.sampled_from(["", "nope", "inv-s3-20260101T000000Z-ABCDEF", "x" * 90]),
}


@settings(PROFILE)
@given(event=valid_requests())
def test_every_valid_request_parses_to_what_it_says(event: dict[str, Any]) -> None:
    # GIVEN a request whose fields are all valid / WHEN parsed / THEN accepted, field by field
    request = parse_request(event)
    for name, value in event.items():
        assert getattr(request, name) == value, name


@settings(PROFILE)
@given(data=st.data(), event=valid_requests())
def test_a_request_with_one_field_broken_is_refused_naming_it(
    data: st.DataObject, event: dict[str, Any]
) -> None:
    # GIVEN a valid request with one of its fields broken
    names = sorted(set(event) & set(BROKEN))
    assume(names)
    name = data.draw(st.sampled_from(names))
    event[name] = data.draw(BROKEN[name])
    # WHEN parsed THEN refused, naming that field
    with pytest.raises(ValidationError) as refused:
        parse_request(event)
    assert refused.value.field == name


@settings(PROFILE)
@given(message=valid_message(), data=st.data())
def test_a_task_message_parses_and_refuses_by_its_fields(
    message: dict[str, Any], data: st.DataObject
) -> None:
    # GIVEN a valid task message / WHEN parsed / THEN accepted as it is
    parsed = parse_task(json.dumps(message))
    assert parsed.model_dump(exclude_none=True) == message
    # AND with one field broken it is refused, naming that field
    name, value = data.draw(
        st.sampled_from(
            [
                ("account_id", "12345678901"),
                ("account_id", "1234567890123"),
                ("service", "lambda"),
                ("kind", "delete"),
                ("job_id", "nope"),
                ("v", 2),
            ]
        )
    )
    with pytest.raises(ValidationError) as refused:
        parse_task(json.dumps({**message, name: value}))
    assert refused.value.field == name


# ----------------------------------------------------------------------------- the handlers
@settings(PROFILE)
@given(event=requests())
def test_job_handler_never_raises_and_writes_nothing_on_refusal(env: Env, event: Any) -> None:
    before = snapshot(env)
    response = env.service.handle(event)
    assert isinstance(response, dict)
    if "error" in response:
        error = response["error"]
        assert error["code"] == "ValidationError"
        assert_names_field(ValidationError(error["message"], field=error.get("field")))
        assert snapshot(env) == before, "a refused request wrote something"
        return
    if "job_id" in response:  # accepted: a job with its tasks; back to the fixture's state
        assert response["total_tasks"] >= 0
        env.reset()
    json.dumps(response, default=str)  # the handler's answer is JSON


@settings(PROFILE)
@given(data=st.data(), receive_count=st.integers(1, 5))
def test_worker_never_raises_and_never_counts_a_stray_message(
    env: Env, data: st.DataObject, receive_count: int
) -> None:
    body = data.draw(task_bodies(env.job_id))
    kind = data.draw(st.sampled_from(["inventory", "scan"]))
    try:  # the job's own task would legitimately fail (its account has no member role)
        message = parse_task(body)
        assume(not (message.job_id == env.job_id and message.account_id == REGISTERED))
    except ValidationError:
        pass
    before_job = env.store.get_job(env.job_id)
    before_tasks = list(env.store.iter_tasks(env.job_id))
    before_bad = len(env.store.bad_messages(limit=10_000))
    delivery = Delivery("fuzz-message", body, receive_count, "fuzz-receipt", env.stack.scan_queue)
    try:
        outcome = env.worker[kind].process(delivery)
    except RetryLater:  # a redelivery is asked for, nothing is counted
        outcome = "retry"
    assert outcome in {*WORKER_OUTCOMES, "retry"}
    # THEN the job's counters and tasks are untouched, and nothing was enqueued
    assert env.store.get_job(env.job_id) == before_job
    assert list(env.store.iter_tasks(env.job_id)) == before_tasks
    assert env.queued() == 0
    bad = env.store.bad_messages(limit=10_000)
    if outcome == "bad-message":
        assert len(bad) == before_bad + 1
        error = bad[0].error
        assert error.startswith(("malformed task message: ", "unknown job ")), error
        if error.startswith("malformed"):
            named = error.removeprefix("malformed task message: ")
            assert ":" in named, error
            assert named.split(":", 1)[0].strip(), error
    else:
        assert len(bad) == before_bad
    # keep the bad-message partition small: the next example reads it whole
    ddb = env.store.clients.get("dynamodb")
    for message in bad:
        sk = f"{message.received_at}#{message.message_id}"
        ddb.delete_item(TableName=env.stack.table, Key={"PK": {"S": "BADMSG"}, "SK": {"S": sk}})


def test_a_stray_message_cannot_complete_the_jobs_task(env: Env) -> None:
    # GIVEN the running job with one pending task
    job = env.store.get_job(env.job_id)
    assert job is not None
    assert job.remaining == 1
    # WHEN a message names a task that is not one of the job's
    stray = TaskMessage(
        job_id=env.job_id, kind="inventory", account_id="299999999999", service="s3"
    )
    result = env.store.complete_tasks(
        env.job_id,
        [TaskOutcome(stray.key, TaskStatus.SUCCEEDED)],
    )
    # THEN nothing is applied and the job still waits for its own task
    assert result.applied == []
    assert env.store.get_job(env.job_id) == job


# ----------------------------------------------------------------------------- size limits
def test_requests_over_the_account_limit_are_refused_and_write_nothing(env: Env) -> None:
    # GIVEN a request naming one account more than a job may have
    accounts = [f"{200_000_000_000 + i:012d}" for i in range(MAX_ACCOUNTS + 1)]
    before = snapshot(env)
    # WHEN the job handler gets it
    response = env.service.handle({"operation": "inventory", "accounts": accounts})
    # THEN it is refused, naming the field and the limit, and nothing is written
    assert response["error"]["field"] == "accounts"
    assert response["error"]["message"].startswith(f"accounts: at most {MAX_ACCOUNTS} accounts")
    assert snapshot(env) == before
    # and the limit itself is accepted by the model
    assert isinstance(
        parse_request({"operation": "inventory", "accounts": accounts[:MAX_ACCOUNTS]}),
        InventoryRequest,
    )


def test_task_messages_stay_far_under_the_sqs_message_limit() -> None:
    # GIVEN the largest task message the job service can build: the longest job id, the
    # longest policy spec, and a refresh scan's two policy fields
    longest_policy = max([*all_policies(), "*", *(f"{s}.*" for s in SERVICES)], key=len)
    longest_scope = max([*SERVICES, "all"], key=len)
    job_id = new_job_id("scan", longest_scope, datetime.now(UTC))
    message = TaskMessage(
        job_id=job_id,
        kind="inventory",
        account_id="999999999999",
        service=max(SERVICES, key=len),
        policy=longest_policy,
        scan_policy=longest_policy,
    )
    body = message.model_dump_json(exclude_none=True)
    # THEN it is a few hundred bytes: three orders of magnitude under SQS's 256 KB
    assert parse_task(body) == message
    assert len(body.encode()) < 1024  # = SQS_MAX_MESSAGE_BYTES / 256


def test_oversized_task_messages_are_refused_by_size() -> None:
    # GIVEN a well-formed task message padded past the queues' MaximumMessageSize
    body = json.dumps(
        {
            "job_id": "inv-s3-20260101T000000Z-abcdef",
            "kind": "inventory",
            "account_id": "200000000001",
            "service": "s3",
            "pad": "x" * MAX_TASK_MESSAGE_BYTES,
        }
    )
    # WHEN parsed THEN it is refused for its size, before any parsing
    with pytest.raises(ValidationError) as refused:
        parse_task(body)
    assert refused.value.field == "body"
    assert str(refused.value).startswith(f"body: {len(body)} bytes")


def test_enqueued_messages_are_small(env: Env) -> None:
    # GIVEN a refresh scan of every policy over the most accounts a test can afford
    accounts = [f"{230_000_000_000 + i:012d}" for i in range(25)]
    env.store.put_accounts(Account(a) for a in accounts)
    response = env.service.handle(
        {"operation": "scan", "policy": "*", "refresh": True, "accounts": accounts}
    )
    try:
        # THEN every message sent is far under the limit
        sqs = env.store.clients.get("sqs")
        sizes = []
        while True:
            got = sqs.receive_message(
                QueueUrl=env.stack.inventory_queue, MaxNumberOfMessages=10, VisibilityTimeout=600
            ).get("Messages", [])
            if not got:
                break
            sizes += [len(m["Body"].encode()) for m in got]
        assert len(sizes) == response["total_tasks"] // 2
        assert max(sizes) < 1024
    finally:
        ddb = env.store.clients.get("dynamodb")
        for account in accounts:
            ddb.delete_item(
                TableName=env.stack.table,
                Key={"PK": {"S": keys.ACCOUNT_PK}, "SK": {"S": account}},
            )
        env.reset()


@pytest.mark.parametrize("key", ["", " ", "a:b", "x.y"])
def test_an_unknown_key_that_is_not_a_name_is_quoted_in_the_refusal(key: str) -> None:
    # GIVEN a request and a task message with an unknown key that is not an identifier
    body = json.dumps(
        {
            "job_id": "inv-s3-20260101T000000Z-abcdef",
            "kind": "inventory",
            "account_id": "200000000001",
            "service": "s3",
            key: 1,
        }
    )
    # WHEN refused THEN the field is named, quoted, and the problem follows it
    with pytest.raises(ValidationError) as task_refusal:
        parse_task(body)
    with pytest.raises(ValidationError) as request_refusal:
        parse_request({"operation": "inventory", "service": "s3", key: 1})
    for refusal in (task_refusal.value, request_refusal.value):
        assert refusal.field == json.dumps(key)
        assert str(refusal) == f"{json.dumps(key)}: unknown field"
