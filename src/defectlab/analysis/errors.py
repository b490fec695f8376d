"""Error analysis of a detector's test results: by defect size and position, calibration, worst cases.

Labels are 0 (normal) / 1 (anomalous), a higher score is more anomalous and an image is called
anomalous when `score >= threshold`. Masks are 2-D per-image arrays where pixels > 0 are defect.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from defectlab.calibration.validation import binary_labels, finite_scores, labels_and_scores
from defectlab.errors import ConfigError, DataError
from defectlab.metrics.mann_whitney import auroc_from_samples

DEFAULT_SIZE_EDGES: tuple[float, float] = (0.01, 0.05)
"""Defect-area edges as a fraction of the image: small < 1%, medium 1-5%, large >= 5%.

Binning defects by mask area is common practice; the edges are a parameter of `size_bins`.
"""

SIZE_NAMES = ("small", "medium", "large")  # the classes of `size_bins`, smallest first


def _mask_2d(mask: np.ndarray) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        raise DataError(f"mask must be a non-empty 2-D array, got shape {array.shape}")
    return array > 0


def defect_area(mask: np.ndarray | None) -> float:
    """Fraction of the mask's pixels that are defect (> 0); NaN when there is no mask."""
    if mask is None:
        return float("nan")
    return float(_mask_2d(mask).mean())


def defect_region(mask: np.ndarray | None, margin: float = 0.1) -> str:
    """Where the defect sits: "border" if its centroid is within `margin` of an edge, else "centre".

    `margin` is a fraction of the image side, measured on pixel centres: with margin 0.1 and 100
    rows, a one-pixel defect in rows 0-9 or 90-99 is at the border.
    Returns "" when the mask is None or has no defect pixel.
    """
    if not 0.0 <= margin <= 0.5:
        raise ConfigError(f"margin must be in [0, 0.5], got {margin}")
    if mask is None:
        return ""
    defect = _mask_2d(mask)
    if not defect.any():
        return ""
    rows, cols = np.nonzero(defect)
    y = (rows.mean() + 0.5) / defect.shape[0]
    x = (cols.mean() + 0.5) / defect.shape[1]
    return "border" if min(y, 1.0 - y, x, 1.0 - x) < margin else "centre"


def size_bins(areas: ArrayLike, edges: tuple[float, float] = DEFAULT_SIZE_EDGES) -> np.ndarray:
    """Size class per defect area: "small" < edges[0] <= "medium" < edges[1] <= "large".

    "" where the area is NaN (no mask) or 0 (no defect).
    """
    if len(edges) != 2 or not 0.0 < edges[0] < edges[1] <= 1.0:
        raise ConfigError(f"edges must be two increasing area fractions in (0, 1], got {edges}")
    area_array = np.asarray(areas, dtype=np.float64)
    if area_array.ndim != 1:
        raise DataError(f"areas must be 1-D, got shape {area_array.shape}")
    known = ~np.isnan(area_array)
    if not ((area_array[known] >= 0.0) & (area_array[known] <= 1.0)).all():
        raise DataError("areas must be fractions in [0, 1] or NaN")
    names = np.array(("",) + SIZE_NAMES)
    bins = np.searchsorted(np.asarray(edges), area_array, side="right") + 1
    bins[~known | (area_array == 0.0)] = 0
    return names[bins]


class GroupResult(NamedTuple):
    """Detection of one group of anomalous images; auroc is None when there are no normal images."""

    group: str
    n: int
    recall: float
    auroc: float | None


def _check_threshold(threshold: float) -> None:
    if np.isnan(threshold):
        raise ConfigError("threshold is NaN")


def group_detection(labels: ArrayLike, scores: ArrayLike, threshold: float, groups: ArrayLike) -> list[GroupResult]:
    """Recall and AUROC per group of anomalous images (e.g. size bins), sorted by group name.

    recall is the share of the group's anomalous images with `score >= threshold`; auroc ranks
    the group's anomalous images against all normal images, the shared negatives. Groups come
    from the anomalous images' non-empty values of `groups`; normal images' groups are ignored.
    """
    _check_threshold(threshold)
    label_array, score_array = labels_and_scores(labels, scores)
    group_array = np.asarray(groups).astype(str)
    if group_array.shape != label_array.shape:
        raise DataError(f"labels {label_array.shape} and groups {group_array.shape} differ in length")
    is_anomalous = label_array == 1
    normal_scores = score_array[~is_anomalous]
    results = []
    for group in sorted(set(group_array[is_anomalous].tolist()) - {""}):
        group_scores = score_array[is_anomalous & (group_array == group)]
        auroc = auroc_from_samples(normal_scores, group_scores) if normal_scores.size else None
        recall = float((group_scores >= threshold).mean())
        results.append(GroupResult(group, int(group_scores.size), recall, auroc))
    return results


class Reliability(NamedTuple):
    """Reliability diagram on equal-width bins of [0, 1]; empty bins have NaN mean/fraction and count 0.

    ece is the count-weighted mean of |fraction_positive - mean_predicted| over non-empty bins.
    """

    bin_edges: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    ece: float


def reliability_curve(labels: ArrayLike, probabilities: ArrayLike, n_bins: int = 10) -> Reliability:
    """Calibration of anomaly probabilities: per bin, mean probability vs. share of anomalous images.

    Bins are [e_i, e_i+1) except the last, which also holds probability 1.0.
    """
    if n_bins < 1:
        raise ConfigError(f"n_bins must be >= 1, got {n_bins}")
    label_array = binary_labels(labels)
    probability_array = finite_scores(probabilities, name="probabilities")
    if label_array.shape != probability_array.shape:
        raise DataError(f"labels {label_array.shape} and probabilities {probability_array.shape} differ in length")
    if not ((probability_array >= 0.0) & (probability_array <= 1.0)).all():
        raise DataError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, probability_array, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore"):  # 0 / 0 = NaN marks the empty bins
        mean_predicted = np.bincount(bins, weights=probability_array, minlength=n_bins) / counts
        fraction_positive = np.bincount(bins, weights=label_array, minlength=n_bins) / counts
    filled = counts > 0
    gaps = np.abs(fraction_positive[filled] - mean_predicted[filled])
    ece = float((counts[filled] * gaps).sum() / counts.sum())
    return Reliability(edges, mean_predicted, fraction_positive, counts, ece)


def error_indices(labels: ArrayLike, scores: ArrayLike, threshold: float, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the worst errors at `threshold`: (false positives, false negatives), at most n each.

    False positives (normal, score >= threshold) come highest score first; false negatives
    (anomalous, score < threshold) lowest score first. Ties keep the input order.
    """
    _check_threshold(threshold)
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    label_array, score_array = labels_and_scores(labels, scores)
    predicted = score_array >= threshold
    false_positives = np.flatnonzero((label_array == 0) & predicted)
    false_negatives = np.flatnonzero((label_array == 1) & ~predicted)
    false_positives = false_positives[np.argsort(-score_array[false_positives], kind="stable")]
    false_negatives = false_negatives[np.argsort(score_array[false_negatives], kind="stable")]
    return false_positives[:n].astype(np.int64), false_negatives[:n].astype(np.int64)
