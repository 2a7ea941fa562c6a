"""Read ``template.yaml`` the way CloudFormation does, and translate its SAM resources offline.

* :func:`load_template` parses CloudFormation YAML, turning the short intrinsic tags (``!Ref``,
  ``!GetAtt``, ``!Sub``, ``!If`` ...) into their long JSON form (``{"Ref": ...}``,
  ``{"Fn::GetAtt": [...]}``, ...), keeping date-like scalars as strings and refusing duplicate
  keys, as CloudFormation does.
* :func:`translate` runs the AWS SAM translator (the code behind ``Transform:
  AWS::Serverless-2016-10-31``) without any AWS call: managed policy names come from a static
  map and the partition from the region given.

Command line (used by ``make lint`` to cfn-lint the translated template)::

    python -m qrie_local.template translate template.yaml -o .aws-sam/lint/template.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# PyYAML comes with moto[server] and cfn-lint; its stubs (types-PyYAML) may not be installed.
import yaml  # type: ignore[import-untyped, unused-ignore]

from qrie_local.identity import partition

__all__ = [
    "LOCAL_CODE_BUCKET",
    "STATIC_MANAGED_POLICIES",
    "TemplateError",
    "load_template",
    "loads_template",
    "main",
    "translate",
]

# Bucket written in place of a local ``CodeUri`` (``src/``) before translation, as
# ``sam validate`` does: SAM wants an S3 location, and ``sam build``/``package`` fill the real one.
LOCAL_CODE_BUCKET = "qrie-local-code"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"

# Names SAM may resolve to managed-policy ARNs (``Policies: [AWSLambdaBasicExecutionRole]``).
# ``aws`` is replaced by the region's partition. The live translator lists them from IAM.
STATIC_MANAGED_POLICIES: Mapping[str, str] = {
    "AWSLambdaBasicExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ),
    "AWSLambdaSQSQueueExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    ),
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "CloudWatchLambdaInsightsExecutionRolePolicy": (
        "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy"
    ),
}

# Short-form tags CloudFormation accepts; every one except Ref/Condition gets an "Fn::" prefix.
_INTRINSICS = frozenset(
    {
        "Ref",
        "Condition",
        "And",
        "Base64",
        "Cidr",
        "Contains",
        "EachMemberEquals",
        "EachMemberIn",
        "Equals",
        "FindInMap",
        "ForEach",
        "GetAtt",
        "GetAZs",
        "If",
        "ImportValue",
        "Join",
        "Length",
        "Not",
        "Or",
        "RefAll",
        "Select",
        "Split",
        "Sub",
        "ToJsonString",
        "Transform",
        "ValueOf",
        "ValueOfAll",
    }
)
_NO_PREFIX = frozenset({"Ref", "Condition"})


class TemplateError(ValueError):
    """The template cannot be read or translated; the message says where and why."""


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader for CloudFormation YAML (configured below; the global loaders are untouched)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call, unused-ignore]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _construct_intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """``!Name value`` -> ``{"Fn::Name": value}`` (``{"Ref": ...}``, ``{"Condition": ...}``)."""
    if suffix not in _INTRINSICS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{suffix}", node.start_mark
        )
    key = suffix if suffix in _NO_PREFIX else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Resource.Attribute[.Nested]
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{suffix}", node.start_mark
        )
    return {key: value}


def _construct_timestamp_as_string(loader: _CfnLoader, node: yaml.Node) -> str:
    """CloudFormation keeps ``2012-10-17`` a string; plain PyYAML would make it a date."""
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)  # type: ignore[no-untyped-call, unused-ignore]
_CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


def loads_template(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse a CloudFormation template (YAML or JSON) held in ``text``."""
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: not a valid CloudFormation template: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template must be a mapping, got {type(data).__name__}")
    return data


def load_template(path: str | Path) -> dict[str, Any]:
    """Read and parse the CloudFormation/SAM template at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {file}: {exc.strerror or exc}") from exc
    return loads_template(text, source=str(file))


def _with_s3_code_uris(template: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``template`` whose local ``CodeUri`` (functions) and ``ContentUri`` (layers)
    paths become ``s3://LOCAL_CODE_BUCKET/<path>``."""
    result = copy.deepcopy(template)

    def fix(properties: Any, key: str = "CodeUri") -> None:
        if isinstance(properties, dict):
            uri = properties.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                properties[key] = f"s3://{LOCAL_CODE_BUCKET}/{uri.strip('./') or 'code'}"

    globals_ = result.get("Globals")
    if isinstance(globals_, dict):
        fix(globals_.get("Function"))
    resources = result.get("Resources")
    if isinstance(resources, dict):
        for resource in resources.values():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
                fix(resource.get("Properties"))
            elif isinstance(resource, dict) and resource.get("Type") == SERVERLESS_LAYER:
                fix(resource.get("Properties"), "ContentUri")
    return result


@dataclass(frozen=True)
class _RegionOnlySession:
    region_name: str


def translate(
    template: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    *,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """Translate a SAM template into plain CloudFormation, offline.

    ``parameters`` are parameter values (``{"Stage": "prod"}``); parameters left out take their
    defaults. ``region`` only decides the partition. ``template`` itself is not modified.
    """
    # Imported here: samtranslator is heavy and only the tools and tests need it.
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics  # noqa: PLC0415
    from samtranslator.model.exceptions import (  # noqa: PLC0415
        ExceptionWithMessage,
        InvalidDocumentException,
    )
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    region_partition = partition(region)
    policies = {
        name: arn.replace("arn:aws:", f"arn:{region_partition}:", 1)
        for name, arn in STATIC_MANAGED_POLICIES.items()
    }
    # The translator reads only ``region_name`` from its boto3 session (for the partition and
    # AWS::Region). A stand-in avoids boto3 reading the user's AWS config (or a bad AWS_PROFILE).
    session = _RegionOnlySession(region)
    # The translator times itself; a dummy publisher, emptied at the end, keeps that quiet.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), boto_session=session, metrics=metrics
    )
    values: dict[str, Any] = {"AWS::Region": region, "AWS::Partition": region_partition}
    values.update(parameters or {})
    try:
        translated = translator.translate(
            _with_s3_code_uris(dict(template)),
            parameter_values=values,
            get_managed_policy_map=lambda: dict(policies),
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"SAM translation failed: {causes}") from exc
    except ExceptionWithMessage as exc:
        raise TemplateError(f"SAM translation failed: {exc.message}") from exc
    finally:
        metrics.publish()
    if not isinstance(translated, dict):  # pragma: no cover - the translator returns a dict
        raise TemplateError("SAM translation returned no template")
    return translated


def _parse_parameters(items: Sequence[str]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TemplateError(f"parameter {item!r} must look like Name=Value")
        parameters[name] = value
    return parameters


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qrie_local.template",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("translate", help="translate a SAM template into CloudFormation JSON")
    cmd.add_argument("template", nargs="?", default="template.yaml", help="default: template.yaml")
    cmd.add_argument("-o", "--output", help="write here (creating folders); default stdout")
    cmd.add_argument("--region", default="us-east-1", help="decides the partition")
    cmd.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter value (repeatable)",
    )
    args = parser.parse_args(argv)

    try:
        template = load_template(args.template)
        result = translate(template, _parse_parameters(args.parameter), region=args.region)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2, sort_keys=False) + "\n"
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
