"""Figures of the open-set report as PNG bytes: OSCR curves, score histograms, outcome confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from defectlab.report.plots import _png


def oscr_png(curves: dict[str, dict[str, Any]], title: str) -> bytes:
    """Correct-classification rate against the false-positive rate on unknowns, one line per approach."""
    fig = Figure(figsize=(5.2, 4.2))
    axis = fig.subplots()
    for name, curve in curves.items():
        axis.plot(curve["fpr"], curve["ccr"], label=name)
    axis.set(
        title=title,
        xlabel="false-positive rate (unknown images accepted)",
        ylabel="correct-classification rate",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    axis.legend(fontsize=8, loc="lower right")
    return _png(fig)


def score_histograms_png(curves: dict[str, dict[str, Any]], threshold_by_name: dict[str, float]) -> bytes:
    """Open-set scores of known vs unknown test images per approach, the threshold tau marked."""
    fig = Figure(figsize=(5.0 * len(curves), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(curves)))
    for axis, (name, curve) in zip(axes, curves.items(), strict=True):
        known, unknown = np.asarray(curve["known"]), np.asarray(curve["unknown"])
        bins = np.linspace(min(known.min(), unknown.min()), max(known.max(), unknown.max()), 40)
        axis.hist(known, bins=bins, alpha=0.6, label="known classes")
        axis.hist(unknown, bins=bins, alpha=0.6, label="unknown classes")
        if name in threshold_by_name:
            axis.axvline(threshold_by_name[name], color="k", linestyle="--", label="tau (95% of known val)")
        axis.set(title=f"{name}: Mahalanobis score", xlabel="score (higher = more unknown)", ylabel="images")
        axis.legend(fontsize=8)
    return _png(fig)


def confusion_png(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str], title: str) -> bytes:
    """Row-normalized confusion matrix of outcomes (rows: truth), counts written in the cells."""
    index = {name: i for i, name in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        counts[index[t], index[p]] += 1
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.6 * len(labels)))
    axis = fig.subplots()
    axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        axis.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.6 else "black", fontsize=8)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.set(title=title, xlabel="outcome", ylabel="truth")
    return _png(fig)
