"""The AWS services the Lambda functions create clients for: the one list.

The functions ship their own botocore with only these services' models (src/Makefile prunes the
rest), and ``qrie.aws`` refuses a client for any other service, in tests as on Lambda. A new
collector that calls a new service adds it here; ``tests/unit/test_aws_services.py`` fails until
it does. Libraries the functions run count too (the X-Ray SDK's client, with Tracing=Active;
``tests/integration/test_package.py`` imports a traced handler from the pruned package). This
module imports nothing: the package build reads it with a bare Python.
"""

from __future__ import annotations

AWS_SERVICES: frozenset[str] = frozenset(
    {
        "dynamodb",  # the table (qrie.store)
        "sqs",  # the task queues and the dead-letter queue (qrie.queue)
        "sts",  # AssumeRole into member accounts (qrie.aws)
        "s3",  # collector
        "ec2",  # collector
        "iam",  # collector
        "organizations",  # account sync (qrie.accounts)
        "xray",  # the X-Ray SDK's sampling rules (Powertools Tracer, Tracing=Active only)
    }
)
