"""Who the local AWS is: the hub account, the local stack's name, the fake credentials, a boto3
client for it, and the partition of a region."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

__all__ = [
    "ACCOUNT_ID",
    "FAKE_CREDENTIALS",
    "STACK_NAME",
    "local_client",
    "partition",
]

ACCOUNT_ID = "123456789012"
STACK_NAME = "qrie-local"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def local_client(service: str, endpoint: str, region: str) -> Any:
    """A boto3 client for the local AWS (fake credentials, standard retries)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
        **FAKE_CREDENTIALS,
    )


def partition(region: str) -> str:
    """The AWS partition a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
