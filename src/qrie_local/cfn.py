"""A CloudFormation template evaluator: parameters, conditions and intrinsic functions, resolved
against the physical ids of what the caller created (the local stack's provisioner,
:mod:`qrie_local.provision`) and, for everything else, the ids CloudFormation would give it,
named the local way.

Supported intrinsics: Ref (parameters, resources, pseudo parameters), Fn::GetAtt, Fn::Sub,
Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, Fn::Join, Fn::Select, Fn::Split,
Fn::FindInMap, Fn::GetAZs, Fn::Base64; ``AWS::NoValue`` removes the property.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from qrie_local.identity import ACCOUNT_ID, NAME_PREFIX, STACK_NAME, partition
from qrie_local.template import TemplateError

__all__ = [
    "FUNCTION",
    "NO_VALUE",
    "Physical",
    "Resolver",
    "as_bool",
    "as_string",
    "creation_order",
    "parameter_values",
]

FUNCTION = "AWS::Serverless::Function"


class _NoValue:
    """``AWS::NoValue``: the property it is the value of is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def as_string(value: Any) -> str:
    """A resolved scalar as CloudFormation turns it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Every declared parameter's value (an override, else its Default), as strings.
    Raises TemplateError for a parameter with neither, or an override the template lacks."""
    declared = template.get("Parameters") or {}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"unknown template parameter(s): {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(declared))}"
        )
    values: dict[str, str] = {}
    for name, declared_spec in declared.items():
        spec = declared_spec or {}
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(f"template parameter {name} has no Default: pass a value")
        value = ",".join(as_string(v) for v in raw) if isinstance(raw, list) else as_string(raw)
        allowed = spec.get("AllowedValues")
        if allowed and value not in {as_string(a) for a in allowed}:
            raise TemplateError(
                f"parameter {name}={value!r} is not one of {[as_string(a) for a in allowed]}"
            )
        values[name] = value
    return values


# ---------------------------------------------------------------------------------- resolver
@dataclass
class Physical:
    """A resource's physical id (what Ref answers) and its Fn::GetAtt attributes."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions against parameters, conditions and created resources.

    The caller records what it created in :attr:`physical`; a reference to a resource of one of
    the ``created`` types that is not recorded yet is an error (it must be created first, see
    :func:`creation_order`); any other resource gets the physical id CloudFormation would give
    it, named with ``prefix``."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        region: str,
        prefix: str = NAME_PREFIX,
        created: Collection[str] = (),
    ) -> None:
        self.template = template
        self.prefix = prefix
        self.created = frozenset(created)
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.region = region
        self.partition = partition(region)
        self.values: dict[str, Any] = dict(parameters)
        for name, spec in (template.get("Parameters") or {}).items():
            kind = str((spec or {}).get("Type", "String"))
            if name in self.values and (kind == "CommaDelimitedList" or kind.startswith("List<")):
                self.values[name] = [v.strip() for v in str(self.values[name]).split(",")]
        self.values.update(
            {
                "AWS::Region": region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": self.partition,
                "AWS::StackName": STACK_NAME,
                "AWS::StackId": (
                    f"arn:{self.partition}:cloudformation:{region}:{ACCOUNT_ID}:"
                    f"stack/{STACK_NAME}/00000000-0000-0000-0000-000000000000"
                ),
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": [],
                "AWS::NoValue": NO_VALUE,
            }
        )
        self.physical: dict[str, Physical] = {}
        self._conditions: dict[str, bool] = {}

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions") or {}
            if name not in declared:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = self._truth(declared[name])
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1 and "Condition" in node:
            return self.condition(str(node["Condition"]))
        return as_bool(self.resolve(node))

    def exists(self, logical_id: str) -> bool:
        """Whether a resource is created (its Condition, if any, holds)."""
        resource = self.resources.get(logical_id) or {}
        name = resource.get("Condition")
        return True if name is None else self.condition(str(name))

    # -- resources
    def _implicit(self, logical_id: str) -> Physical | None:
        """Physical ids of resources the local stack does not create (functions, roles, log
        groups, policies ...): what CloudFormation would return, named the local way."""
        region, account, partition, prefix = self.region, ACCOUNT_ID, self.partition, self.prefix
        declared_resource = self.resources.get(logical_id)
        resource: dict[str, Any] = declared_resource if isinstance(declared_resource, dict) else {}
        kind = resource.get("Type")
        if kind is None:
            # Resources SAM generates: <Function>Role (the execution role) and similar.
            for function_id, declared in self.resources.items():
                if (
                    isinstance(declared, dict)
                    and declared.get("Type") == FUNCTION
                    and logical_id == f"{function_id}Role"
                ):
                    name = f"{prefix}{logical_id}"
                    path = self._role_path(declared)
                    arn = f"arn:{partition}:iam::{account}:role{path}{name}"
                    return Physical(name, {"Arn": arn})
            return None
        if kind in {FUNCTION, "AWS::Lambda::Function"}:
            arn = f"arn:{partition}:lambda:{region}:{account}:function:{logical_id}"
            return Physical(logical_id, {"Arn": arn})
        if kind == "AWS::Logs::LogGroup":
            props = self.resolve(resource.get("Properties") or {})
            name = props.get("LogGroupName") or f"{prefix}{logical_id}"
            arn = f"arn:{partition}:logs:{region}:{account}:log-group:{name}:*"
            return Physical(name, {"Arn": arn})
        if kind == "AWS::IAM::ManagedPolicy":
            arn = f"arn:{partition}:iam::{account}:policy/{prefix}{logical_id}"
            return Physical(arn, {"PolicyArn": arn})
        if kind == "AWS::IAM::Role":
            name = f"{prefix}{logical_id}"
            return Physical(name, {"Arn": f"arn:{partition}:iam::{account}:role/{name}"})
        service = str(kind).split("::")[1].lower() if "::" in str(kind) else "unknown"
        name = f"{prefix}{logical_id}"
        return Physical(name, {"Arn": f"arn:{partition}:{service}:{region}:{account}:{name}"})

    def _role_path(self, function: Mapping[str, Any]) -> str:
        """The path of the role SAM generates for a function: its RolePath (or the Globals'),
        else ``/``."""
        globals_ = ((self.template.get("Globals") or {}).get("Function") or {}).get("RolePath")
        declared = (function.get("Properties") or {}).get("RolePath", globals_)
        return as_string(self.resolve(declared)) if declared else "/"

    def _resource(self, logical_id: str) -> Physical:
        found = self.physical.get(logical_id)
        if found is not None:
            return found
        resource = self.resources.get(logical_id)
        if isinstance(resource, dict) and resource.get("Type") in self.created:
            raise TemplateError(f"{logical_id} is referenced before it was created")
        implicit = self._implicit(logical_id)
        if implicit is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id!r}")
        self.physical[logical_id] = implicit
        return implicit

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return self._resource(name).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        physical = self._resource(logical_id)
        if attribute not in physical.attributes:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")
        return physical.attributes[attribute]

    # -- intrinsics
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg)
        result = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not NO_VALUE:
                result[key] = resolved
        return result

    def _intrinsic(self, name: str, arg: Any) -> Any:
        if name == "Ref":
            return self.ref(str(arg))
        if name == "Fn::GetAtt":
            if isinstance(arg, str):
                logical_id, _, attribute = arg.partition(".")
            else:
                logical_id, attribute = (str(a) for a in self.resolve(arg))
            return self.get_att(logical_id, attribute)
        if name == "Fn::If":
            condition, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return as_string(left) == as_string(right)
        if name == "Fn::Not":
            return not self._truth(arg[0])
        if name == "Fn::And":
            return all(self._truth(a) for a in arg)
        if name == "Fn::Or":
            return any(self._truth(a) for a in arg)
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Join":
            delimiter, items = arg
            return str(delimiter).join(as_string(i) for i in self.resolve(items))
        if name == "Fn::Select":
            index, items = arg
            chosen = self.resolve(items)
            return chosen[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = arg
            return as_string(self.resolve(text)).split(str(delimiter))
        if name == "Fn::FindInMap":
            map_name, top, second = (as_string(self.resolve(a)) for a in arg[:3])
            try:
                return (self.template.get("Mappings") or {})[map_name][top][second]
            except KeyError as exc:
                raise TemplateError(
                    f"Fn::FindInMap {map_name}/{top}/{second}: no such key"
                ) from exc
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if name == "Fn::Base64":
            return base64.b64encode(as_string(self.resolve(arg)).encode()).decode()
        raise TemplateError(f"intrinsic {name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return as_string(variables[name])
            if "." in name and name not in self.values:
                logical_id, _, attribute = name.partition(".")
                return as_string(self.get_att(logical_id, attribute))
            return as_string(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)


def _references(node: Any) -> set[str]:
    """Logical ids and parameter names a node refers to (Ref, GetAtt, Sub variables)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    return {arg.split(".", 1)[0]}
                if isinstance(arg, list) and arg and isinstance(arg[0], str):
                    return {arg[0]}
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                if isinstance(text, str):
                    for name in _SUB_VARIABLE.findall(text):
                        if not name.startswith("!"):
                            found.add(name.split(".", 1)[0])
        for value in node.values():
            found |= _references(value)
    return found


def creation_order(resources: Mapping[str, Any], wanted: list[str]) -> list[str]:
    """``wanted`` ordered so every resource comes after the ones its properties refer to."""
    deps = {
        logical_id: (_references(resources[logical_id].get("Properties") or {}) & set(wanted))
        - {logical_id}
        for logical_id in wanted
    }
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise TemplateError(f"circular reference involving {logical_id}")
        visiting.add(logical_id)
        for dep in sorted(deps[logical_id]):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in wanted:
        visit(logical_id)
    return order
