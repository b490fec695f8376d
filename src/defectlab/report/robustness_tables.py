"""The robustness report's tables, built from saved results (nothing is recomputed but averages,
group recalls/AUROCs and calibration from the saved per-image arrays).

Each phase's builder returns a DataTable, or None when the results hold no evaluation of that phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from defectlab.analysis.errors import Reliability, group_detection, size_bins
from defectlab.metrics.image import threshold_metrics
from defectlab.report.datatable import Cell, Column, DataTable, Estimate, make_table, show, show_p, text_column
from defectlab.report.robustness_results import Arrays, Evaluation, Results, find, headline, of_phase

LABELS = {"image_auroc": "AUROC", "image_auprc": "AUPRC", "image_f1": "F1", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}
EXTRA = ("image_auprc", "image_f1", "pixel_auroc", "aupro")
MACRO = "macro average"


def _auroc(e: Evaluation | None) -> Estimate | None:
    """Image AUROC of `e` with its bootstrap interval (None when there is no evaluation)."""
    if e is None:
        return None
    low, high = e.intervals.get("image_auroc", (None, None))
    return Estimate(e.metrics.get("image_auroc"), low, high)


def _variant_text(variant: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def _value(e: Evaluation | None, metric: str) -> float | None:
    return None if e is None else e.metrics.get(metric)


def _present(evaluations: Sequence[Evaluation | None], metric: str) -> bool:
    return any(_value(e, metric) is not None for e in evaluations)


def _extra_metrics(evaluations: Sequence[Evaluation]) -> tuple[list[Column], Callable[[Evaluation], list[Cell]]]:
    """Columns for the EXTRA metrics any of `evaluations` has, and the cells of one evaluation."""
    shown = [m for m in EXTRA if _present(evaluations, m)]
    return [Column(LABELS[m]) for m in shown], lambda e: [e.metrics.get(m) for m in shown]


def _k(e: Evaluation) -> int:
    """The variant's k for sorting (-1 when it is missing or not an integer)."""
    k = e.variant.get("k")
    return k if isinstance(k, int) else -1


def _average(cells: Sequence[Cell]) -> Cell:
    """Mean of the defined numbers among `cells` (estimates by value, no interval); None if none."""
    values = [c.value if isinstance(c, Estimate) else c for c in cells]
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    mean = sum(numbers) / len(numbers) if numbers else None
    return Estimate(mean) if any(isinstance(c, Estimate) for c in cells) else mean


def headline_table(results: Results) -> DataTable | None:
    """Clean / no adaptation / adapted per category, detector and shift, with the Robustness Index
    and a macro average over categories per detector and shift (when there are several categories)."""
    rows = headline(results.evaluations)
    if not rows:
        return None
    triples = [(h.clean, h.no_adaptation, h.adapted) for h in rows]
    extra = [m for m in EXTRA if _present([e for t in triples for e in t], m)]
    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("shift"),
        Column("clean AUROC"),
        Column("no-adapt AUROC"),
        Column("adapted AUROC"),
        Column("RI no-adapt"),
        Column("RI adapted"),
    ]
    columns += [Column(f"{LABELS[m]} {p}") for m in extra for p in ("clean", "no-adapt", "adapted")]
    cells = [
        [
            h.category,
            h.detector,
            h.shift,
            _auroc(h.clean),
            _auroc(h.no_adaptation),
            _auroc(h.adapted),
            None if h.no_adaptation is None else h.no_adaptation.ri.get("image_auroc"),
            None if h.adapted is None else h.adapted.ri.get("image_auroc"),
        ]
        + [_value(e, m) for m in extra for e in (h.clean, h.no_adaptation, h.adapted)]
        for h in rows
    ]
    if len({h.category for h in rows}) > 1:
        for detector, shift in dict.fromkeys((h.detector, h.shift) for h in rows):
            group = [row for row, h in zip(cells, rows) if (h.detector, h.shift) == (detector, shift)]
            cells.append([MACRO, detector, shift] + [_average(column) for column in list(zip(*group))[3:]])
    return make_table("headline", "Clean vs shifted vs adapted", columns, cells)


def comparisons_table(results: Results) -> DataTable | None:
    """Paired tests between detectors on the same test set."""
    if not results.comparisons:
        return None
    columns = [
        text_column("category"),
        text_column("phase"),
        text_column("shift"),
        text_column("variant"),
        text_column("A"),
        text_column("B"),
        text_column("metric"),
        Column("A value"),
        Column("B value"),
        Column("difference A-B"),
        Column("p", show_p),
        text_column("test"),
    ]
    rows = [
        [
            c.category,
            c.phase,
            c.shift,
            _variant_text(c.variant),
            c.a,
            c.b,
            c.metric,
            c.value_a,
            c.value_b,
            Estimate(c.difference, *(c.ci or (None, None))),
            c.p_value,
            c.method,
        ]
        for c in results.comparisons
    ]
    return make_table("paired_tests", "Paired tests", columns, rows)


def few_shot_table(results: Results) -> DataTable | None:
    """Few-shot adaptation per k, next to the no-adaptation and full-refit levels of the same shift."""
    evals = sorted(
        of_phase(results.evaluations, "few_shot"),
        key=lambda e: (e.category, e.detector, e.shift, str(e.variant.get("method", "")), _k(e)),
    )
    if not evals:
        return None
    extra, cells = _extra_metrics(evals)
    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("shift"),
        text_column("method"),
        Column("k", str),
        Column("AUROC"),
        *extra,
        Column("no adaptation"),
        Column("full refit"),
    ]
    rows = [
        [
            e.category,
            e.detector,
            e.shift,
            str(e.variant.get("method", "")),
            e.variant.get("k"),
            _auroc(e),
            *cells(e),
            *(
                _value(find(results.evaluations, phase, e.category, e.detector, e.shift), "image_auroc")
                for phase in ("shift_no_adaptation", "shift_adapted")
            ),
        ]
        for e in evals
    ]
    return make_table("few_shot", "Few-shot adaptation", columns, rows)


def global_table(results: Results) -> DataTable | None:
    """One model for all categories vs a model per category, on the same test set."""
    evals = of_phase(results.evaluations, "global")
    if not evals:
        return None
    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("shift"),
        text_column("global train"),
        Column("global AUROC"),
        Column("per-category AUROC"),
        Column("difference"),
    ]
    rows = []
    for e in evals:
        own = find(
            results.evaluations,
            "clean" if e.shift == "none" else "shift_adapted",
            e.category,
            e.detector,
            None if e.shift == "none" else e.shift,
        )
        mine, theirs = _value(e, "image_auroc"), _value(own, "image_auroc")
        rows.append(
            [
                e.category,
                e.detector,
                e.shift,
                e.train,
                _auroc(e),
                _auroc(own),
                None if mine is None or theirs is None else mine - theirs,
            ]
        )
    return make_table("global_vs_per_category", "Global vs per-category model", columns, rows)


def cross_domain_table(results: Results) -> DataTable | None:
    """Transfer from a source to a target category, with k target images (k=0: no adaptation)."""
    evals = sorted(
        of_phase(results.evaluations, "cross_domain"),
        key=lambda e: (str(e.variant.get("source")), str(e.variant.get("target")), e.detector, _k(e)),
    )
    if not evals:
        return None
    extra, cells = _extra_metrics(evals)
    columns = [
        text_column("source"),
        text_column("target"),
        text_column("detector"),
        text_column("method"),
        Column("k", str),
        Column("AUROC"),
        *extra,
        Column("in-domain AUROC"),
    ]
    rows = [
        [
            str(e.variant.get("source", "")),
            str(e.variant.get("target", e.category)),
            e.detector,
            str(e.variant.get("method", "")),
            e.variant.get("k"),
            _auroc(e),
            *cells(e),
            _value(find(results.evaluations, "clean", str(e.variant.get("target", e.category)), e.detector), "image_auroc"),
        ]
        for e in evals
    ]
    return make_table("cross_domain", "Cross-domain transfer", columns, rows)


def cross_shift_table(results: Results) -> DataTable | None:
    """Models fitted under one shift, tested under another."""
    evals = of_phase(results.evaluations, "cross_shift")
    if not evals:
        return None
    extra, cells = _extra_metrics(evals)
    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("train shift"),
        text_column("test shift"),
        Column("AUROC"),
        *extra,
    ]
    rows = [
        [
            e.category,
            e.detector,
            str(e.variant.get("train_shift", "")),
            str(e.variant.get("test_shift", e.shift)),
            _auroc(e),
            *cells(e),
        ]
        for e in evals
    ]
    return make_table("cross_shift", "Cross-shift generalisation", columns, rows)


def ablation_table(results: Results) -> DataTable | None:
    """One setting changed at a time, with its cost."""
    evals = of_phase(results.evaluations, "ablation")
    if not evals:
        return None
    extra, cells = _extra_metrics(evals)
    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("shift"),
        text_column("ablation"),
        Column("value", str, numeric=False),
        Column("AUROC"),
        *extra,
        Column("fit s", partial(show, digits=1)),
        Column("ms/img", partial(show, digits=1)),
    ]
    rows = [
        [
            e.category,
            e.detector,
            e.shift,
            str(e.variant.get("ablation", "")),
            e.variant.get("value"),
            _auroc(e),
            *cells(e),
            e.timings.get("fit_seconds"),
            e.timings.get("ms_per_image"),
        ]
        for e in evals
    ]
    return make_table("ablation", "Ablations", columns, rows)


def severity_table(results: Results) -> DataTable | None:
    """Image AUROC per corruption and severity, with and without adaptation."""
    evals = of_phase(results.evaluations, "severity")
    if not evals:
        return None
    severities = sorted({e.variant.get("severity") for e in evals if isinstance(e.variant.get("severity"), int)})

    def line(e: Evaluation) -> tuple[str, str, str, bool]:
        return e.category, e.detector, str(e.variant.get("corruption", e.shift)), bool(e.variant.get("adapted"))

    columns = [
        text_column("category"),
        text_column("detector"),
        text_column("corruption"),
        text_column("adaptation"),
        *(Column(f"severity {s}") for s in severities),
    ]
    rows = []
    for key in dict.fromkeys(line(e) for e in evals):
        by_severity = {e.variant.get("severity"): _value(e, "image_auroc") for e in evals if line(e) == key}
        rows.append([*key[:3], "adapted" if key[3] else "no adaptation", *(by_severity.get(s) for s in severities)])
    return make_table("severity", "Corruption severity", columns, rows)


_GROUPINGS = (("defect type", "defect_type"), ("size", "defect_area"), ("region", "defect_region"))


def error_table(evaluation: Evaluation, arrays: Arrays) -> DataTable:
    """Recall at the threshold and AUROC vs all normal images, for all anomalous images and per
    defect type, size bin (small/medium/large) and region (border/centre) where the arrays have them."""
    anomalous = np.where(arrays.labels == 1, "all anomalous", "")
    groupings: list[tuple[str, np.ndarray]] = [("all", anomalous)]
    for name, key in _GROUPINGS:
        values = getattr(arrays, key)
        if values is not None:
            groupings.append((name, size_bins(values) if key == "defect_area" else values.astype(str)))
    rows = [
        [name, g.group, g.n, g.recall, g.auroc]
        for name, groups in groupings
        for g in group_detection(arrays.labels, arrays.scores, arrays.threshold, groups)
    ]
    columns = [
        text_column("grouping"),
        text_column("group"),
        Column("n", str),
        Column("recall @ thr"),
        Column("AUROC vs normals"),
    ]
    return make_table(f"errors_{evaluation.id}", f"Errors by group: {evaluation.id}", columns, rows)


def calibration_table(checked: Sequence[tuple[Evaluation, Arrays, Reliability | None]]) -> DataTable:
    """Counts at the calibrated threshold and the expected calibration error of the normalized scores."""
    columns = [
        text_column("evaluation"),
        Column("n", str),
        Column("threshold", partial(show, digits=4)),
        Column("TP", str),
        Column("FP", str),
        Column("TN", str),
        Column("FN", str),
        Column("recall"),
        Column("false positive rate"),
        Column("ECE"),
    ]
    rows = []
    for e, arrays, reliability in checked:
        counts = threshold_metrics(arrays.labels, arrays.scores, arrays.threshold)
        normals = counts.fp + counts.tn
        rows.append(
            [
                e.id,
                len(arrays.labels),
                arrays.threshold,
                counts.tp,
                counts.fp,
                counts.tn,
                counts.fn,
                counts.recall,
                counts.fp / normals if normals else None,
                None if reliability is None else reliability.ece,
            ]
        )
    return make_table("calibration", "Decisions at the calibrated threshold", columns, rows)
