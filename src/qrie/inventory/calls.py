"""What a collector declares about the AWS calls it makes.

Each collector module defines ``CALLS``, a :class:`CallSheet` beside the code that makes the
calls. The onboarding role (``onboarding/member-role.yaml``) allows exactly their actions,
``docs/aws-calls.md`` is generated from them, and ``tests/unit/test_permissions.py`` holds the
three together and checks them against the calls the collectors really make.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AwsCall:
    """One AWS API operation a collector makes in a member account.

    ``action`` is the IAM action the member role must allow for it (mostly
    ``<service>:<operation>``, but not always: ListBuckets needs ``s3:ListAllMyBuckets``);
    ``client`` is the botocore service that makes it when that is not the action's prefix.
    ``count`` says how many calls one inventory task makes (docs/aws-calls.md's notation), and
    ``listing`` marks the calls whose failure fails the scope instead of one attribute.
    """

    operation: str  # botocore's operation name, e.g. "GetBucketPolicyStatus"
    action: str  # e.g. "s3:GetBucketPolicyStatus"
    count: str
    notes: str = ""
    listing: bool = False
    client: str = ""  # default: the action's prefix

    @property
    def service(self) -> str:
        """The botocore service the call goes to (``session.client(<service>)``)."""
        return self.client or self.action.split(":", 1)[0]


@dataclass(frozen=True)
class CallSheet:
    """Every AWS call a collector makes, and how to read their counts."""

    scope: str  # what one scope is, e.g. "scope `global`", "one scope per enabled region"
    notation: str  # the symbols the counts use, e.g. "`B` buckets"
    calls: tuple[AwsCall, ...]
    total: str  # the calls per account, as a formula and an example (Markdown)

    @property
    def actions(self) -> tuple[str, ...]:
        """The IAM actions, each once, in the calls' order."""
        return tuple(dict.fromkeys(call.action for call in self.calls))
