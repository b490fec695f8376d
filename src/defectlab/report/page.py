"""A whole report page: title, provenance, config, how-to-read text and sections, as HTML and Markdown."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from defectlab.errors import DataError
from defectlab.fileio import atomic_write_bytes
from defectlab.report.html_page import CSS
from defectlab.report.sections import SECTION_CSS, Section, all_tables, section_html, section_markdown

NAV_CSS = "nav ul{columns:2;font-size:.9em}\n"
RESULTS = "results.json"


def load_results(directory: Path) -> dict[str, Any]:
    """A study's results.json; DataError naming it when missing or malformed."""
    path = Path(directory) / RESULTS
    if not path.is_file():
        raise DataError(f"{path} not found: not a results directory (`defectlab run` writes one)")
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(results, dict):
        raise DataError(f"{path} does not hold a results object")
    return results


def results_job(directory: Path) -> str:
    """The ``job`` a results envelope names; DataError when there is no envelope or it names no job."""
    job = load_results(directory).get("job")
    if not isinstance(job, str):
        raise DataError(f"{Path(directory) / RESULTS} names no job: not a results envelope")
    return job


@dataclass(frozen=True)
class PageInfo:
    """What the page header says: title, creation time, seed, library versions, config and reading guide."""

    title: str
    created: str
    seed: Any
    versions: dict[str, str]
    config: dict[str, Any] | None
    how_to_read: str

    def versions_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.versions.items()) or "unknown"

    def config_yaml(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True) if self.config else "(none saved)\n"


def page_html(info: PageInfo, sections: list[Section]) -> str:
    """The self-contained HTML page (figures inlined)."""
    esc = html.escape
    nav = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in sections)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(info.title)}</title>'
        f"<style>{CSS}{SECTION_CSS}{NAV_CSS}</style></head><body><h1>{esc(info.title)}</h1>"
        f"<p>Created {esc(info.created)}; seed {esc(str(info.seed))}; versions: {esc(info.versions_text())}.</p>"
        f"<details><summary>Config</summary><pre>{esc(info.config_yaml())}</pre></details>"
        f"<h2>How to read this</h2><p>{esc(info.how_to_read)}</p><nav><ul>{nav}</ul></nav>"
        f"{''.join(section_html(s) for s in sections)}</body></html>\n"
    )


def page_markdown(info: PageInfo, sections: list[Section]) -> str:
    """The Markdown summary (figures linked to plots/)."""
    lines = [
        f"# {info.title}",
        "",
        f"Created {info.created}; seed {info.seed}; versions: {info.versions_text()}.",
        "Self-contained page with all figures: `report.html`.",
        "",
        "## Config",
        "",
        "```yaml",
        info.config_yaml().rstrip("\n"),
        "```",
        "",
        "## How to read this",
        "",
        info.how_to_read,
        "",
    ]
    for section in sections:
        lines += section_markdown(section)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_page(directory: Path, info: PageInfo, sections: list[Section], plots: dict[str, bytes]) -> Path:
    """Write plots, tables/*.csv, summary.md and report.html into ``directory``; returns report.html."""
    files = dict(plots)
    files.update({f"tables/{t.name}.csv": t.csv_bytes() for t in all_tables(sections)})
    files["summary.md"] = page_markdown(info, sections).encode("utf-8")
    files["report.html"] = page_html(info, sections).encode("utf-8")
    for name, data in files.items():
        atomic_write_bytes(directory / name, data)
    return directory / "report.html"
