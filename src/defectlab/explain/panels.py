"""Side-by-side explanation panels as PNG bytes: each image next to every method's heatmap overlay.

Built with `matplotlib.figure.Figure` and rendered by the Agg canvas (no pyplot, no global
figure state), like the report figures.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from defectlab.errors import ConfigError, DataError
from defectlab.explain.overlay import overlay

TILE_INCHES = 2.2
MASK_COLOUR = "white"


def _draw_mask(ax: Axes, mask: np.ndarray | None) -> None:
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(np.float32), levels=[0.5], colors=MASK_COLOUR, linewidths=1.0)


def explanation_panel_png(
    images: Sequence[np.ndarray],
    maps_by_method: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    titles: Sequence[str],
    masks: Sequence[np.ndarray] | None = None,
    alpha: float = 0.5,
) -> bytes:
    """One row per uint8 HxWx3 image: the image (titled), then one overlay per method (column header).

    ``maps_by_method``: per method one map per image (resized to the image); each overlay shows the
    map's positive part scaled by its own maximum. ``masks``: optional HxW ground-truth masks per
    image (nonzero = defect), drawn as a contour on every tile of the row.
    """
    count = len(images)
    if count == 0:
        raise DataError("no images for the explanation panel")
    if not maps_by_method:
        raise ConfigError("the explanation panel needs at least one method's maps")
    if len(titles) != count:
        raise DataError(f"got {len(titles)} titles for {count} images")
    for method, maps in maps_by_method.items():
        if len(maps) != count:
            raise DataError(f"method {method!r} has {len(maps)} maps for {count} images")
    row_masks: list[np.ndarray | None] = [None] * count
    if masks is not None:
        if len(masks) != count:
            raise DataError(f"got {len(masks)} masks for {count} images")
        row_masks = [np.asarray(mask) > 0 for mask in masks]
        for image, mask in zip(images, row_masks):
            if mask.shape != np.shape(image)[:2]:
                raise DataError(f"mask shape {mask.shape} does not match image shape {np.shape(image)[:2]}")
    columns = 1 + len(maps_by_method)
    fig = Figure(figsize=(TILE_INCHES * columns, TILE_INCHES * count))
    axes = fig.subplots(count, columns, squeeze=False)
    for row, (image, title, mask) in enumerate(zip(images, titles, row_masks)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(title, fontsize=7)
        for column, maps in enumerate(maps_by_method.values(), start=1):
            peak = float(np.nanmax(maps[row]))
            axes[row, column].imshow(overlay(image, maps[row], alpha=alpha, vmin=0.0, vmax=max(peak, 0.0)))
        for ax in axes[row]:
            _draw_mask(ax, mask)
            ax.axis("off")
    for column, method in enumerate(maps_by_method, start=1):
        axes[0, column].set_title(method, fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()
