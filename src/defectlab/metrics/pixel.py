"""Pixel-level localization metrics over a set of images: pixel AUROC and AUPRO.

`masks` are (N, H, W) ground truth in {0, 1}; `maps` are (N, H, W) anomaly maps, higher is more
anomalous. Both metrics are exact (no threshold grid) and need one sort of the normal pixels,
so 500 images of 224x224 (25M pixels) take about a second. They return NaN when the masks contain
no anomalous pixel (or no normal pixel).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from defectlab.errors import ConfigError, DataError
from defectlab.metrics.mann_whitney import auroc_from_samples

# 8-connectivity inside each image, no connection between images stacked on axis 0.
_REGION_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_REGION_STRUCTURE[1] = True


def _masks_and_maps(masks: ArrayLike, maps: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    mask_array = np.asarray(masks)
    map_array = np.asarray(maps)
    if map_array.dtype.kind not in "fiub":
        raise DataError(f"maps must be numeric, got dtype {map_array.dtype}")
    if mask_array.ndim != 3 or mask_array.shape != map_array.shape:
        raise DataError(f"masks {mask_array.shape} and maps {map_array.shape} must both be (N, H, W)")
    if mask_array.size == 0:
        raise DataError("masks and maps are empty")
    if not ((mask_array == 0) | (mask_array == 1)).all():
        raise DataError("masks must contain only 0 (normal) and 1 (anomalous)")
    if map_array.dtype.kind == "f" and not np.isfinite(map_array).all():
        raise DataError("maps contain NaN or infinite values")
    return mask_array.astype(bool), map_array


def pixel_auroc(masks: ArrayLike, maps: ArrayLike) -> float:
    """AUROC over all pixels of all images (ties count 1/2); NaN if one class is absent."""
    anomalous, values = _masks_and_maps(masks, maps)
    return auroc_from_samples(values[~anomalous], values[anomalous])


def aupro(masks: ArrayLike, maps: ArrayLike, fpr_limit: float = 0.3) -> float:
    """Normalized area under the per-region-overlap curve up to `fpr_limit` (MVTec AD).

    For a threshold t, PRO(t) is the mean over all connected ground-truth regions
    (8-connectivity, every image) of the fraction of the region's pixels with score >= t, and
    FPR(t) the fraction of all normal pixels with score >= t. The exact piecewise-linear curve
    over every distinct score is integrated from FPR 0 to `fpr_limit` (interpolated there) and
    divided by `fpr_limit`, so a perfect map scores 1. NaN without anomalous regions or normal
    pixels.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ConfigError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    anomalous, values = _masks_and_maps(masks, maps)
    regions, n_regions = ndimage.label(anomalous, structure=_REGION_STRUCTURE)
    normal_scores = values[~anomalous]
    normal_scores.sort()  # in place: boolean indexing already made a copy
    if n_regions == 0 or normal_scores.size == 0:
        return float("nan")
    region_of_pixel = regions[anomalous]
    region_sizes = np.bincount(region_of_pixel)
    pixel_weight = 1.0 / (region_sizes[region_of_pixel] * n_regions)
    fpr, pro = _pro_curve(normal_scores, values[anomalous], pixel_weight)
    return _area_up_to(fpr, pro, fpr_limit) / fpr_limit


def _pro_curve(
    normal_scores: np.ndarray, anomalous_scores: np.ndarray, pixel_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the exact (FPR, PRO) curve from (0, 0) to (1, ~1), FPR non-decreasing.

    PRO only changes at anomalous scores, so between two distinct anomalous scores the curve is
    horizontal. For each distinct anomalous score a (descending) two vertices suffice:
    (FPR(> a), PRO before a) and (FPR(>= a), PRO(>= a)).
    """
    distinct, inverse = np.unique(anomalous_scores, return_inverse=True)
    weight_at = np.bincount(inverse.ravel(), weights=pixel_weight, minlength=distinct.size)
    n_normal = normal_scores.size
    # searchsorted is fastest with ascending keys; reverse to descending thresholds afterwards.
    normal_above = n_normal - np.searchsorted(normal_scores, distinct, side="right")
    normal_at_or_above = n_normal - np.searchsorted(normal_scores, distinct, side="left")
    fpr_above = normal_above[::-1] / n_normal
    fpr_at_or_above = normal_at_or_above[::-1] / n_normal
    pro_at_or_above = np.cumsum(weight_at[::-1])
    pro_above = np.concatenate(([0.0], pro_at_or_above[:-1]))
    fpr = np.concatenate(([0.0], np.column_stack((fpr_above, fpr_at_or_above)).ravel(), [1.0]))
    pro = np.concatenate(([0.0], np.column_stack((pro_above, pro_at_or_above)).ravel(), pro_at_or_above[-1:]))
    return fpr, pro


def _area_up_to(x: np.ndarray, y: np.ndarray, x_limit: float) -> float:
    """Trapezoidal area under the polyline (x, y) for x in [0, x_limit]; x non-decreasing."""
    inside = int(np.searchsorted(x, x_limit, side="right"))
    x_part, y_part = x[:inside], y[:inside]
    if inside < x.size:
        x0, x1, y0, y1 = x[inside - 1], x[inside], y[inside - 1], y[inside]
        y_limit = y0 + (y1 - y0) * (x_limit - x0) / (x1 - x0)
        x_part = np.append(x_part, x_limit)
        y_part = np.append(y_part, y_limit)
    return float(np.trapezoid(y_part, x_part))
