"""Intervention-based attribution: how much does the class probability drop when a region is replaced?

The image is split into a grid of cells; each cell in turn is replaced by a counterfactual
background and the drop in the target class probability is that cell's attribution (positive:
the region is evidence for the class). Backgrounds: ``"blur"``, the image with the local
structure removed (the same region of a median-filtered copy, kernel about one cell wide), or
``"mean"``, the image's mean colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import cv2
import numpy as np
import torch

from defectlab.classifiers.base import ImageClassifier
from defectlab.errors import ConfigError, DataError
from defectlab.explain.gradcam import image_shape, target_list

BACKGROUNDS = ("blur", "mean")


def _check_background(background: str) -> None:
    if background not in BACKGROUNDS:
        raise ConfigError(f"unknown background {background!r}; valid: {', '.join(BACKGROUNDS)}")


def counterfactual(image: np.ndarray, grid: int, background: str = "blur") -> np.ndarray:
    """The uint8 HxWx3 background that replaces cells of ``image`` on a ``grid`` x ``grid`` split."""
    _check_background(background)
    if background == "mean":
        colour = np.round(image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        return np.broadcast_to(colour, image.shape)
    kernel = max(3, int(min(image.shape[:2]) / grid) // 2 * 2 + 1)  # odd, about one cell wide
    return cv2.medianBlur(np.ascontiguousarray(image), kernel)


def _probabilities(model: ImageClassifier, images: Iterable[np.ndarray], batch_size: int) -> np.ndarray:
    """(N, K) class probabilities, one forward pass per ``batch_size`` images."""
    stream = iter(images)
    parts = []
    while batch := list(islice(stream, batch_size)):
        parts.append(torch.softmax(model(model.preprocess(batch)), dim=1).numpy())
    return np.concatenate(parts)


def _perturbed(image: np.ndarray, fill: np.ndarray, cells: Sequence[tuple[slice, slice]]) -> Iterator[np.ndarray]:
    for rows, cols in cells:
        copy = image.copy()
        copy[rows, cols] = fill[rows, cols]
        yield copy


def intervention_maps(
    model: ImageClassifier,
    images: Sequence[np.ndarray],
    target_classes: Sequence[int] | None = None,
    grid: int = 8,
    background: str = "blur",
    batch_size: int = 64,
) -> np.ndarray:
    """(N, H, W) float32 probability drops of same-size uint8 HxWx3 images, constant per grid cell.

    ``target_classes``: one class per image; None explains each image's predicted class.
    The ``grid * grid`` perturbed copies of an image go through the model ``batch_size`` at a
    time, in eval mode (the model's training mode is restored afterwards).
    """
    height, width = image_shape(images)
    targets = target_list(model, target_classes, len(images))
    if not 1 <= grid <= min(height, width):
        raise ConfigError(f"grid must be between 1 and the image side ({min(height, width)} px), got {grid}")
    _check_background(background)
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    row_edges = np.linspace(0, height, grid + 1).round().astype(int)
    col_edges = np.linspace(0, width, grid + 1).round().astype(int)
    cells = [
        (slice(row_edges[i], row_edges[i + 1]), slice(col_edges[j], col_edges[j + 1])) for i in range(grid) for j in range(grid)
    ]
    pixel_rows = np.searchsorted(row_edges, np.arange(height), side="right") - 1
    pixel_cols = np.searchsorted(col_edges, np.arange(width), side="right") - 1
    was_training = model.training
    model.eval()
    maps = []
    try:
        with torch.inference_mode():
            originals = _probabilities(model, images, batch_size)
            chosen = originals.argmax(axis=1) if targets is None else np.asarray(targets)
            for image, target, original in zip(images, chosen, originals):
                copies = _perturbed(image, counterfactual(image, grid, background), cells)
                perturbed = _probabilities(model, copies, batch_size)[:, target]
                drops = (original[target] - perturbed).reshape(grid, grid)
                maps.append(drops[np.ix_(pixel_rows, pixel_cols)])
    finally:
        model.train(was_training)
    return np.stack(maps).astype(np.float32)


def mask_share(attribution: np.ndarray, mask: np.ndarray) -> float:
    """Share of the positive attribution mass of an HxW map inside a binary HxW mask (nonzero = inside).

    NaN when the mask is empty or the map has no positive mass.
    """
    values = np.asarray(attribution, dtype=np.float64)
    inside = np.asarray(mask) > 0
    if values.ndim != 2 or values.shape != inside.shape:
        raise DataError(f"attribution {values.shape} and mask {inside.shape} must be HxW arrays of one shape")
    if not np.isfinite(values).all():
        raise DataError("attribution map has non-finite values")
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if not inside.any() or total <= 0.0:
        return float("nan")
    return float(positive[inside].sum() / total)
