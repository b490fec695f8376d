"""The results table (one row per result) as Markdown, HTML and fixed-width terminal text,
and the generic Markdown/HTML grids it is rendered with."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from defectlab.workflows.results import EvaluationResult

MISSING = "—"
HEADER = (
    "detector",
    "category",
    "image AUROC [95% CI]",
    "AUPRC",
    "threshold",
    "precision",
    "recall",
    "F1",
    "false alarms",
    "pixel AUROC",
    "AUPRO",
    "fit s",
    "ms/img",
)
_TEXT_COLUMNS = 2
"""The first columns hold names (left-aligned); the rest hold numbers (right-aligned)."""


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals, or — when it is None or not finite (undefined)."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def with_interval(value: float | None, low: float | None, high: float | None, digits: int = 3) -> str:
    """`value [low, high]`, or just the value (or —) when it or the interval is undefined."""
    text = fmt(value, digits)
    if text == MISSING or fmt(low) == MISSING or fmt(high) == MISSING:
        return text
    return f"{text} [{fmt(low, digits)}, {fmt(high, digits)}]"


def _auroc_cell(result: EvaluationResult) -> str:
    low, high = result.intervals.get("image_auroc", (None, None))
    return with_interval(result.metrics.get("image_auroc"), low, high)


def table_rows(results: Sequence[EvaluationResult]) -> list[list[str]]:
    """The table's cells as strings, one list per result, in HEADER order."""
    rows = []
    for r in results:
        m = r.metrics
        rows.append(
            [
                r.detector,
                r.category,
                _auroc_cell(r),
                fmt(m.get("image_auprc")),
                r.threshold_method,
                fmt(m.get("image_precision")),
                fmt(m.get("image_recall")),
                fmt(m.get("image_f1")),
                fmt(m.get("image_false_alarm_rate")),
                fmt(m.get("pixel_auroc")),
                fmt(m.get("aupro")),
                fmt(r.timings.get("fit_seconds"), 1),
                fmt(r.timings.get("ms_per_image"), 1),
            ]
        )
    return rows


def _numeric_columns() -> list[bool]:
    return [False] * _TEXT_COLUMNS + [True] * (len(HEADER) - _TEXT_COLUMNS)


def markdown_grid(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """GitHub-flavoured Markdown table of string cells; `numeric` columns right-aligned, pipes escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---:" if n else "---" for n in numeric]
    return "\n".join([line(header), "|" + "|".join(align) + "|"] + [line(row) for row in rows])


def markdown_table(results: Sequence[EvaluationResult]) -> str:
    """GitHub-flavoured Markdown table; numeric columns right-aligned, pipes escaped."""
    return markdown_grid(HEADER, table_rows(results), _numeric_columns())


def text_table(results: Sequence[EvaluationResult]) -> str:
    """Fixed-width plain-text table for a terminal."""
    rows = [list(HEADER)] + table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < _TEXT_COLUMNS else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule] + [line(row) for row in rows[1:]])


def html_grid(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """HTML <table class="results"> of string cells, every cell escaped; `numeric` cells carry class="num"."""
    attrs = [' class="num"' if n else "" for n in numeric]

    def cells(row: Sequence[str], tag: str) -> str:
        return "".join(f"<{tag}{a}>{html.escape(c)}</{tag}>" for a, c in zip(attrs, row))

    head = f"<thead><tr>{cells(header, 'th')}</tr></thead>"
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f'<table class="results">{head}<tbody>{body}</tbody></table>'


def html_table(results: Sequence[EvaluationResult]) -> str:
    """HTML <table> with every cell escaped; numeric cells carry class="num"."""
    return html_grid(HEADER, table_rows(results), _numeric_columns())
