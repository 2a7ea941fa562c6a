"""How a command prints: one JSON document for scripts, or rich text for people.

With ``--json`` a command prints exactly one JSON document on stdout and nothing else (notes and
errors go to stderr); otherwise rich tables and lines. Text is always printed literally: the
consoles parse no markup and no emoji codes, because most of what qrie shows (ARNs, evidence,
names, reasons) comes from member accounts, and a Sid such as ``[red]`` or ``[/x]`` must be
shown as written, never restyle a row or crash the command.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import IO, Any

import typer
from rich.console import Console, RenderableType
from rich.text import Text

NON_TTY_WIDTH = 160  # CI logs and pipes: do not squeeze tables into 80 columns


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def make_console(stream: IO[str] | None = None, width: int | None = None) -> Console:
    """A console that prints text literally (no markup, no emoji codes, no highlighting).
    Its width: ``width``, else the terminal's (``$COLUMNS`` wins), else 160 off a terminal."""
    stream = stream or sys.stdout
    if width is None and not stream.isatty() and not os.environ.get("COLUMNS"):
        width = NON_TTY_WIDTH
    return Console(
        file=stream, width=width, markup=False, emoji=False, highlight=False, soft_wrap=False
    )


@dataclass
class Output:
    """``json``: one JSON document on stdout; ``progress`` False: plain lines instead of live
    bars; ``wide``: tables with every column at full width, whatever the terminal's width."""

    json: bool = False
    progress: bool = True
    wide: bool = False
    _console: Console | None = field(default=None, repr=False)
    _err: Console | None = field(default=None, repr=False)

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console(sys.stdout)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = make_console(sys.stderr)
        return self._err

    @property
    def width(self) -> int:
        """Columns available to tables."""
        return self.console.width

    @property
    def live(self) -> bool:
        return self.progress and not self.json

    def emit(self, value: Any) -> None:
        """The command's JSON document (``--json``)."""
        typer.echo(dumps(value))

    def print(self, *objects: RenderableType) -> None:
        """Human output (nothing in JSON mode); strings are printed literally."""
        if not self.json:
            self.console.print(*(_literal(o) for o in objects))

    def print_wide(self, renderable: RenderableType, width: int) -> None:
        """Print at ``width`` columns even on a narrower terminal (``--wide``)."""
        if self.json:
            return
        if width <= self.console.width:
            self.console.print(renderable)
            return
        make_console(self.console.file, width=width).print(renderable)

    def note(self, message: str | Text) -> None:
        """A message beside the result: stdout for people, stderr in JSON mode."""
        (self.err if self.json else self.console).print(_literal(message), soft_wrap=True)

    def error(self, message: str) -> None:
        """One line on stderr (the terminal wraps it, rich does not)."""
        self.err.print(Text(f"error: {message}", style="red"), soft_wrap=True)


def _literal(value: RenderableType) -> RenderableType:
    return Text(value) if isinstance(value, str) else value
