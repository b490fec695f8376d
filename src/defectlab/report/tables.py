"""The results table (one row per result) as Markdown, HTML and fixed-width terminal text."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from defectlab.experiments.results import EvaluationResult

MISSING = "—"
HEADER = ("detector", "category", "image AUROC [95% CI]", "AUPRC", "F1 @ thr", "pixel AUROC", "AUPRO",
          "fit s", "ms/img")
_TEXT_COLUMNS = 2
"""The first columns hold names (left-aligned); the rest hold numbers (right-aligned)."""


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals, or — when it is None or not finite (undefined)."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.{digits}f}"


def _auroc_cell(result: EvaluationResult) -> str:
    value = fmt(result.metrics.get("image_auroc"))
    low, high = result.intervals.get("image_auroc", (None, None))
    if value == MISSING or fmt(low) == MISSING or fmt(high) == MISSING:
        return value
    return f"{value} [{fmt(low)}, {fmt(high)}]"


def table_rows(results: Sequence[EvaluationResult]) -> list[list[str]]:
    """The table's cells as strings, one list per result, in HEADER order."""
    rows = []
    for r in results:
        m = r.metrics
        rows.append([
            r.detector,
            r.category,
            _auroc_cell(r),
            fmt(m.get("image_auprc")),
            fmt(m.get("image_f1")),
            fmt(m.get("pixel_auroc")),
            fmt(m.get("aupro")),
            fmt(r.timings.get("fit_seconds"), 1),
            fmt(r.timings.get("ms_per_image"), 1),
        ])
    return rows


def markdown_table(results: Sequence[EvaluationResult]) -> str:
    """GitHub-flavoured Markdown table; numeric columns right-aligned, pipes escaped."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["---"] * _TEXT_COLUMNS + ["---:"] * (len(HEADER) - _TEXT_COLUMNS)
    return "\n".join([line(HEADER), "|" + "|".join(align) + "|"] + [line(row) for row in table_rows(results)])


def text_table(results: Sequence[EvaluationResult]) -> str:
    """Fixed-width plain-text table for a terminal."""
    rows = [list(HEADER)] + table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < _TEXT_COLUMNS else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule] + [line(row) for row in rows[1:]])


def html_table(results: Sequence[EvaluationResult]) -> str:
    """HTML <table> with every cell escaped; numeric cells carry class="num"."""
    def cells(row: Sequence[str], tag: str) -> str:
        attrs = [""] * _TEXT_COLUMNS + [' class="num"'] * (len(HEADER) - _TEXT_COLUMNS)
        return "".join(f"<{tag}{a}>{html.escape(c)}</{tag}>" for a, c in zip(attrs, row))

    head = f"<thead><tr>{cells(HEADER, 'th')}</tr></thead>"
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in table_rows(results))
    return f'<table class="results">{head}<tbody>{body}</tbody></table>'
