"""Tables that fit the terminal: identifiers whole, columns shortened or dropped by priority.

A table is declared as :class:`Column` specs (each says which field of a record it shows) and
printed for records (mappings, e.g. ``to_dict()``), laid out for the terminal's width:

1. Identifiers (account ids, job ids, policy ids: every column that does not ``wrap``) are never
   cut or wrapped; free-text columns (``wrap``) fold within their width, never below
   ``min_width``.
2. Cells with a ``short`` form (an ARN shown as its resource name, a time without microseconds)
   use it, unless ``--wide``.
3. While the table is wider than the terminal, the column with the highest ``priority`` goes
   (0: never dropped); the table's caption names what was dropped.
4. When even the priority-0 columns do not fit, each row becomes a short block: its ``head``
   columns on one line, then one ``name: value`` line per other column (nothing is lost).

``--wide`` shows every column at full length, whatever the terminal's width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from qrie_cli.output import Output

Justify = Literal["left", "right"]


Record = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """One column: ``get`` is the record's field it shows (a key, or a function of the record);
    ``priority`` 0 is never dropped, higher numbers go first; ``wrap`` marks free text (folded
    within ``min_width`` or more), anything else is an identifier shown whole; ``short``
    shortens a cell's text unless ``--wide``; ``head`` puts the cell on the first line of a
    row's block when the table does not fit at all."""

    header: str
    get: str | Callable[[Record], Any]
    priority: int = 0
    wrap: bool = False
    min_width: int = 16
    short: Callable[[str], str] | None = None
    head: bool = False
    justify: Justify = "left"

    def value(self, record: Record) -> Any:
        return self.get(record) if callable(self.get) else record.get(self.get)


def cell(value: Any) -> Text:
    """A cell's text, literal: rich never reads member-account text as markup."""
    if isinstance(value, Text):
        return value
    if value is None or value == "":
        return Text("-")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(v) for v in value) or "-")
    if isinstance(value, Mapping):
        return Text(", ".join(f"{k}={v}" for k, v in value.items()) or "-")
    return Text(str(value))


def _shortened(text: Text, column: Column) -> Text:
    if column.short is None or text.plain == "-":
        return text
    short = column.short(text.plain)
    return text if short == text.plain else Text(short, style=text.style)


def _width(text: Text) -> int:
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


def _new_table(title: str | None, caption: str | None) -> Table:
    return Table(
        title=Text(title, style="bold") if title else None,
        title_justify="left",
        caption=Text(caption, style="dim") if caption else None,
        caption_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )


@cache
def _overhead(columns: int) -> int:
    """Columns of a table's borders and padding (measured on rich's own layout)."""
    if columns == 0:
        return 0
    probe = _new_table(None, None)
    for _ in range(columns):
        probe.add_column(width=1)
    console = Console(width=1000)
    return Measurement.get(console, console.options, probe).maximum - columns


@dataclass(frozen=True)
class Layout:
    """What to print, and how wide it is."""

    renderable: RenderableType
    width: int


def layout(
    title: str | None,
    columns: Sequence[Column],
    records: Iterable[Record],
    width: int,
    wide: bool = False,
) -> Layout:
    """Lay the table out for ``width`` columns (see the module docstring)."""
    full = [[cell(c.value(record)) for c in columns] for record in records]
    if wide:
        return _table(title, columns, full, None, [])
    texts = [[_shortened(t, c) for t, c in zip(row, columns, strict=True)] for row in full]
    natural = [
        max([_width(Text(c.header)), *(_width(row[i]) for row in texts)])
        for i, c in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    dropped: list[int] = []

    def narrowest(index: int) -> int:
        column = columns[index]
        return min(natural[index], column.min_width) if column.wrap else natural[index]

    while sum(narrowest(i) for i in shown) + _overhead(len(shown)) > width:
        droppable = [i for i in shown if columns[i].priority > 0]
        if not droppable:
            return _blocks(title, columns, full, width)
        # the highest priority number goes first; among equals, the rightmost
        victim = max(droppable, key=lambda i: (columns[i].priority, i))
        shown.remove(victim)
        dropped.append(victim)
    widths = {i: narrowest(i) for i in shown}
    spare = width - sum(widths.values()) - _overhead(len(shown))
    # spare columns go to the free-text columns still short of their full length, one by one
    while spare > 0:
        short_of = [i for i in shown if columns[i].wrap and widths[i] < natural[i]]
        if not short_of:
            break
        needy = max(short_of, key=lambda i: natural[i] - widths[i])
        widths[needy] += 1
        spare -= 1
    caption = (
        "not shown at this width (--wide shows them): "
        + ", ".join(columns[i].header.lower() for i in sorted(dropped))
        if dropped
        else None
    )
    return _table(title, [columns[i] for i in shown], _pick(texts, shown), widths, shown, caption)


def _pick(texts: list[list[Text]], shown: list[int]) -> list[list[Text]]:
    return [[row[i] for i in shown] for row in texts]


def _table(
    title: str | None,
    columns: Sequence[Column],
    texts: list[list[Text]],
    widths: Mapping[int, int] | None,
    shown: list[int],
    caption: str | None = None,
) -> Layout:
    table = _new_table(title, caption)
    for position, column in enumerate(columns):
        fixed = widths[shown[position]] if widths is not None else None
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.wrap or widths is None,
            overflow="fold",
            width=fixed,
        )
    for row in texts:
        table.add_row(*row)
    console = Console(width=100_000)
    measured = Measurement.get(console, console.options, table).maximum
    return Layout(table, measured)


def _blocks(
    title: str | None, columns: Sequence[Column], texts: list[list[Text]], width: int
) -> Layout:
    """Each row as a block: its head cells on one line, then one line per other cell, named,
    its text folded under itself."""
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold"))
    for number, row in enumerate(texts):
        if number:
            parts.append(Text(""))
        head = [t for t, c in zip(row, columns, strict=True) if c.head]
        parts.append(Text("  ").join(head) if head else Text(""))
        details = Table.grid(padding=(0, 1), pad_edge=False)
        details.add_column(no_wrap=True, style="dim")
        details.add_column(overflow="fold")
        for text, column in zip(row, columns, strict=True):
            if not column.head and text.plain not in {"", "-"}:
                details.add_row(f" {column.header.lower()}:", text)
        if details.row_count:
            parts.append(details)
    return Layout(Group(*parts), width)


def print_table(
    out: Output, title: str | None, columns: Sequence[Column], records: Iterable[Record]
) -> None:
    """Lay a table of ``records`` out for the terminal (or at full width with ``--wide``) and
    print it."""
    if out.json:
        return
    result = layout(title, columns, records, out.width, wide=out.wide)
    out.print_wide(result.renderable, result.width)


def styled(value: Any, styles: Mapping[str, str]) -> Text:
    text = "" if value is None else str(value)
    return Text(text or "-", style=styles.get(text, styles.get(text.lower(), "")))
