"""Provision the local stack: deploy a template onto the local AWS as a CloudFormation stack --
what ``sam deploy`` does when nothing was built -- and read back what was deployed.

:func:`provision` zips every local code folder of the template (a SAM function's ``CodeUri``,
Globals included, and a SAM layer's ``ContentUri``) into the local AWS's S3, as ``sam deploy``
uploads them, and creates the stack with a change set, executed (an update when it exists: an
empty change set when neither the template nor the parameters changed, and the table's and
queues' data stay). The local AWS's CloudFormation (moto with :mod:`qrie_local.moto_patches`)
checks the parameters, runs the Serverless transform and creates every resource: tables,
queues, queue policies, roles, functions, layers, event source mappings, schedules, log groups.
Then :func:`qrie_local.deployed.read_stack` reads the functions, their event source mappings and
schedules, and the Outputs back from the CloudFormation, Lambda and EventBridge APIs: the
runner runs what was deployed, as ``make rehearse`` runs a ``sam build`` artifact. Physical
names are CloudFormation's (``<stack>-<LogicalId>-<suffix>``).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from qrie_local.deployed import Provisioned, QueueInfo, read_stack
from qrie_local.identity import STACK_NAME, local_client
from qrie_local.template import TemplateError

__all__ = ["PACKAGES_BUCKET", "ProvisionError", "Provisioned", "QueueInfo", "package", "provision"]

PACKAGES_BUCKET = "qrie-local-packages"
# SAM resource types and the property naming their local code folder.
CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}
SKIPPED_FOLDERS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation takes inline; larger ones go by TemplateURL
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# A stack whose creation failed cannot be updated: it is deleted and created again.
DEAD = frozenset({"REVIEW_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"})
NO_CHANGES = "didn't contain changes"


class ProvisionError(TemplateError):
    """The template cannot be deployed as declared (message says what and why)."""


def _zip(folder: Path) -> bytes:
    """``folder`` as a zip, the same bytes for the same files (names sorted, fixed times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if not path.is_file() or path.suffix == ".pyc":
                continue
            if any(p in SKIPPED_FOLDERS or p.endswith(".egg-info") for p in parts):
                continue
            info = zipfile.ZipInfo("/".join(parts), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package(template: Mapping[str, Any], base_dir: Path, s3: Any) -> dict[str, Any]:
    """A copy of ``template`` whose local code folders (relative to ``base_dir``) are zips in
    the local AWS's :data:`PACKAGES_BUCKET`, named by their content's SHA-256."""
    packaged: dict[str, Any] = json.loads(json.dumps(template))
    uploaded: dict[Path, str] = {}

    def upload(properties: Any, name: str) -> None:
        if not isinstance(properties, dict) or not isinstance(properties.get(name), str):
            return
        uri = str(properties[name])
        if uri.startswith("s3://"):
            return
        folder = (base_dir / uri).resolve()
        if folder not in uploaded:
            if not folder.is_dir():
                raise ProvisionError(f"{name} {uri!r}: no folder {folder}")
            body = _zip(folder)
            key = f"{hashlib.sha256(body).hexdigest()}.zip"
            s3.put_object(Bucket=PACKAGES_BUCKET, Key=key, Body=body)
            uploaded[folder] = f"s3://{PACKAGES_BUCKET}/{key}"
        properties[name] = uploaded[folder]

    upload((packaged.get("Globals") or {}).get("Function"), "CodeUri")
    for resource in (packaged.get("Resources") or {}).values():
        if isinstance(resource, dict) and resource.get("Type") in CODE_PROPERTIES:
            upload(resource.get("Properties"), CODE_PROPERTIES[resource["Type"]])
    return packaged


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message") or exc)


def _status(cfn: Any, stack_name: str) -> str | None:
    try:
        [stack] = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError:
        return None
    return str(stack["StackStatus"])


def _failure(cfn: Any, stack_name: str) -> str:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    reasons = [str(e["ResourceStatusReason"]) for e in events if e.get("ResourceStatusReason")]
    return reasons[-1] if reasons else "see the stack's events"


def _template_argument(s3: Any, endpoint: str, body: str) -> dict[str, str]:
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"{hashlib.sha256(body.encode()).hexdigest()}.template"
    s3.put_object(Bucket=PACKAGES_BUCKET, Key=key, Body=body.encode())
    return {"TemplateURL": f"{endpoint}/{PACKAGES_BUCKET}/{key}"}


def provision(
    template: Mapping[str, Any],
    endpoint: str,
    region: str = "us-east-1",
    parameters: Mapping[str, Any] | None = None,
    *,
    stack_name: str = STACK_NAME,
    base_dir: Path = Path(),
    code_root: Path | None = None,
) -> Provisioned:
    """Deploy ``template`` (its local code folders relative to ``base_dir``) onto the local AWS
    at ``endpoint`` as ``stack_name`` with ``parameters``, and read it back. With ``code_root``
    the runner runs the uploaded packages' code (extracted there); without, the code this
    interpreter has installed. ProvisionError if the local AWS refuses or fails it."""
    s3 = local_client("s3", endpoint, region)
    cfn = local_client("cloudformation", endpoint, region)
    try:
        s3.create_bucket(Bucket=PACKAGES_BUCKET)
    except ClientError as exc:
        if "BucketAlready" not in str(exc.response.get("Error", {}).get("Code", "")):
            raise
    body = json.dumps(package(template, base_dir, s3))
    status = _status(cfn, stack_name)
    if status in DEAD:
        cfn.delete_stack(StackName=stack_name)
        status = None
    try:
        change_set = cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=f"qrie-local-{time.time_ns()}",
            ChangeSetType="UPDATE" if status else "CREATE",
            Capabilities=CAPABILITIES,
            Parameters=[
                {"ParameterKey": str(k), "ParameterValue": str(v)}
                for k, v in dict(parameters or {}).items()
            ],
            **_template_argument(s3, endpoint, body),
        )
    except ClientError as exc:
        raise ProvisionError(f"stack {stack_name}: {_message(exc)}") from exc
    described = cfn.describe_change_set(ChangeSetName=change_set["Id"], StackName=stack_name)
    if described.get("Status") == "FAILED":
        reason = str(described.get("StatusReason", ""))
        if NO_CHANGES not in reason:
            raise ProvisionError(f"stack {stack_name}: {reason}")
    else:
        cfn.execute_change_set(ChangeSetName=change_set["Id"], StackName=stack_name)
        if str(_status(cfn, stack_name)).endswith("_FAILED"):
            raise ProvisionError(f"stack {stack_name}: {_failure(cfn, stack_name)}")
    return read_stack(endpoint, region, stack_name, code_root)
