"""Write the benchmark suite's summary (suite.md) and tables (tables/*.csv) from its results.json."""

from __future__ import annotations

import json
from pathlib import Path

from defectlab.errors import DataError
from defectlab.fileio import atomic_write_bytes, atomic_write_text
from defectlab.report.suite_plots import ri_heatmaps_png
from defectlab.report.suite_tables import dataset_table, macro_table, shift_table


def suite_markdown(rows: list[dict]) -> str:
    """The three suite tables as Markdown."""
    return "\n\n".join(f"## {t.title}\n\n{t.markdown()}" for t in (macro_table(rows), dataset_table(rows), shift_table(rows)))


def write_suite_report(results_dir: str | Path) -> Path:
    """Write `suite.md` and `tables/*.csv` beside `results.json`; returns the Markdown file."""
    results_dir = Path(results_dir)
    file = results_dir / "results.json"
    if not file.is_file():
        raise DataError(f"{results_dir} holds no suite results ({file.name} is missing): run the suite first")
    envelope = json.loads(file.read_text())
    rows = envelope["rows"]
    for table in (macro_table(rows), dataset_table(rows), shift_table(rows)):
        atomic_write_bytes(results_dir / "tables" / f"{table.name}.csv", table.csv_bytes())
    picture = ""
    if any(r["phase"] != "clean" for r in rows):
        atomic_write_bytes(results_dir / "suite_ri.png", ri_heatmaps_png(rows))
        picture = "![Robustness Index per data set and shift](suite_ri.png)\n\n"
    seconds = envelope["timings"]["total_seconds"]
    header = f"# {envelope['config']['name']}\n\nseed {envelope['seed']}, {seconds:.0f} s, created {envelope['created']}\n\n"
    out = results_dir / "suite.md"
    atomic_write_text(out, header + picture + suite_markdown(rows) + "\n")
    return out
