"""``python -m bench.mutation [GROUP ...]`` (``make mutation``): mutation testing with mutmut.

Each group of ``[tool.qrie.mutation.groups]`` in pyproject.toml names the files to mutate and
the unit tests that own them; the group runs in a workspace of its own (``.mutation/<group>/``)
with ``[tool.mutmut]``'s settings plus its files (``only_mutate``) and tests
(``pytest_add_cli_args_test_selection``), so that a module is judged by its own tests only.
mutmut keeps its results there: a later run tests only the functions that changed, and the
mutants that survived last time again (tests may have been added since). ``--fresh`` starts a
group over.

Two adaptations, both semantics-preserving, are made to the workspace's copy of the files to
mutate: mutmut 3 leaves decorated functions alone, and every policy evaluator is declared with
``@policy(...)``; so a module-level function's decorators are rewritten as an assignment after
it (``def f(...)`` then ``f = policy(...)(f)``: what a decorator means). And a statement that
only logs (``logger.warning(...)``) is fenced with ``# pragma: no mutate start``/``end``: the
text of a log line is not behaviour, and its mutants would be noise in the score.

Prints one row per mutated file and one per group (mutants, killed, timeout, survived, no
tests, score = (killed + timeout) / mutants), and the survivors, marking those listed as
equivalent in ``docs/mutation-equivalent.toml``. Exits 1 when a file scores below the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst  # mutmut's own dependency

ROOT = Path(__file__).resolve().parent.parent
WORKSPACES = ROOT / ".mutation"
EQUIVALENTS = ROOT / "docs" / "mutation-equivalent.toml"

# mutmut's exit codes (mutmut.stats.status_by_exit_code, 3.8.1)
KILLED = {1, 3, 37}
TIMEOUT = {24, -24, 36, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class Group:
    name: str
    mutate: tuple[str, ...]
    tests: tuple[str, ...]
    deselect: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()  # only these ("func", "Class.method"); empty: all


@dataclass(frozen=True)
class Settings:
    mutmut: dict[str, Any]
    pytest: dict[str, Any]
    groups: dict[str, Group]
    goal: float
    max_children: int
    resources: tuple[str, ...] = ()


def load_settings(pyproject: Path = ROOT / "pyproject.toml") -> Settings:
    data = tomllib.loads(pyproject.read_text("utf-8"))
    tool = data.get("tool", {})
    own = tool.get("qrie", {}).get("mutation", {})
    groups = {
        name: Group(
            name,
            tuple(spec["mutate"]),
            tuple(spec["tests"]),
            tuple(spec.get("deselect", ())),
            tuple(spec.get("functions", ())),
        )
        for name, spec in own.get("groups", {}).items()
    }
    if not groups:
        raise SystemExit("pyproject.toml: no [tool.qrie.mutation.groups]")
    return Settings(
        mutmut=dict(tool.get("mutmut", {})),
        pytest=dict(tool.get("pytest", {}).get("ini_options", {})),
        groups=groups,
        goal=float(own.get("goal", 90.0)),
        max_children=int(own.get("max_children", 2)),
        resources=tuple(own.get("resources", ())),
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _toml_table(name: str, table: dict[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{key} = {_toml_value(v)}" for key, v in table.items()]
    return "\n".join(lines) + "\n"


def workspace_pyproject(settings: Settings, group: Group) -> str:
    """The pyproject.toml of a group's workspace: mutmut's settings for the group, and the
    project's pytest settings (mutmut copies the file beside the tests it runs)."""
    mutmut = dict(settings.mutmut)
    mutmut["only_mutate"] = list(group.mutate)
    selection = list(group.tests)
    for node in group.deselect:
        selection += ["--deselect", node]
    mutmut["pytest_add_cli_args_test_selection"] = selection
    mutmut["also_copy"] = list(settings.mutmut.get("also_copy", [])) + list(settings.resources)
    return (
        _toml_table("tool.mutmut", mutmut)
        + "\n"
        + _toml_table("tool.pytest.ini_options", settings.pytest)
    )


# ---------------------------------------------------------------- the workspace's source
LOGGERS = frozenset({"logger"})  # a statement calling one of these only logs: not mutated


def _is_log_statement(statement: Any) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    expr = statement.body[0]
    return (
        isinstance(expr, cst.Expr)
        and isinstance(expr.value, cst.Call)
        and isinstance(expr.value.func, cst.Attribute)
        and isinstance(expr.value.func.value, cst.Name)
        and expr.value.func.value.value in LOGGERS
    )


def _fenced(statement: Any) -> list[Any]:
    """``statement`` between ``# pragma: no mutate start`` and ``end`` (the end before a ``pass``
    after it): mutmut leaves all its lines alone."""
    start = cst.EmptyLine(comment=cst.Comment("# pragma: no mutate start"))
    end = cst.EmptyLine(comment=cst.Comment("# pragma: no mutate end"))
    return [
        statement.with_changes(leading_lines=[*statement.leading_lines, start]),
        cst.SimpleStatementLine([cst.Pass()], leading_lines=[end]),
    ]


def _body_without_log_mutants(body: Sequence[Any]) -> list[Any]:
    """Log statements fenced off: a log message is not behaviour."""
    out: list[Any] = []
    for statement in body:
        out += _fenced(statement) if _is_log_statement(statement) else [statement]
    return out


def _only_functions(body: Sequence[Any], keep: set[str], prefix: str = "") -> list[Any]:
    """The functions (and methods of module-level classes) not named in ``keep`` fenced off."""
    out: list[Any] = []
    for statement in body:
        if isinstance(statement, cst.FunctionDef) and f"{prefix}{statement.name.value}" not in keep:
            out += _fenced(statement)
        elif isinstance(statement, cst.ClassDef) and not prefix:
            inner = _only_functions(statement.body.body, keep, f"{statement.name.value}.")
            out.append(statement.with_changes(body=statement.body.with_changes(body=inner)))
        else:
            out.append(statement)
    return out


def _undecorated_body(body: Sequence[Any]) -> list[Any]:
    """``@d(...) def f`` at module level as ``def f`` followed by ``f = d(...)(f)``, so that
    mutmut mutates ``f`` (it skips decorated functions). Same meaning."""
    out: list[Any] = []
    for statement in body:
        if (
            not isinstance(statement, cst.FunctionDef)
            or not statement.decorators
            or statement.asynchronous is not None
        ):
            out.append(statement)
            continue
        name = statement.name.value
        wrapped: cst.BaseExpression = cst.Name(name)
        for decorator in reversed(statement.decorators):
            wrapped = cst.Call(func=decorator.decorator, args=[cst.Arg(wrapped)])
        leading = statement.decorators[0].leading_lines
        out.append(statement.with_changes(decorators=[], leading_lines=leading))
        out.append(
            cst.SimpleStatementLine(
                [cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=wrapped)]
            )
        )
    return out


def prepare_source(source: str, functions: Sequence[str] = ()) -> str:
    """The workspace's copy of a file to mutate: module-level functions undecorated, log
    statements fenced off, and when ``functions`` names some, every other function fenced off
    too (see above). Same meaning as the original."""
    keep = set(functions)

    class Fence(cst.CSTTransformer):
        def __init__(self) -> None:
            super().__init__()
            self.scope: list[str] = []  # enclosing class and function names
            self.skipped = 0  # inside a function that is fenced off as a whole

        def _enter(self, name: str, is_function: bool) -> None:
            self.scope.append(name)
            qualified = ".".join(self.scope)
            if keep and is_function and len(self.scope) <= 2 and qualified not in keep:
                self.skipped += 1

        def _leave(self, is_function: bool) -> None:
            qualified = ".".join(self.scope)
            if keep and is_function and len(self.scope) <= 2 and qualified not in keep:
                self.skipped -= 1
            self.scope.pop()

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            self._enter(node.name.value, False)

        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            self._leave(False)
            return updated

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self._enter(node.name.value, True)

        def leave_FunctionDef(
            self, original: cst.FunctionDef, updated: cst.FunctionDef
        ) -> cst.FunctionDef:
            self._leave(True)
            return updated

        def leave_IndentedBlock(
            self, original: cst.IndentedBlock, updated: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            if self.skipped:  # fenced as a whole: no fence inside a fence
                return updated
            return updated.with_changes(body=_body_without_log_mutants(updated.body))

    module = cst.parse_module(source).visit(Fence())
    body = _body_without_log_mutants(module.body)
    if keep:
        body = _only_functions(body, keep)
    return module.with_changes(body=_undecorated_body(body)).code


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text("utf-8") == text:
        return  # same mtime: mutmut keeps the file's mutants
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def sync_source(workspace: Path, group: Group) -> None:
    """The workspace's ``src``: the project's, its files to mutate undecorated. Other files keep
    their mtime; mutmut's own copy (``mutants/src``) of a file that changed is removed, as
    mutmut copies a file it does not mutate only when it has no copy yet."""
    source_root, target_root = ROOT / "src", workspace / "src"
    seen: set[Path] = set()
    for path in sorted(source_root.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        relative = path.relative_to(source_root)
        seen.add(relative)
        target = target_root / relative
        if str(Path("src") / relative) in group.mutate:
            _write_if_changed(target, prepare_source(path.read_text("utf-8"), group.functions))
            continue
        copied = workspace / "mutants" / "src" / relative
        if not target.exists() or target.read_bytes() != path.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied.unlink(missing_ok=True)
    for target in [p for p in target_root.rglob("*") if p.is_file()]:
        relative = target.relative_to(target_root)
        if relative not in seen and "__pycache__" not in relative.parts:
            target.unlink()
            (workspace / "mutants" / "src" / relative).unlink(missing_ok=True)


def prepare(settings: Settings, group: Group, fresh: bool) -> Path:
    workspace = WORKSPACES / group.name
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    _write_if_changed(workspace / "pyproject.toml", workspace_pyproject(settings, group))
    for name in ("tests", *settings.resources):  # what the tests read, beside them
        link = workspace / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=(ROOT / name).is_dir())
    sync_source(workspace, group)
    retest_survivors(workspace, group)
    return workspace


# ---------------------------------------------------------------- results
def _meta_path(workspace: Path, file: str) -> Path:
    return workspace / "mutants" / f"{file}.meta"


def retest_survivors(workspace: Path, group: Group) -> None:
    """Forget the verdicts that were not kills: tests may have been added since."""
    for file in group.mutate:
        meta = _meta_path(workspace, file)
        if not meta.exists():
            continue
        data = json.loads(meta.read_text("utf-8"))
        codes: dict[str, int | None] = data.get("exit_code_by_key", {})
        stale = [k for k, code in codes.items() if code is not None and code not in KILLED]
        if stale:
            codes.update(dict.fromkeys(stale))
            meta.write_text(json.dumps(data, indent=4), "utf-8")


@dataclass
class Score:
    label: str
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    other: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.killed + self.timeout + self.survived + self.no_tests + self.other

    @property
    def score(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.total if self.total else 100.0

    def add(self, other: Score) -> None:
        self.survivors += other.survivors
        self.killed += other.killed
        self.timeout += other.timeout
        self.survived += other.survived
        self.no_tests += other.no_tests
        self.other += other.other


def file_score(workspace: Path, file: str) -> Score:
    score = Score(file.removeprefix("src/qrie/"))
    meta = _meta_path(workspace, file)
    if not meta.exists():
        return score
    codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    for name, code in sorted(codes.items()):
        if code in KILLED:
            score.killed += 1
        elif code in TIMEOUT:
            score.timeout += 1
        elif code in SURVIVED:
            score.survived += 1
            score.survivors.append(name)
        elif code in NO_TESTS:
            score.no_tests += 1
            score.survivors.append(name)
        elif code is None:
            score.other += 1  # not run yet (an interrupted run)
        else:
            score.no_tests += 1  # any other exit: not killed
            score.survivors.append(name)
    return score


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutant name -> why it is equivalent (``[[mutant]]`` tables: name, reason)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text("utf-8"))
    return {str(m["name"]): str(m["reason"]) for m in data.get("mutant", [])}


def table(rows: Sequence[Score], equivalents: Iterable[str] = ()) -> str:
    """One line per row; ``equivalent``: survivors listed in docs/mutation-equivalent.toml."""
    known = set(equivalents)
    head = (
        f"| {'module':<22} | mutants | killed | timeout | survived | no tests "
        "| not run | equivalent | score |"
    )
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for row in rows:
        equivalent = sum(1 for name in row.survivors if name in known)
        lines.append(
            f"| {row.label:<22} | {row.total:>7} | {row.killed:>6} | {row.timeout:>7} "
            f"| {row.survived:>8} | {row.no_tests:>8} | {row.other:>7} | {equivalent:>10} "
            f"| {row.score:>4.1f}% |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- running
def run_group(workspace: Path, max_children: int, quiet: bool) -> int:
    log = workspace / "mutmut.log"
    command = [str(Path(sys.executable).parent / "mutmut"), "run", "--max-children"]
    command.append(str(max_children))
    env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true", "PYTHONHASHSEED": "0"}
    with log.open("w") as out:
        done = subprocess.run(
            command,
            cwd=workspace,
            env=env,
            stdout=out if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            check=False,
        )
    if done.returncode != 0 and quiet:
        sys.stdout.write(log.read_text("utf-8", errors="replace")[-4000:])
    return done.returncode


def main(argv: Iterable[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__)
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=", ".join(settings.groups))
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--report", action="store_true", help="print the last results only")
    parser.add_argument("--max-children", type=int, default=settings.max_children)
    parser.add_argument("--verbose", action="store_true", help="show mutmut's own output")
    args = parser.parse_args(list(argv) if argv is not None else None)
    names = args.groups or list(settings.groups)
    unknown = sorted(set(names) - set(settings.groups))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; valid: {', '.join(settings.groups)}")
    equivalents = load_equivalents()

    rows: list[Score] = []
    survivors: list[str] = []
    failed: list[str] = []
    for name in names:
        group = settings.groups[name]
        workspace = WORKSPACES / name
        if not args.report:
            workspace = prepare(settings, group, args.fresh)
            print(f"mutmut: {name} ({', '.join(group.mutate)})", flush=True)
            if run_group(workspace, args.max_children, not args.verbose) != 0:
                failed.append(name)
        total = Score(f"{name} (all)")
        for file in group.mutate:
            score = file_score(workspace, file)
            rows.append(score)
            total.add(score)
            survivors += score.survivors
        if len(group.mutate) > 1:
            rows.append(total)
    print()
    print(table(rows, equivalents))
    if survivors:
        print(f"\nnot killed ({len(survivors)}; = listed as equivalent):")
        for survivor in survivors:
            mark = "=" if survivor in equivalents else " "
            print(f" {mark} {survivor}")
    low = [r.label for r in rows if r.total and r.score < settings.goal]
    if failed:
        print(f"\nmutmut failed for: {', '.join(failed)} (see .mutation/<group>/mutmut.log)")
    if low:
        print(f"\nbelow the {settings.goal:.0f}% goal: {', '.join(low)}")
    return 1 if failed or low else 0


if __name__ == "__main__":
    sys.exit(main())
