"""A report table of typed cells: formatted for reading (Markdown, HTML), raw for machines (CSV).

A cell is text, an int, a float, an `Estimate` (a value with its confidence interval) or None
(undefined). Markdown and HTML show numbers rounded and None as —; the CSV keeps full precision,
leaves undefined cells empty and spreads an estimate over three columns: value, low, high.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from defectlab.report.tables import MISSING, fmt, html_grid, markdown_grid, with_interval


class Estimate(NamedTuple):
    """A point value with its (bootstrap) confidence interval; any part may be None."""

    value: float | None
    low: float | None = None
    high: float | None = None


Cell = str | int | float | Estimate | None


def show(cell: Cell, digits: int = 3) -> str:
    """Default display of a cell: floats with `digits` decimals, estimates as `value [low, high]`."""
    if cell is None:
        return MISSING
    if isinstance(cell, Estimate):
        return with_interval(cell.value, cell.low, cell.high, digits)
    if isinstance(cell, float):
        return fmt(cell, digits)
    return str(cell)


def show_p(cell: Cell) -> str:
    """A p-value: `<0.001` below 0.001, else three decimals; — when undefined."""
    if isinstance(cell, float) and math.isfinite(cell) and cell < 0.001:
        return "<0.001"
    return show(cell)


class Column(NamedTuple):
    """A column's title, how its cells are displayed, and whether it is right-aligned."""

    title: str
    display: Callable[[Any], str] = show
    numeric: bool = True


def text_column(title: str) -> Column:
    """A left-aligned column of names."""
    return Column(title, str, numeric=False)


def _raw(cell: Cell) -> list[str]:
    if isinstance(cell, Estimate):
        return [v for part in cell for v in _raw(part)]
    if cell is None or (isinstance(cell, float) and not math.isfinite(cell)):
        return [""]
    return [repr(cell) if isinstance(cell, float) else str(cell)]


@dataclass(frozen=True)
class DataTable:
    """A titled table; `name` is its file stem under tables/ (tables/<name>.csv)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def _display(self) -> tuple[list[str], list[list[str]], list[bool]]:
        header = [c.title for c in self.columns]
        rows = [[c.display(cell) for c, cell in zip(self.columns, row)] for row in self.rows]
        return header, rows, [c.numeric for c in self.columns]

    def markdown(self) -> str:
        """GitHub-flavoured Markdown table."""
        return markdown_grid(*self._display())

    def html(self) -> str:
        """HTML <table>, every cell escaped."""
        return html_grid(*self._display())

    def csv_bytes(self) -> bytes:
        """UTF-8 CSV with raw values; an estimate column becomes `<title>`, `<title> low`, `<title> high`."""
        widths = [3 if any(isinstance(r[i], Estimate) for r in self.rows) else 1 for i in range(len(self.columns))]
        header: list[str] = []
        for column, width in zip(self.columns, widths):
            header += [column.title] + ([f"{column.title} low", f"{column.title} high"] if width == 3 else [])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            cells: list[str] = []
            for cell, width in zip(row, widths):
                raw = _raw(cell)
                cells += raw + [""] * (width - len(raw))
            writer.writerow(cells)
        return buffer.getvalue().encode("utf-8")


def make_table(name: str, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> DataTable:
    """A DataTable; every row must have one cell per column."""
    bad = [i for i, row in enumerate(rows) if len(row) != len(columns)]
    if bad:
        raise ValueError(f"table {name}: row {bad[0]} has {len(rows[bad[0]])} cells for {len(columns)} columns")
    return DataTable(name, title, tuple(columns), tuple(tuple(r) for r in rows))
