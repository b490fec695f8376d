"""Figures of the router study's report as PNG bytes: confusion matrix, systems compared, training curves."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from defectlab.report.plots import _png


def confusion_png(confusion: dict[str, dict[str, int]]) -> bytes:
    """Counts of test images per (true category, routed category or unknown), rows normalized for colour."""
    rows, columns = list(confusion), list(next(iter(confusion.values())))
    counts = np.array([[confusion[r].get(c, 0) for c in columns] for r in rows], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1.3 * len(columns) + 2.5, 0.6 * len(rows) + 1.8))
    axis = fig.subplots()
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(counts.shape):
        axis.text(
            j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8, color="white" if shares[i, j] > 0.5 else "black"
        )
    axis.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axis.set_yticks(range(len(rows)), rows)
    axis.set(xlabel="routed to", ylabel="true category", title="router confusion (test images)")
    return _png(fig)


def systems_png(per_category: dict[str, dict[str, Any]], systems: list[str]) -> bytes:
    """Grouped bars: image AUROC of every system on every category."""
    names = list(per_category)
    fig = Figure(figsize=(max(6.0, 1.6 * len(names)), 3.6))
    axis = fig.subplots()
    width = 0.8 / len(systems)
    x = np.arange(len(names))
    for i, system in enumerate(systems):
        values = [per_category[n][system]["image_auroc"] for n in names]
        axis.bar(x + (i - (len(systems) - 1) / 2) * width, [np.nan if v is None else v for v in values], width, label=system)
    axis.set_xticks(x, names)
    axis.set(ylim=(0.5, 1.0), ylabel="image AUROC", title="routed vs oracle routing vs one global detector")
    axis.legend(fontsize=8)
    return _png(fig)


def training_curves_png(kind: str, curves: dict[str, list[dict[str, float]]]) -> bytes:
    """Train (solid) and held-out (dashed) loss per epoch of one detector kind, one colour per category."""
    fig = Figure(figsize=(7, 3.8))
    axis = fig.subplots()
    for name, history in curves.items():
        epochs = [h["epoch"] for h in history]
        line = axis.plot(epochs, [h["train_loss"] for h in history], label=f"{name} train")[0]
        axis.plot(epochs, [h["val_loss"] for h in history], ls="--", color=line.get_color(), label=f"{name} held out")
    axis.set(
        xlabel="epoch",
        ylabel="reconstruction loss (standardized features)",
        yscale="log",
        title=f"{kind}: training curves (held-out normals drive early stopping)",
    )
    axis.legend(fontsize=7, ncol=2)
    return _png(fig)
