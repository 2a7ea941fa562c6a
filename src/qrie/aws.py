"""The one place that builds boto3 sessions and clients, and assumes member-account roles.

Clients are created lazily and cached per (service, region) in a ``Clients`` object, never at
import time. ``AccountSessions`` assumes ``arn:<partition>:iam::<account>:role/<MemberRoleName>``
with the ExternalId and caches the credentials per account until shortly before they expire.
Every client uses botocore's ``standard`` retry mode. Clients exist only for the services of
``qrie.aws_services`` (the only models the functions' botocore carries).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from qrie import metering
from qrie.aws_services import AWS_SERVICES
from qrie.errors import PermanentTaskError, TransientTaskError

MAX_ATTEMPTS = 5
CREDENTIAL_REFRESH_MARGIN_SECONDS = 300
SESSION_DURATION_SECONDS = 3600

# Error codes that mean "retrying will not help".
PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthFailure",
        "InvalidClientTokenId",
        "OptInRequired",
        "NoSuchEntity",
        "ValidationError",
        "InvalidParameterValue",
        "RegionDisabledException",
        "AccountNotFoundException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "UnrecognizedClientException",
    }
)
# Error codes that mean "try again later".
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
        "PriorRequestNotComplete",
        "IDPCommunicationError",
    }
)


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> None:
    """Sleep before retry ``attempt`` (0-based): full jitter, exponential, capped."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))


def client_config(max_attempts: int = MAX_ATTEMPTS, pool: int = 32) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,
    )


def check_service(service: str) -> None:
    """Refuse a client for a service whose model the Lambda package does not carry."""
    if service not in AWS_SERVICES:
        raise ValueError(
            f"no client for AWS service {service!r}: the Lambda package carries only the models "
            f"of {', '.join(sorted(AWS_SERVICES))}; add it to qrie/aws_services.py"
        )


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def classify(exc: BaseException, what: str) -> PermanentTaskError | TransientTaskError:
    """Map an AWS error to a permanent or transient task error, by error code, never by text."""
    if isinstance(exc, PermanentTaskError | TransientTaskError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        reason = f"{what}: {code}" + (f": {message}" if message else "")
        if code in TRANSIENT_CODES or http_status(exc) >= 500 or http_status(exc) == 429:
            return TransientTaskError(reason)
        if code in PERMANENT_CODES or 400 <= http_status(exc) < 500:
            return PermanentTaskError(reason)
        return TransientTaskError(reason)
    if isinstance(exc, ReadTimeoutError | BotoConnectionError):
        return TransientTaskError(f"{what}: {type(exc).__name__}")
    if isinstance(exc, BotoCoreError):
        return TransientTaskError(f"{what}: {type(exc).__name__}: {exc}"[:400])
    return PermanentTaskError(f"{what}: {type(exc).__name__}: {exc}"[:400])


class Clients:
    """Lazily created, cached boto3 clients for the hub account (the function's own role)."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        if session is not None:
            metering.register(session.events)
        self._session = session
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> boto3.Session:
        """The hub's session; every client built from it (member accounts' too) counts its
        requests on the current meter (``qrie.metering``)."""
        if self._session is None:
            session = boto3.Session()
            metering.register(session.events)
            self._session = session
        return self._session

    def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is None:
            check_service(service)
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self.session.client(  # type: ignore[call-overload]
                        service, region_name=region, config=client_config()
                    )
                    self._clients[key] = client
        return client


@dataclass
class _Cached:
    credentials: dict[str, Any]
    expires_at: float
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


class AccountSession:
    """Clients inside one member account, built from assumed-role credentials."""

    def __init__(self, account_id: str, owner: AccountSessions) -> None:
        self.account_id = account_id
        self._owner = owner

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return self._owner.client(self.account_id, service, region)


class AccountSessions:
    """Assumes the member role per account and caches credentials and clients until expiry."""

    def __init__(
        self,
        role_name: str,
        external_id: str,
        hub: Clients | None = None,
        partition: str = "aws",
    ) -> None:
        self.role_name = role_name
        self._external_id = external_id
        self._hub = hub or Clients()
        self._partition = partition
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def role_arn(self, account_id: str) -> str:
        return f"arn:{self._partition}:iam::{account_id}:role/{self.role_name}"

    def for_account(self, account_id: str) -> AccountSession:
        self._credentials(account_id)  # fail fast: a denied role fails the task before any work
        return AccountSession(account_id, self)

    def _credentials(self, account_id: str) -> _Cached:
        now = time.time()
        cached = self._cache.get(account_id)
        if cached and cached.expires_at - CREDENTIAL_REFRESH_MARGIN_SECONDS > now:
            return cached
        kwargs: dict[str, Any] = {
            "RoleArn": self.role_arn(account_id),
            "RoleSessionName": f"qrie-{account_id}",
            "DurationSeconds": SESSION_DURATION_SECONDS,
        }
        if self._external_id:
            kwargs["ExternalId"] = self._external_id
        try:
            response = self._hub.get("sts").assume_role(**kwargs)
        except Exception as exc:
            raise classify(exc, f"AssumeRole {self.role_arn(account_id)}") from exc
        creds = response["Credentials"]
        expiration = creds["Expiration"]
        expires_at = expiration.timestamp() if hasattr(expiration, "timestamp") else now + 900
        fresh = _Cached(
            credentials={
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
            },
            expires_at=expires_at,
        )
        with self._lock:
            self._cache[account_id] = fresh
        return fresh

    def client(self, account_id: str, service: str, region: str) -> Any:
        check_service(service)
        cached = self._credentials(account_id)
        key = (service, region)
        client = cached.clients.get(key)
        if client is None:
            with self._lock:
                client = cached.clients.get(key)
                if client is None:
                    client = self._hub.session.client(  # type: ignore[call-overload]
                        service, region_name=region, config=client_config(), **cached.credentials
                    )
                    cached.clients[key] = client
        return client
