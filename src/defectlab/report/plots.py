"""Report figures as PNG bytes: ROC and PR curves, score histograms, example overlay grids.

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas, never through
pyplot, so no GUI backend or global figure state is involved and nothing is left open.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from defectlab.errors import DataError
from defectlab.explain.overlay import overlay
from defectlab.metrics.image import auprc, auroc, pr_curve, roc_curve
from defectlab.results import EvaluationResult, Example


def has_both_classes(result: EvaluationResult) -> bool:
    """True when the test set holds normal and anomalous samples (curves are defined)."""
    labels = np.asarray(result.labels)
    return bool(labels.size and labels.any() and not labels.all())


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _plottable(results: Sequence[EvaluationResult], curve: str) -> list[EvaluationResult]:
    usable = [r for r in results if has_both_classes(r)]
    if not usable:
        raise DataError(f"no result has both normal and anomalous samples: cannot draw {curve} curves")
    return usable


def _metric(result: EvaluationResult, key: str, fallback: Callable[[np.ndarray, np.ndarray], float]) -> float:
    value = result.metrics.get(key)
    return float(value) if value is not None else fallback(result.labels, result.scores)


def roc_png(results: Sequence[EvaluationResult]) -> bytes:
    """ROC curves of all two-class results on one axes; legend shows image AUROC."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for r in _plottable(results, "ROC"):
        fpr, tpr, _ = roc_curve(r.labels, r.scores)
        ax.plot(fpr, tpr, label=f"{r.name} (AUROC {_metric(r, 'image_auroc', auroc):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def pr_png(results: Sequence[EvaluationResult]) -> bytes:
    """Precision-recall curves of all two-class results; legend shows image AUPRC."""
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for r in _plottable(results, "PR"):
        precision, recall, _ = pr_curve(r.labels, r.scores)
        ax.step(recall, precision, where="post", label=f"{r.name} (AUPRC {_metric(r, 'image_auprc', auprc):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize="small")
    return _png(fig)


def histogram_png(result: EvaluationResult) -> bytes:
    """Score histogram of one result, normal vs anomalous, with the decision threshold."""
    scores = np.asarray(result.scores, dtype=np.float64)
    labels = np.asarray(result.labels)
    finite = scores[np.isfinite(scores)]
    bins = np.histogram_bin_edges(finite, bins=30) if finite.size else 30
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for value, name, colour in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        group = scores[(labels == value) & np.isfinite(scores)]
        ax.hist(group, bins=bins, alpha=0.55, color=colour, label=f"{name} (n={group.size})")
    if math.isfinite(result.threshold):
        ax.axvline(
            result.threshold, color="black", linestyle="--", label=f"threshold {result.threshold:.4g} ({result.threshold_method})"
        )
    ax.set(xlabel="anomaly score", ylabel="images", title=result.name)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return _png(fig)


def _tile_title(example: Example) -> str:
    return f"{example.id}\nscore {example.score:.4g}, {'anomalous' if example.label else 'normal'}"


def overlay_grid_png(result: EvaluationResult, alpha: float = 0.5) -> bytes:
    """Most and least anomalous examples: per group one row of images, one of overlays."""
    groups = [
        (name, ex) for name, ex in (("most anomalous", result.most_anomalous), ("least anomalous", result.least_anomalous)) if ex
    ]
    if not groups:
        raise DataError(f"{result.name} has no examples to show")
    return example_grid_png(f"{result.name}: examples (top: image, below: anomaly overlay)", groups, alpha)


def example_grid_png(title: str, groups: Sequence[tuple[str, Sequence[Example]]], alpha: float = 0.5) -> bytes:
    """Per group one row of images and one of overlays.

    All overlays share one colour scale (min/max over the shown maps) so tiles compare.
    """
    groups = [(name, ex) for name, ex in groups if ex]
    if not groups:
        raise DataError(f"{title}: no examples to show")
    maps = [np.asarray(e.anomaly_map, dtype=np.float64) for _, ex in groups for e in ex]
    vmin = min(float(np.nanmin(m)) for m in maps)
    vmax = max(float(np.nanmax(m)) for m in maps)
    cols = max(len(ex) for _, ex in groups)
    fig = Figure(figsize=(2.2 * cols, 4.6 * len(groups)))
    axes = fig.subplots(2 * len(groups), cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for g, (name, examples) in enumerate(groups):
        for c, example in enumerate(examples):
            top, bottom = axes[2 * g, c], axes[2 * g + 1, c]
            top.imshow(example.image)
            top.set_title(_tile_title(example), fontsize=7)
            bottom.imshow(overlay(example.image, example.anomaly_map, alpha=alpha, vmin=vmin, vmax=vmax))
        axes[2 * g, 0].text(
            -0.08, 0.5, name, transform=axes[2 * g, 0].transAxes, rotation=90, ha="right", va="center", fontsize=9
        )
    fig.suptitle(title, fontsize=10)
    return _png(fig)
