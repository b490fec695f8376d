"""A report page's parts: a titled section with text, warnings, tables, figures and sub-sections,
rendered as HTML (figures inlined) and as Markdown (figures linked)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from defectlab.report.datatable import Column, DataTable, make_table, text_column
from defectlab.report.html_page import Plot, figure_html

SECTION_CSS = """
.scroll{overflow-x:auto}.caption{color:#555;font-size:.85em;margin-bottom:0}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}.figures{display:flex;flex-wrap:wrap;gap:1em}
"""


@dataclass
class Section:
    """A part of the page: text, warnings, tables, figures and collapsible sub-parts."""

    anchor: str
    title: str
    intro: str = ""
    tables: list[DataTable] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def section_html(section: Section, level: int = 2) -> str:
    """The section as HTML: an <h2> with its anchor at the top level; sub-sections as <details>."""
    esc = html.escape
    parts = [f"<p>{esc(section.intro)}</p>"] if section.intro else []
    parts += [f'<p class="note">{esc(note)}</p>' for note in section.notes]
    for table in section.tables:
        parts.append(
            f'<p class="caption">{esc(table.title)} (tables/{esc(table.name)}.csv)</p><div class="scroll">{table.html()}</div>'
        )
    if section.plots:
        parts.append(f'<div class="figures">{"".join(figure_html(p) for p in section.plots)}</div>')
    parts += [f"<details><summary>{esc(c.title)}</summary>{section_html(c, level + 1)}</details>" for c in section.children]
    heading = f'<h{level} id="{esc(section.anchor)}">{esc(section.title)}</h{level}>' if level == 2 else ""
    return heading + "".join(parts)


def section_markdown(section: Section, level: int = 2) -> list[str]:
    """The section as Markdown lines; tables inline, figures as links to their files."""
    lines = [f"{'#' * level} {section.title}", ""]
    lines += [section.intro, ""] if section.intro else []
    lines += [f"> {note}\n" for note in section.notes]
    for table in section.tables:
        lines += [f"**{table.title}** (`tables/{table.name}.csv`)", "", table.markdown(), ""]
    lines += [f"![{p.caption}]({p.path})\n" for p in section.plots]
    for child in section.children:
        lines += section_markdown(child, level + 1)
    return lines


def all_tables(sections: list[Section]) -> list[DataTable]:
    """Every table of the sections and their sub-sections, in page order."""
    return [t for s in sections for t in s.tables + all_tables(s.children)]


def timing_section(timings: dict[str, Any]) -> Section:
    """A study's wall time per step and in total (``{"steps": [{"step", "seconds"}], "total_seconds"}``)."""
    rows = [[s["step"], s["seconds"]] for s in timings["steps"]] + [["total", timings["total_seconds"]]]
    table = make_table("timings", "seconds per step", [text_column("step"), Column("seconds")], rows)
    return Section("timings", "Timings", "", tables=[table])
