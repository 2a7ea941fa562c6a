"""What every command receives: the global options, its output and its target.

The global options are defined once (:mod:`qrie_cli.options`) and accepted in both places::

    qrie --stack-name qrie-dev accounts sync        # on the root command
    qrie accounts sync --stack-name qrie-dev        # after the subcommand (this one wins)

Commands are registered on a :class:`CommandGroup`; its ``command`` decorator adds the global
options of the command's ``scope`` to the function's signature (so they show in its ``--help``)
and hands the function one :class:`Cli` in place of them::

    app = CommandGroup(name="accounts", help="...")

    @app.command("list")
    def accounts_list(cli: Cli, wide: WideOpt = False) -> None:
        with cli.session() as target:
            ...
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import typer

from qrie_cli.errors import guarded
from qrie_cli.options import JsonOpt, LocalOpt, RegionOpt, StackAfterOpt, StateDirOpt
from qrie_cli.output import Output
from qrie_cli.target import StateDir, Target, locate_state_dir, resolve_target

F = TypeVar("F", bound=Callable[..., Any])

Scope = Literal["stack", "local", "none"]
"""Which global options a command takes besides ``--json``: ``stack`` (``--local``,
``--stack-name``, ``--region``, ``--state-dir``: it talks to a stack), ``local``
(``--state-dir``: it manages the local stack) or ``none``."""

_GLOBALS: dict[str, tuple[Any, Any]] = {  # parameter -> (annotation, default)
    "json": (JsonOpt, False),
    "local": (LocalOpt, False),
    "stack_name": (StackAfterOpt, None),
    "region": (RegionOpt, None),
    "state_dir": (StateDirOpt, None),
}
_SCOPES: dict[str, tuple[str, ...]] = {
    "stack": ("json", "local", "stack_name", "region", "state_dir"),
    "local": ("json", "state_dir"),
    "none": ("json",),
}
_PREFIX = "global_"
_CONTEXT = "global_context"


@dataclass(frozen=True)
class GlobalOptions:
    """The global options of one command line (root and subcommand merged)."""

    json: bool = False
    local: bool = False
    stack_name: str | None = None
    region: str | None = None
    state_dir: Path | None = None

    def merged(self, given: dict[str, Any]) -> GlobalOptions:
        """These options overridden by those given after the subcommand (flags only add)."""
        return replace(self, **{k: v for k, v in given.items() if v not in (None, False)})


@dataclass
class Cli:
    """One command's invocation: its global options and its output."""

    options: GlobalOptions
    out: Output

    def output(self, wide: bool = False, progress: bool = True) -> Output:
        """The command's output, with its display options (``--wide``, ``--no-progress``)."""
        self.out.wide, self.out.progress = wide, progress
        return self.out

    def guarded(self) -> contextlib.AbstractContextManager[None]:
        """Errors met inside become a message and their exit code."""
        return guarded(self.out)

    @contextlib.contextmanager
    def session(self) -> Iterator[Target]:
        """The stack the command talks to (local or ``--stack-name``), errors handled."""
        with self.guarded():
            opts = self.options
            target = resolve_target(opts.local, opts.stack_name, opts.region, opts.state_dir)
            with target:
                yield target

    def state(self) -> StateDir:
        """The local stack's state directory (``--state-dir``, ``$QRIE_STATE_DIR`` or found)."""
        return locate_state_dir(self.options.state_dir)


def set_root_options(ctx: typer.Context, options: GlobalOptions) -> None:
    """Called by the root command with the options given before the subcommand."""
    ctx.obj = options


def with_global_options(func: Callable[..., Any], scope: Scope = "stack") -> Callable[..., Any]:
    """``func`` with the global options of ``scope`` added to its signature; its parameter
    annotated :class:`Cli` (if any) receives them merged with the root's."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.annotation is not Cli]
    cli_names = [p.name for p in signature.parameters.values() if p.annotation is Cli]
    names = _SCOPES[scope]
    added = [
        inspect.Parameter(
            _PREFIX + name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=_GLOBALS[name][0],
            default=_GLOBALS[name][1],
        )
        for name in names
    ]
    context = inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        ctx: typer.Context = kwargs.pop(_CONTEXT)
        given = {name: kwargs.pop(_PREFIX + name) for name in names}
        root = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
        options = root.merged(given)
        ctx.obj = options  # a group's options reach its subcommands
        for name in cli_names:
            kwargs[name] = Cli(options, Output(json=options.json))
        return func(*args, **kwargs)

    parameters = [*own, *added, context]
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


def _group_options(cli: Cli) -> None:
    """(A group's own callback: its global options are merged into the context.)"""


class CommandGroup(typer.Typer):
    """A group of commands (one noun): it and its commands take the global options of
    ``scope`` (a command may declare its own)."""

    def __init__(self, *, scope: Scope = "stack", **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(**kwargs)
        self.scope: Scope = scope
        self.callback()(with_global_options(_group_options, scope))

    def register(self, root: typer.Typer) -> None:
        """Add this group to the root command."""
        root.add_typer(self)

    def command(
        self, name: str | None = None, *, scope: Scope | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        register = super().command(name, **kwargs)

        def decorator(func: F) -> F:
            register(with_global_options(func, scope or self.scope))
            return func

        return decorator
