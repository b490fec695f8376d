"""What a detector's features see: patch embeddings sampled per image, projected to 2-D.

`sample_patch_embeddings` picks a few patch feature vectors per image, labelled normal /
anomalous per patch, so a scatter plot shows whether defects separate from normal texture;
`project_2d` maps them to the plane with t-SNE (or PCA). All random choices are seeded.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from torch.nn import functional

from defectlab.calibration.validation import binary_labels
from defectlab.errors import ConfigError, DataError

DEFECT_COVERAGE = 0.5
"""A patch is anomalous when at least this share of its area is defect in the mask."""

PROJECTIONS = ("tsne", "pca")


def _feature_array(features: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) float tensor -> (N, C, h * w) float32 array."""
    if not isinstance(features, torch.Tensor) or features.ndim != 4 or not features.is_floating_point():
        raise DataError("features must be a floating-point torch.Tensor of shape (N, C, h, w)")
    if 0 in features.shape:
        raise DataError(f"features are empty, shape {tuple(features.shape)}")
    if not bool(torch.isfinite(features).all()):
        raise DataError("features contain NaN or infinite values")
    n, c, h, w = features.shape
    return features.detach().to("cpu", torch.float32).reshape(n, c, h * w).numpy()


def _mask_coverage(masks: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """Share of defect pixels (> 0) under each of the h x w patches: (N, h * w).

    Adaptive average pooling averages the pixels each patch covers, and picks the nearest
    pixel when the mask is smaller than the feature map.
    """
    mask_array = np.asarray(masks)
    if mask_array.ndim != 3 or mask_array.shape[0] != n or 0 in mask_array.shape:
        raise DataError(f"masks must have shape ({n}, H, W), got {mask_array.shape}")
    defect = torch.from_numpy((mask_array > 0).astype(np.float32))[:, None]
    return functional.adaptive_avg_pool2d(defect, (h, w)).reshape(n, h * w).numpy()


def _half_from_defect(rng: np.random.Generator, is_defect: np.ndarray, k: int) -> np.ndarray:
    """k distinct positions, half (rounded up) from the defect patches where there are enough."""
    defect, rest = np.flatnonzero(is_defect), np.flatnonzero(~is_defect)
    n_defect = min(defect.size, max((k + 1) // 2, k - rest.size))
    return np.concatenate([rng.choice(defect, n_defect, replace=False), rng.choice(rest, k - n_defect, replace=False)])


def _normal_mean(feature_array: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-position mean feature of the normal images, (C, h * w), without copying them."""
    is_normal = labels == 0
    if not is_normal.any():
        raise DataError("without masks, ranking the patches of anomalous images needs normal images")
    weights = (is_normal / is_normal.sum()).astype(np.float32)
    return np.tensordot(weights, feature_array, axes=1)


def sample_patch_embeddings(
    features: torch.Tensor,
    labels: np.ndarray,
    masks: np.ndarray | None = None,
    per_image: int = 16,
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to `per_image` patch features per image: X (M, C) float32, anomalous (M,), image_index (M,).

    With masks (N, H, W), a patch is anomalous when its mask coverage at feature resolution is
    >= 0.5; anomalous images draw half their patches from the defect and half from the rest,
    normal images draw at random. Without masks a patch takes its image's label, and anomalous
    images contribute their most atypical patches: the largest distance to the normal images'
    mean feature at the same position. Rows are grouped by image, positions ascending.
    """
    if per_image < 1:
        raise ConfigError(f"per_image must be >= 1, got {per_image}")
    feature_array = _feature_array(features)
    label_array = binary_labels(labels)
    n, _, h, w = features.shape
    if label_array.size != n:
        raise DataError(f"labels ({label_array.size}) and features ({n}) differ in length")
    normal_mean = None  # set only without masks: the reference for the atypical patches
    if masks is None:
        patch_labels = np.repeat(label_array[:, None], h * w, axis=1)
        if label_array.any():
            normal_mean = _normal_mean(feature_array, label_array)
    else:
        patch_labels = (_mask_coverage(masks, n, h, w) >= DEFECT_COVERAGE).astype(np.int64)
    k = min(per_image, h * w)
    rng = np.random.default_rng(seed)
    rows, anomalous = [], []
    for i, label in enumerate(label_array):
        if label == 0:
            positions = rng.choice(h * w, k, replace=False)
        elif normal_mean is not None:
            deviation = np.linalg.norm(feature_array[i] - normal_mean, axis=0)
            positions = np.argsort(-deviation, kind="stable")[:k]
        else:
            positions = _half_from_defect(rng, patch_labels[i] == 1, k)
        positions = np.sort(positions)
        rows.append(feature_array[i][:, positions].T)
        anomalous.append(patch_labels[i, positions])
    image_index = np.repeat(np.arange(n, dtype=np.int64), k)
    return np.concatenate(rows).astype(np.float32), np.concatenate(anomalous), image_index


def project_2d(X: np.ndarray, method: str = "tsne", seed: int = 42, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates (M', 2) of the rows of X and the indices of the rows kept.

    At most `max_points` rows are kept (seeded subsample, ascending indices). Features are
    standardized and reduced by PCA, to 2 dimensions for "pca" or to min(50, C, M') for "tsne",
    which then runs scikit-learn's t-SNE with perplexity min(30, (M' - 1) / 3) and PCA init.
    """
    if method not in PROJECTIONS:
        raise ConfigError(f"unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}")
    if max_points < 5:
        raise ConfigError(f"max_points must be >= 5, got {max_points}")
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise DataError(f"X must be a 2-D array with at least 2 features, got shape {array.shape}")
    if array.shape[0] < 5:
        raise DataError(f"projecting needs at least 5 points, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise DataError("X contains NaN or infinite values")
    kept = np.arange(array.shape[0])
    if kept.size > max_points:
        kept = np.sort(np.random.default_rng(seed).choice(kept.size, max_points, replace=False))
    points = array[kept]
    spread = points.std(axis=0)
    points = (points - points.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(points), kept
    dims = min(50, points.shape[1], points.shape[0])
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(points)
    tsne = TSNE(n_components=2, perplexity=min(30.0, (kept.size - 1) / 3), init="pca", random_state=seed)
    return tsne.fit_transform(reduced).astype(np.float64), kept
