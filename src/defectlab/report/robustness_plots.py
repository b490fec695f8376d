"""Robustness-study figures as PNG bytes: AUROC bars, ROC overlays, recovery and severity curves,
cross-shift heatmaps, confusion matrices, reliability diagrams and embedding scatters.

Like `defectlab.report.plots`, figures are built on `matplotlib.figure.Figure` with the Agg
canvas (no pyplot). Functions raise DataError when given nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from defectlab.analysis.errors import Reliability
from defectlab.errors import DataError
from defectlab.metrics.image import confusion_matrix, roc_curve
from defectlab.report.plots import _png
from defectlab.report.robustness_results import Embedding, Evaluation, Headline

_MARKERS = "osD^vP*Xh<>"


class Curve(NamedTuple):
    """Labels and scores of one evaluation, drawn as a ROC curve."""

    detector: str
    name: str
    labels: np.ndarray
    scores: np.ndarray


class ShiftCell(NamedTuple):
    """Image AUROC of a model fitted under shift `train`, tested under shift `test`."""

    train: str
    test: str
    auroc: float | None


def _colours(names: Sequence[str]) -> dict[str, str]:
    """A stable tab10 colour per distinct name, in order of first appearance."""
    return {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(names))}


def _auroc(e: Evaluation | None) -> float:
    value = None if e is None else e.metrics.get("image_auroc")
    return math.nan if value is None else value


def _error(e: Evaluation | None) -> tuple[float, float]:
    """Distances from the AUROC to its interval ends, for error bars (0 when unknown)."""
    value = _auroc(e)
    if e is None or "image_auroc" not in e.intervals or math.isnan(value):
        return 0.0, 0.0
    low, high = e.intervals["image_auroc"]
    return max(value - low, 0.0), max(high - value, 0.0)


def _require(items: Sequence[object], what: str) -> None:
    if len(items) == 0:
        raise DataError(f"nothing to plot: no {what}")


def auroc_bars_png(category: str, rows: Sequence[Headline]) -> bytes:
    """Grouped bars per detector and shift: clean, no adaptation, adapted image AUROC with CI error bars."""
    _require(rows, "headline rows")
    fig = Figure(figsize=(max(5.0, 1.3 * len(rows) + 2), 4))
    ax = fig.subplots()
    x = np.arange(len(rows))
    width = 0.27
    for i, (attribute, name) in enumerate((("clean", "clean"), ("no_adaptation", "no adaptation"), ("adapted", "adapted"))):
        evals = [getattr(r, attribute) for r in rows]
        errors = np.array([_error(e) for e in evals]).T
        ax.bar(x + (i - 1) * width, [_auroc(e) for e in evals], width, yerr=errors, capsize=3, label=name, color=f"C{i}")
    ax.set_xticks(x, [f"{r.detector}\n{r.shift}" for r in rows], fontsize=8)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(ylabel="image AUROC", ylim=(0, 1.05), title=f"{category}: image AUROC (95% CI)")
    ax.legend(fontsize="small", loc="lower right")
    return _png(fig)


def roc_overlay_png(category: str, curves: Sequence[Curve]) -> bytes:
    """ROC curves of one category, one panel per detector, one curve per condition."""
    usable = [c for c in curves if np.any(c.labels == 1) and np.any(c.labels == 0)]
    _require(usable, "curve with both normal and anomalous images")
    detectors = list(dict.fromkeys(c.detector for c in usable))
    fig = Figure(figsize=(4.6 * len(detectors), 4.4))
    axes = fig.subplots(1, len(detectors), squeeze=False)[0]
    colours = _colours([c.name for c in usable])
    for ax, detector in zip(axes, detectors):
        for c in (c for c in usable if c.detector == detector):
            fpr, tpr, _ = roc_curve(c.labels, c.scores)
            ax.plot(fpr, tpr, color=colours[c.name], label=c.name)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(
            xlabel="false positive rate",
            ylabel="true positive rate",
            title=f"{category}: {detector}",
            xlim=(0, 1),
            ylim=(0, 1.01),
        )
        ax.legend(loc="lower right", fontsize="x-small")
    return _png(fig)


def pixel_scatter_png(evaluations: Sequence[Evaluation]) -> bytes:
    """Image vs pixel AUROC of every evaluation that has both; colour = phase, marker = detector."""
    points = [e for e in evaluations if e.metrics.get("pixel_auroc") is not None and not math.isnan(_auroc(e))]
    _require(points, "evaluation with pixel AUROC")
    colours = _colours([e.phase for e in points])
    markers = {d: _MARKERS[i % len(_MARKERS)] for i, d in enumerate(dict.fromkeys(e.detector for e in points))}
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for phase in colours:
        for detector, marker in markers.items():
            group = [e for e in points if e.phase == phase and e.detector == detector]
            if group:
                ax.scatter(
                    [_auroc(e) for e in group],
                    [e.metrics["pixel_auroc"] for e in group],
                    color=colours[phase],
                    marker=marker,
                    label=f"{phase} / {detector}",
                    alpha=0.8,
                )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="image AUROC", ylabel="pixel AUROC", title="Detection vs localisation", xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(fontsize="x-small", loc="lower right")
    return _png(fig)


def recovery_png(title: str, points: Sequence[Evaluation], levels: Sequence[tuple[str, Evaluation]]) -> bytes:
    """Image AUROC vs the number k of target images, one line per detector and method.

    `points` carry `k` (and `method`) in their variant; `levels` are (name, evaluation) pairs
    drawn as dashed horizontal lines in their detector's colour, e.g. no adaptation, full refit.
    """
    _require(points, "few-shot evaluation")
    colours = _colours([e.detector for e in points] + [e.detector for _, e in levels])
    methods = list(dict.fromkeys(str(e.variant.get("method", "")) for e in points))
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    for detector in dict.fromkeys(e.detector for e in points):
        for m, method in enumerate(methods):
            line = sorted(
                (e for e in points if e.detector == detector and str(e.variant.get("method", "")) == method),
                key=lambda e: e.variant["k"],
            )
            if line:
                ax.errorbar(
                    [e.variant["k"] for e in line],
                    [_auroc(e) for e in line],
                    yerr=np.array([_error(e) for e in line]).T,
                    color=colours[detector],
                    capsize=3,
                    marker=_MARKERS[m % len(_MARKERS)],
                    label=f"{detector} / {method}" if method else detector,
                )
    styles = {name: ("--", "-.", ":")[i % 3] for i, name in enumerate(dict.fromkeys(name for name, _ in levels))}
    for name, e in levels:
        ax.axhline(_auroc(e), color=colours[e.detector], linestyle=styles[name], linewidth=1.2, label=f"{e.detector}: {name}")
    ax.set(
        xlabel="k (target images used for adaptation)",
        ylabel="image AUROC",
        title=title,
        ylim=(0, 1.05),
        xticks=sorted({e.variant["k"] for e in points}),
    )
    ax.legend(fontsize="x-small", loc="lower right")
    return _png(fig)


def severity_png(category: str, evaluations: Sequence[Evaluation]) -> bytes:
    """Image AUROC vs severity, one panel per corruption; solid = adapted, dashed = not adapted."""
    _require(evaluations, "severity evaluation")
    corruptions = list(dict.fromkeys(str(e.variant.get("corruption")) for e in evaluations))
    colours = _colours([e.detector for e in evaluations])
    fig = Figure(figsize=(4.2 * len(corruptions), 3.8))
    axes = fig.subplots(1, len(corruptions), squeeze=False)[0]
    for ax, corruption in zip(axes, corruptions):
        for detector in colours:
            for adapted, style in ((False, "--"), (True, "-")):
                line = sorted(
                    (
                        e
                        for e in evaluations
                        if str(e.variant.get("corruption")) == corruption
                        and e.detector == detector
                        and bool(e.variant.get("adapted")) == adapted
                    ),
                    key=lambda e: e.variant["severity"],
                )
                if line:
                    ax.plot(
                        [e.variant["severity"] for e in line],
                        [_auroc(e) for e in line],
                        style,
                        marker="o",
                        color=colours[detector],
                        label=f"{detector}, {'adapted' if adapted else 'no adaptation'}",
                    )
        ax.set(xlabel="severity", ylabel="image AUROC", title=f"{category}: {corruption}", ylim=(0, 1.05), xticks=range(1, 6))
        ax.legend(fontsize="x-small", loc="lower left")
    return _png(fig)


def cross_shift_png(title: str, cells: Sequence[ShiftCell]) -> bytes:
    """Heatmap of image AUROC, rows = shift trained on, columns = shift tested on (same order on both axes)."""
    _require(cells, "cross-shift evaluation")
    shifts = list(dict.fromkeys(name for c in cells for name in (c.train, c.test)))
    matrix = np.full((len(shifts), len(shifts)), np.nan)
    for c in cells:
        matrix[shifts.index(c.train), shifts.index(c.test)] = math.nan if c.auroc is None else c.auroc
    fig = Figure(figsize=(1.3 * len(shifts) + 3, 1.0 * len(shifts) + 2))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="viridis", vmin=0.5, vmax=1.0)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            "—" if math.isnan(value) else f"{value:.3f}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if not math.isnan(value) and value < 0.75 else "black",
        )
    ax.set_xticks(range(len(shifts)), shifts, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(shifts)), shifts, fontsize=8)
    ax.set(xlabel="test shift", ylabel="train shift", title=title)
    fig.colorbar(image, ax=ax, label="image AUROC (0.5 or less: darkest)")
    return _png(fig)


def confusion_png(title: str, labels: np.ndarray, scores: np.ndarray, threshold: float) -> bytes:
    """2x2 confusion matrix when images with `score >= threshold` are called anomalous."""
    matrix = confusion_matrix(labels, (np.asarray(scores) >= threshold).astype(np.int64))
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks([0, 1], ["normal", "anomalous"])
    ax.set_yticks([0, 1], ["normal", "anomalous"])
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.title.set_fontsize(9)
    return _png(fig)


def reliability_png(title: str, reliability: Reliability) -> bytes:
    """Reliability diagram: share of anomalous images vs mean normalized score per bin, with ECE."""
    filled = reliability.counts > 0
    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    ax.plot(reliability.mean_predicted[filled], reliability.fraction_positive[filled], marker="o", label="observed")
    ax.set(
        xlabel="mean normalized score",
        ylabel="share anomalous",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"{title}\nECE {reliability.ece:.3f}",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize="x-small", loc="upper left")
    return _png(fig)


def embedding_png(embedding: Embedding) -> bytes:
    """2-D embedding scatter: colour = normal / anomalous, marker = domain."""
    _require(embedding.coords, "embedding points")
    domains = list(dict.fromkeys(embedding.domain.tolist()))
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for d, domain in enumerate(domains):
        for flag, name, colour in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
            chosen = (embedding.domain == domain) & (embedding.anomalous == flag)
            if chosen.any():
                ax.scatter(
                    *embedding.coords[chosen].T,
                    s=10,
                    color=colour,
                    marker=_MARKERS[d % len(_MARKERS)],
                    alpha=0.6,
                    label=f"{domain}, {name}",
                )
    method = f"{embedding.method} of " if embedding.method else ""
    ax.set(title=f"{embedding.category}: {method}{embedding.kind} features", xticks=[], yticks=[])
    ax.legend(fontsize="x-small", markerscale=1.5)
    return _png(fig)
