"""Compliance frameworks as data: one JSON file per framework version, shipped in this package.

A file (``<id>.json``, e.g. ``cis-aws-3.0.json``) names the framework and lists, per control
id, its title, section, profile, whether the benchmark assesses it automatically, and the qrie
policies that answer it (an empty list: no policy yet). Which controls a file lists is its
``scope``; a policy's mapping lives only here, never in the policy's code. Shape::

    {
      "id": "cis-aws-3.0",
      "name": "CIS AWS Foundations Benchmark", "abbreviation": "CIS",
      "version": "v3.0", "release": "3.0.0",
      "scope": "...", "notes": "...",
      "sections": {"1": "Identity and Access Management", "2.1": "...", ...},
      "controls": {
        "1.4": {"title": "...", "section": "1", "profile": "Level 1",
                "automated": true, "policies": ["iam.root_access_keys"]},
        ...
      }
    }

A malformed file fails loading with :class:`FrameworkError` naming the file and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

CONTROL_ID = re.compile(r"^\d+(\.\d+)*$")
FRAMEWORK_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9.]+)+$")
PROFILES = frozenset({"Level 1", "Level 2"})


class FrameworkError(ValueError):
    """A framework file that does not have the documented shape."""


def numeric_key(control_id: str) -> tuple[int, ...]:
    """Sort key of a dotted id: "1.10" after "1.9", "5.1.1" before "5.2"."""
    return tuple(int(part) for part in control_id.split("."))


@dataclass(frozen=True)
class Control:
    id: str  # "2.1.4"
    title: str
    section: str  # a key of the framework's sections, e.g. "2.1"
    profile: str  # "Level 1" / "Level 2"
    automated: bool  # the benchmark assesses it automatically (else: Manual)
    policies: tuple[str, ...]  # the qrie policies that answer it; () = none yet


@dataclass(frozen=True)
class Framework:
    id: str  # "cis-aws-3.0", the file's name
    name: str  # "CIS AWS Foundations Benchmark"
    abbreviation: str  # "CIS"
    version: str  # "v3.0"
    release: str  # "3.0.0"
    scope: str  # which of the benchmark's controls the file lists
    notes: str
    sections: Mapping[str, str]  # id -> title, in the benchmark's order
    controls: tuple[Control, ...]  # in the benchmark's order

    @property
    def standard(self) -> str:
        """The standard's name in reports: "CIS AWS Foundations Benchmark v3.0"."""
        return f"{self.name} {self.version}"

    @property
    def label(self) -> str:
        """The short name: "CIS v3.0"."""
        return f"{self.abbreviation} {self.version}"

    def requirement(self, control: Control) -> str:
        """A control as a requirement string: "CIS v3.0 2.1.4"."""
        return f"{self.label} {control.id}"

    def controls_of(self, policy_id: str) -> list[Control]:
        """The controls ``policy_id`` answers, in the benchmark's order."""
        return [control for control in self.controls if policy_id in control.policies]

    def section_title(self, control: Control) -> str:
        return self.sections[control.section]


@dataclass(frozen=True)
class Frameworks:
    """Every framework, ordered by name then version."""

    frameworks: tuple[Framework, ...]

    def __iter__(self) -> Iterator[Framework]:
        return iter(self.frameworks)

    def get(self, framework_id: str) -> Framework:
        for framework in self.frameworks:
            if framework.id == framework_id:
                return framework
        known = ", ".join(f.id for f in self.frameworks)
        raise KeyError(f"unknown framework {framework_id[:40]!r} (one of {known})")

    def requirements(self, policy_id: str) -> list[str]:
        """Every control ``policy_id`` answers, as requirement strings ("CIS v3.0 2.1.4")."""
        return [f.requirement(c) for f in self.frameworks for c in f.controls_of(policy_id)]

    def standards(self, policy_id: str) -> list[str]:
        """The standards with at least one control ``policy_id`` answers."""
        return [f.standard for f in self.frameworks if f.controls_of(policy_id)]

    def policy_ids(self) -> set[str]:
        """Every policy id some control names."""
        return {p for f in self.frameworks for c in f.controls for p in c.policies}


# ---- parsing ----------------------------------------------------------------------------------
def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FrameworkError(f"{where}: {key!r} must be a non-empty string")
    return value


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise FrameworkError(f"{where}: must be an object")
    return value


def _control(control_id: str, value: object, sections: Mapping[str, str], where: str) -> Control:
    where = f"{where}: control {control_id!r}"
    if not CONTROL_ID.match(control_id):
        raise FrameworkError(f"{where}: the id must be dotted numbers")
    data = _object(value, where)
    unknown = sorted(set(data) - {"title", "section", "profile", "automated", "policies"})
    if unknown:
        raise FrameworkError(f"{where}: unknown fields {unknown}")
    section = _text(data, "section", where)
    if section not in sections:
        raise FrameworkError(f"{where}: section {section!r} is not in 'sections'")
    if not (control_id == section or control_id.startswith(f"{section}.")):
        raise FrameworkError(f"{where}: is not numbered inside section {section!r}")
    profile = _text(data, "profile", where)
    if profile not in PROFILES:
        raise FrameworkError(f"{where}: profile must be one of {sorted(PROFILES)}")
    automated = data.get("automated")
    if not isinstance(automated, bool):
        raise FrameworkError(f"{where}: 'automated' must be true or false")
    policies = data.get("policies")
    if not isinstance(policies, list) or not all(isinstance(p, str) and p for p in policies):
        raise FrameworkError(f"{where}: 'policies' must be a list of policy ids")
    if len(set(policies)) != len(policies):
        raise FrameworkError(f"{where}: 'policies' repeats an id")
    return Control(
        control_id, _text(data, "title", where), section, profile, automated, tuple(policies)
    )


def parse_framework(data: object, source: str) -> Framework:
    """A :class:`Framework` from a decoded file; ``source`` names it in errors."""
    top = _object(data, source)
    framework_id = _text(top, "id", source)
    if not FRAMEWORK_ID.match(framework_id):
        raise FrameworkError(f"{source}: 'id' must look like 'cis-aws-3.0'")
    sections = _object(top.get("sections"), f"{source}: 'sections'")
    if not sections or not all(isinstance(t, str) and t.strip() for t in sections.values()):
        raise FrameworkError(f"{source}: 'sections' must map ids to titles")
    controls = _object(top.get("controls"), f"{source}: 'controls'")
    if not controls:
        raise FrameworkError(f"{source}: 'controls' is empty")
    parsed = [_control(cid, value, sections, source) for cid, value in controls.items()]
    return Framework(
        id=framework_id,
        name=_text(top, "name", source),
        abbreviation=_text(top, "abbreviation", source),
        version=_text(top, "version", source),
        release=_text(top, "release", source),
        scope=_text(top, "scope", source),
        notes=str(top.get("notes") or ""),
        sections=dict(sorted(sections.items(), key=lambda item: numeric_key(item[0]))),
        controls=tuple(sorted(parsed, key=lambda c: numeric_key(c.id))),
    )


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise FrameworkError(f"repeated keys {repeated}")
    return dict(pairs)


def loads_framework(text: str, source: str) -> Framework:
    """Parse a framework file's text (JSON; a key repeated in one object is an error)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_repeated_keys)
    except FrameworkError as exc:
        raise FrameworkError(f"{source}: {exc}") from None
    except ValueError as exc:
        raise FrameworkError(f"{source}: not JSON: {exc}") from None
    return parse_framework(data, source)


@cache
def load_frameworks() -> Frameworks:
    """The framework files shipped in this package (read once)."""
    return read_frameworks(resources.files(__name__))


def read_frameworks(directory: Traversable) -> Frameworks:
    """Every ``*.json`` of ``directory``; a file's ``id`` must be its name."""
    frameworks: list[Framework] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".json"):
            continue
        framework = loads_framework(entry.read_text(encoding="utf-8"), entry.name)
        if f"{framework.id}.json" != entry.name:
            raise FrameworkError(f"{entry.name}: 'id' is {framework.id!r}, not the file's name")
        frameworks.append(framework)
    frameworks.sort(key=lambda f: (f.name, numeric_key(f.release)))
    return Frameworks(tuple(frameworks))
