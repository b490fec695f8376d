"""The benchmark suite's picture: Robustness Index per data set x shift, one panel per model and phase."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from defectlab.errors import DataError

PHASES = (("no_adaptation", "no adaptation"), ("adapted", "after a refit"))


def ri_grid(rows: Sequence[dict[str, Any]], model: str, phase: str) -> tuple[list[str], list[str], np.ndarray]:
    """(data sets, shifts, RI matrix with NaN where a cell was not run) for one model and phase."""
    cells = [r for r in rows if r["model"] == model and r["phase"] == phase]
    datasets = list(dict.fromkeys(r["dataset"] for r in cells))
    shifts = list(dict.fromkeys(r["shift"] for r in cells))
    grid = np.full((len(datasets), len(shifts)), np.nan)
    for r in cells:
        grid[datasets.index(r["dataset"]), shifts.index(r["shift"])] = np.nan if r["ri"] is None else r["ri"]
    return datasets, shifts, grid


def ri_heatmaps_png(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG of RI heatmaps (red below 0.9, green near 1), models down, phases across."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    phases = [(p, title) for p, title in PHASES if any(r["phase"] == p for r in rows)]
    if not phases:
        raise DataError("the suite results hold no shifted rows: nothing to plot")
    fig = Figure(figsize=(5.5 * len(phases), 4.5 * len(models)))
    for i, model in enumerate(models):
        for j, (phase, title) in enumerate(phases):
            ax = fig.add_subplot(len(models), len(phases), i * len(phases) + j + 1)
            datasets, shifts, grid = ri_grid(rows, model, phase)
            image = ax.imshow(grid, cmap="RdYlGn", vmin=0.5, vmax=1.05, aspect="auto")
            ax.set_xticks(
                range(len(shifts)), [s.removeprefix("imagenet_c_") for s in shifts], rotation=35, ha="right", fontsize=7
            )
            ax.set_yticks(range(len(datasets)), datasets, fontsize=7)
            ax.set_title(f"{model}: RI {title}", fontsize=9)
            for (y, x), value in np.ndenumerate(grid):
                if np.isfinite(value):
                    ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=6)
            fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
