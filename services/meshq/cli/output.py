"""How commands print: JSON, or a table in which ids and names are never cut.

- ``-o json``: the data, whole.
- ``-o table`` (default) and ``-o wide`` (more columns): when stdout is not a terminal (a
  pipe, a file), plain columns aligned with spaces under upper-case headers, as kubectl
  prints them, nothing cut, so ``awk '{print $1}'`` gets whole ids; the title goes to stderr.
  In a terminal, a table in which the key columns (ids and names) keep their full width:
  other columns wrap first, and are dropped from the right when even wrapped they do not fit;
  when the ids and names alone are wider than the terminal, one record per block
  (``NAME  value`` lines, as ``kubectl describe``), still nothing cut.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from typing import Any

import click

OUTPUTS = ("table", "wide", "json")
# Columns whose cells are ids or names: shown whole, always.
KEY_COLUMNS = frozenset({"id", "task id", "name", "room", "queue", "message id", "pool",
                         "path", "worker", "lease token", "service", "actor", "agent"})
PLAIN_GAP = "   "  # between plain columns, as kubectl
MIN_WRAPPED = 10  # characters a wrapped (non-key) column keeps in a terminal table
CELL_PADDING = 3  # rich's default box: one border and one space each side


def output_option(command: Any) -> Any:
    """Add ``-o/--output table|wide|json``; it arrives as ``output``."""
    return click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table",
                        show_default=True,
                        help="table; wide (more columns); json (everything).")(command)


def emit(output: str, data: Any, *, columns: Sequence[str] = (),
         rows: Sequence[Sequence[Any]] = (), title: str | None = None,
         wide: Collection[str] = ()) -> None:
    """Print ``data`` as JSON, or ``rows`` under ``columns`` (those in ``wide`` only with
    ``-o wide``)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    keep = [i for i, c in enumerate(columns) if output == "wide" or c not in wide]
    shown = [columns[i] for i in keep]
    cells = [["" if row[i] is None else str(row[i]) for i in keep] for row in rows]
    if not sys.stdout.isatty():
        if title:
            click.echo(title, err=True)
        click.echo(plain_table(shown, cells), nl=False)
        return
    from rich.console import Console

    console = Console()
    console.print(terminal_table(shown, cells, width=console.width, title=title),
                  soft_wrap=True)


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns, nothing cut: each column as wide as its longest cell."""
    if not columns:
        return ""
    lines = [[c.upper() for c in columns], *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "".join(PLAIN_GAP.join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip() + "\n" for line in lines)


def records(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """One block per row, a ``NAME  value`` line per column, blocks apart by a blank line."""
    width = max((len(c) for c in columns), default=0)
    return "\n".join("".join(f"{c.upper():<{width}}  {cell}\n"
                              for c, cell in zip(columns, row, strict=True)) for row in rows)


def terminal_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, width: int,
                   title: str | None = None) -> Any:
    """A rich table for a terminal ``width`` wide, whose key columns are never cut."""
    from rich.table import Table
    from rich.text import Text

    def needed(i: int) -> int:
        return max([len(columns[i]), *(len(r[i]) for r in rows)])

    keys = {i for i, c in enumerate(columns) if c in KEY_COLUMNS}
    shown = list(range(len(columns)))

    def total() -> int:
        return sum((needed(i) if i in keys else min(needed(i), MIN_WRAPPED)) + CELL_PADDING
                   for i in shown) + 1

    while total() > width and any(i not in keys for i in shown):
        shown.remove(max(i for i in shown if i not in keys))  # drop from the right
    if total() > width:  # the ids alone are wider than the terminal: a block per record
        heading = f"{title}\n\n" if title else ""
        return Text(heading + records(columns, rows).rstrip("\n"))
    table = Table(title=Text(title) if title else None)
    for i in shown:
        if i in keys:
            table.add_column(columns[i], no_wrap=True, min_width=needed(i))
        else:
            table.add_column(columns[i], overflow="fold")
    for row in rows:
        table.add_row(*(Text(row[i]) for i in shown))  # Text: a body's "[x]" is not markup
    return table
