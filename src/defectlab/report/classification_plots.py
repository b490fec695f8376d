"""Figures of the classification report as PNG bytes: training curves and per-group accuracies."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from defectlab.report.plots import _png


def training_curves_png(scheme: str, models: dict[str, Any]) -> bytes:
    """Validation macro-F1 and training loss per epoch of every model of one scheme; the kept epoch marked."""
    fig = Figure(figsize=(10, 3.6))
    f1_axis, loss_axis = fig.subplots(1, 2)
    for name, row in models.items():
        history = row.get("history") or []
        if not history:
            continue
        epochs = [h["epoch"] for h in history]
        line = f1_axis.plot(epochs, [h["val_macro_f1"] for h in history], marker=".", label=name)[0]
        loss_axis.plot(epochs, [h["train_loss"] for h in history], marker=".", color=line.get_color(), label=name)
        best = row.get("best_epoch")
        if best in epochs:
            f1_axis.plot([best], [history[epochs.index(best)]["val_macro_f1"]], "o", ms=9, mfc="none", color=line.get_color())
    f1_axis.set(title=f"{scheme}: validation macro-F1 (circle: kept epoch)", xlabel="epoch", ylabel="macro-F1")
    loss_axis.set(title="training loss", xlabel="epoch", yscale="log")
    if f1_axis.lines:
        f1_axis.legend(fontsize=8)
    return _png(fig)


def group_accuracy_png(models: dict[str, Any], title: str = "accuracy per (nuisance, class) group") -> bytes:
    """Grouped bars: accuracy of every model on every (nuisance, class) group of a spurious-correlation test."""
    reports = {name: rep for name, rep in models.items() if rep}
    groups = sorted({g for rep in reports.values() for g in rep["groups"]})
    fig = Figure(figsize=(10, 3.8))
    axis = fig.subplots()
    width = 0.8 / max(len(reports), 1)
    x = np.arange(len(groups))
    for i, (name, rep) in enumerate(reports.items()):
        values = [rep["groups"].get(g, {}).get("accuracy", np.nan) for g in groups]
        axis.bar(x + (i - (len(reports) - 1) / 2) * width, values, width, label=name)
    axis.axhline(0.8, color="k", ls="--", lw=0.8, label="worst-group target 0.80")
    axis.set_xticks(x, groups)
    axis.set(ylim=(0, 1), ylabel="accuracy", title=f"spurious correlation, {title}")
    axis.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return _png(fig)
