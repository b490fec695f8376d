"""Input checks for labelled scores, shared by calibration and metrics."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from defectlab.errors import DataError


def finite_scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """Return `scores` as a non-empty 1-D float64 array; raise DataError if empty or not finite."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric ({exc})") from exc
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name} is empty")
    if not np.isfinite(array).all():
        raise DataError(f"{name} contains NaN or infinite values")
    return array


def binary_labels(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """Return `labels` as a non-empty 1-D int64 array of 0 (normal) / 1 (anomalous)."""
    try:
        array = np.asarray(labels)
    except ValueError as exc:
        raise DataError(f"{name} must be a 1-D array ({exc})") from exc
    if array.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{name} is empty")
    if not np.isin(array, (0, 1)).all():
        raise DataError(f"{name} must contain only 0 (normal) and 1 (anomalous)")
    return array.astype(np.int64)


def labels_and_scores(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check labels and scores together: same length, binary labels, finite scores."""
    label_array = binary_labels(labels)
    score_array = finite_scores(scores)
    if label_array.shape != score_array.shape:
        raise DataError(f"labels {label_array.shape} and scores {score_array.shape} differ in length")
    return label_array, score_array
