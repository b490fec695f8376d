"""The HTML report of one open-set split, from its results.json and cascade/outcomes.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from defectlab.report.datatable import Column, make_table, text_column
from defectlab.report.html_page import Plot
from defectlab.report.openset_plots import confusion_png, oscr_png, score_histograms_png
from defectlab.report.page import PageInfo, load_results, write_page
from defectlab.report.sections import Section, timing_section

TITLE = "defectlab open-set study"
HOW_TO_READ = (
    "Known defect classes are learned; unknown ones appear only in the test set. One stage: the classifier "
    "on the whole image with an open-set score on its embeddings. Cascade: a detector fitted on defect-free "
    "images passes normal parts (no_defect), then stage 2 names the defect or calls it unknown_defect, fed the "
    "whole image (cascade_whole) or the stage-1 anomaly map's region (cascade_localized). Thresholds are set "
    "on known validation images only (95% accepted). Open-set scores: higher = more likely unknown; vim "
    "(virtual-logit matching) adds the embedding's part outside the known classes' principal subspace to the "
    "logits' verdict. OSCR is the area under correct-classification rate vs false-positive rate on unknowns."
)
METHOD_NAMES = {
    "mahalanobis": "Mahalanobis",
    "relative_mahalanobis": "relative Mahalanobis",
    "vim": "ViM",
    "msp": "maximum softmax probability",
    "max_logit": "max logit",
    "energy": "energy",
}
METRICS = (
    "closed_set_accuracy",
    "known_unknown_auroc",
    "fpr_at_95_tpr",
    "oscr",
    "macro_f1_with_unknown",
    "macro_f1_defects_only",
)


def write_openset_report(directory: Path) -> Path:
    """Write report.html, summary.md and tables/*.csv into the split folder ``directory``."""
    directory = Path(directory)
    metrics = load_results(directory)
    results: dict[str, dict[str, dict[str, float]]] = metrics["results"]
    columns = [text_column("approach"), text_column("method"), *(Column(m.replace("_", " ")) for m in METRICS)]
    rows = [
        [approach, method, *(values[m] for m in METRICS)]
        for approach, methods in results.items()
        for method, values in methods.items()
    ]
    sizes = metrics.get("sizes", {})
    table = make_table("openset_metrics", f"every approach and method ({sizes})", columns, rows)
    curves = metrics.get("curves", {})
    method = metrics.get("decision_method", "mahalanobis")  # runs before the setting existed used Mahalanobis
    shown = METHOD_NAMES.get(method, method)
    taus = {name: results[name][method]["threshold"] for name in curves if name in results}
    plots = [
        Plot("plots/oscr.png", f"OSCR curves ({shown})", oscr_png(curves, f"OSCR, {shown}")),
        Plot("plots/scores.png", "open-set scores, known vs unknown", score_histograms_png(curves, taus)),
    ]
    outcomes = _outcomes(directory / "cascade" / "outcomes.csv")
    if outcomes:
        labels = sorted({o for row in outcomes for o in (row["truth"], row["one_stage"], row["cascade_localized"])})
        truth = [row["truth"] for row in outcomes]
        for approach in ("one_stage", "cascade_whole", "cascade_localized"):
            plots.append(
                Plot(
                    f"plots/confusion_{approach}.png",
                    f"outcomes, {approach} ({shown})",
                    confusion_png(truth, [row[approach] for row in outcomes], labels, approach),
                )
            )
    notes = [f"stage-1 threshold {metrics.get('stage1_threshold'):.4g}; covariance estimators {metrics.get('covariance')}"]
    sections = [Section("results", "Results", tables=[table], plots=plots, notes=notes)]
    if metrics.get("timings"):
        sections.append(timing_section(metrics["timings"]))
    info = PageInfo(
        f"{TITLE}: split {metrics['config']['name']}",
        metrics.get("created", "?"),
        metrics.get("seed"),
        metrics.get("versions", {}),
        metrics.get("config"),
        HOW_TO_READ,
    )
    return write_page(directory, info, sections, {p.path: p.png for p in plots})


def _outcomes(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
