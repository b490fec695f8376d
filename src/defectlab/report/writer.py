"""Write a detection run's report from its results envelope: summary.md, a self-contained report.html, plots and score CSVs."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.errors import DataError
from defectlab.fileio import atomic_write_bytes, jsonable
from defectlab.report import plots
from defectlab.report.html_page import CSS, Plot, figure_html
from defectlab.report.tables import html_table, markdown_table
from defectlab.workflows.results import EvaluationResult

HOW_TO_READ = (
    "Each row is one detector evaluated on one category's held-out test set. Image AUROC is the "
    "chance that a random anomalous image scores higher than a random normal one (0.5 is guessing, "
    "1 is perfect), with a bootstrap 95% confidence interval; AUPRC summarises precision against "
    "recall and depends on how many test images are anomalous. F1 is measured at the calibrated "
    "threshold, the one a deployed model would use. Pixel AUROC and AUPRO rate localisation and "
    "need ground-truth masks (— when there are none or the figure is undefined). In the histograms, "
    "normal and anomalous scores should separate on either side of the dashed threshold; in the "
    "example grids, the overlay should light up on the defect and stay cool on good images."
)


def _slugs(results: list[EvaluationResult]) -> list[str]:
    """File-name-safe `<detector>_<category>` per result, made unique with -2, -3, ..."""
    seen: dict[str, int] = {}
    out = []
    for r in results:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{r.detector}_{r.category}").strip("-") or "result"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def _scores_csv(result: EvaluationResult) -> bytes:
    ids, labels, scores = list(result.ids), np.asarray(result.labels), np.asarray(result.scores, dtype=np.float64)
    if not len(ids) == len(labels) == len(scores):
        raise DataError(f"{result.name}: {len(ids)} ids, {len(labels)} labels and {len(scores)} scores differ")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "label", "score", "decision"])
    for sample_id, label, score in zip(ids, labels.tolist(), scores.tolist()):
        writer.writerow([sample_id, int(label), repr(score), "anomalous" if score >= result.threshold else "normal"])
    return buffer.getvalue().encode("utf-8")


def _make_plots(results: list[EvaluationResult], slugs: list[str]) -> tuple[list[Plot], list[str]]:
    """The figures and notes on what was skipped and why."""
    figures: list[Plot] = []
    notes: list[str] = []
    skipped = [r.name for r in results if not plots.has_both_classes(r)]
    if skipped:
        notes.append(f"ROC and PR curves skipped for {', '.join(skipped)}: the test set has only one class.")
    if len(skipped) < len(results):
        figures.append(Plot("plots/roc.png", "ROC curves", plots.roc_png(results)))
        figures.append(Plot("plots/pr.png", "Precision-recall curves", plots.pr_png(results)))
    for r, slug in zip(results, slugs):
        figures.append(Plot(f"plots/hist_{slug}.png", f"Score histogram: {r.name}", plots.histogram_png(r)))
        if r.most_anomalous or r.least_anomalous:
            figures.append(Plot(f"plots/examples_{slug}.png", f"Examples: {r.name}", plots.overlay_grid_png(r)))
        else:
            notes.append(f"No example images were kept for {r.name}.")
    return figures, notes


def _markdown(title: str, created: str, results: list[EvaluationResult], figures: list[Plot], notes: list[str]) -> str:
    lines = [
        f"# {title}",
        "",
        f"Created {created}. All numbers: `results.json`; self-contained report with plots: `report.html`.",
        "",
        markdown_table(results),
        "",
    ]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    lines += ["## Plots", ""] + [f"![{p.caption}]({p.path})\n" for p in figures]
    return "\n".join(lines)


def _html(
    title: str, created: str, results: list[EvaluationResult], figures: list[Plot], notes: list[str], meta: dict[str, Any]
) -> str:
    esc = html.escape
    figures_html = "".join(figure_html(p) for p in figures)
    note_html = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    details = esc(json.dumps(meta, indent=2, ensure_ascii=False))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><p>Created {esc(created)}.</p>"
        f"<h2>Results</h2>{html_table(results)}{note_html}<h2>How to read this</h2><p>{esc(HOW_TO_READ)}</p>"
        f"<h2>Plots</h2>{figures_html}"
        f"<details><summary>Config and provenance</summary><pre>{details}</pre></details></body></html>\n"
    )


def write_report(out_dir: Path, results: list[EvaluationResult], title: str, envelope: dict[str, Any]) -> dict[str, Path]:
    """Write the report of ``results`` under `out_dir`; returns {relative name: path} of every file written.

    ``envelope``: the run's results.json content (its ``created`` time is the page's; its config and
    provenance are shown, the figures are not repeated). Each file is written to a temporary name and
    renamed into place, so readers never see half a file.
    """
    if not results:
        raise DataError("write_report needs at least one result")
    out_dir = Path(out_dir)
    created = str(envelope.get("created", "?"))
    slugs = _slugs(results)
    figures, notes = _make_plots(results, slugs)

    files: dict[str, bytes] = {p.path: p.png for p in figures}
    for r, slug in zip(results, slugs):
        files[f"{slug}_scores.csv"] = _scores_csv(r)
    meta = jsonable({k: v for k, v in envelope.items() if k != "results"})
    files["summary.md"] = _markdown(title, created, results, figures, notes).encode("utf-8")
    files["report.html"] = _html(title, created, results, figures, notes, meta).encode("utf-8")

    written = {}
    for name, data in files.items():
        atomic_write_bytes(out_dir / name, data)
        written[name] = out_dir / name
    return written
