"""Multi-class classification metrics, group robustness and Causal Effect Strength.

Every function takes numpy arrays (or sequences) and returns plain floats or dicts of them, ready
for ``json.dumps``. Bad shapes and values raise DataError.

Causal Effect Strength (CES) of a binary factor X (a nuisance such as "brightness shift applied",
or "a synthetic defect pasted") on a model's positive-class prediction Y:

- interventional difference ``dP(Y|do(X)) = mean_i P(Y=1 | image_i, X=1) - mean_i P(Y=1 | image_i, X=0)``,
  on the *same* images i with the factor applied and withheld (paired);
- observational difference ``dP(Y|X) = mean_j P(Y=1 | x_j) over images with X=1 - mean over images
  with X=0``, with X measured in the data (e.g. brightness above vs below the median);
- ``CES = dP(Y|do(X)) - dP(Y|X)``.

For a nuisance, a robust model has ``dP(Y|do(X)) ~ 0`` and ``CES ~ -dP(Y|X)`` measures how much
of the observed association is confounding; for the defect factor, ``dP(Y|do(X))`` is the
model's true sensitivity to the defect.

Worked example (nuisance X = brightness). Four images with and without a brightness shift:
``p_do_1 = [0.3, 0.5, 0.2, 0.6]``, ``p_do_0 = [0.2, 0.5, 0.2, 0.5]``, paired differences
``[0.1, 0, 0, 0.1]``, so ``dP(Y|do(X)) = 0.05``. Six images as found in the data,
``p_obs = [0.8, 0.7, 0.6, 0.3, 0.2, 0.1]`` with ``x_obs = [1, 1, 1, 0, 0, 0]`` (bright = 1):
``dP(Y|X) = 0.7 - 0.2 = 0.5``. ``CES = 0.05 - 0.5 = -0.45``: bright images get much higher defect
scores in the data, but making an image bright barely moves its score, so 0.45 of the 0.5
association comes from something that travels with brightness (e.g. defective parts being
photographed under brighter light), not from brightness itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import f1_score

from defectlab.calibration.validation import finite_scores
from defectlab.errors import ConfigError, DataError
from defectlab.metrics.bootstrap import _check_options, _percentiles, _resample_indices
from defectlab.metrics.mann_whitney import auroc_from_samples

_ROW_SUM_TOLERANCE = 1e-3


def _probability_matrix(probabilities: ArrayLike) -> np.ndarray:
    try:
        array = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"probabilities must be a numeric (N, K) array ({exc})") from exc
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise DataError(f"probabilities must be a non-empty (N, K) array with K >= 2 classes, got shape {array.shape}")
    if not np.isfinite(array).all() or array.min() < 0:
        raise DataError("probabilities must be finite and non-negative")
    worst = float(np.abs(array.sum(axis=1) - 1.0).max())
    if worst > _ROW_SUM_TOLERANCE:
        raise DataError(f"probability rows must sum to 1 (off by up to {worst:.3g}); apply softmax first")
    return array


def _class_labels(labels: ArrayLike, probabilities: np.ndarray) -> np.ndarray:
    array = np.asarray(labels)
    n_rows, num_classes = probabilities.shape
    if array.ndim != 1 or array.size != n_rows:
        raise DataError(f"labels must be 1-D with one entry per probability row ({n_rows}), got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.mod(array, 1) == 0):
        raise DataError("labels must be integer class indices")
    if array.min() < 0 or array.max() >= num_classes:
        raise DataError(f"labels must be class indices in [0, {num_classes - 1}], got {array.min()}..{array.max()}")
    return array.astype(np.int64)


def _one_vs_rest_auroc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Binary: AUROC of class 1. Multi-class: mean one-vs-rest AUROC over classes with positives and negatives."""
    classes = [1] if probabilities.shape[1] == 2 else range(probabilities.shape[1])
    values = [
        auroc_from_samples(probabilities[labels != k, k], probabilities[labels == k, k])
        for k in classes
        if 0 < np.count_nonzero(labels == k) < labels.size
    ]
    return float(np.mean(values)) if values else float("nan")


def classification_metrics(labels: ArrayLike, probabilities: ArrayLike) -> dict[str, float]:
    """accuracy, macro_f1, auroc and balanced_accuracy of (N, K) class probabilities.

    Predictions are the argmax of each row. macro_f1 is scikit-learn's macro F1 (over the classes
    in labels or predictions, zero_division=0). auroc is the class-1 AUROC for K = 2, otherwise
    the unweighted mean one-vs-rest AUROC over the classes present in labels that are not the
    only class; NaN when no class qualifies. balanced_accuracy is the mean recall over the
    classes present in labels.
    """
    probability_array = _probability_matrix(probabilities)
    label_array = _class_labels(labels, probability_array)
    predictions = probability_array.argmax(axis=1)
    correct = predictions == label_array
    recalls = [correct[label_array == k].mean() for k in np.unique(label_array)]
    return {
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(label_array, predictions, average="macro", zero_division=0)),
        "auroc": _one_vs_rest_auroc(label_array, probability_array),
        "balanced_accuracy": float(np.mean(recalls)),
    }


def robustness_index(clean: Mapping[str, float], shifted: Mapping[str, float]) -> dict[str, float]:
    """shifted / clean for every metric in both dicts (clean's order); NaN when clean is 0 or NaN."""
    common = [key for key in clean if key in shifted]
    if not common:
        raise DataError(f"no metric in common: clean has {sorted(clean)}, shifted has {sorted(shifted)}")
    index = {}
    for key in common:
        base, value = float(clean[key]), float(shifted[key])
        index[key] = value / base if base != 0 and not np.isnan(base) else float("nan")
    return index


def _group_hits(labels: ArrayLike, predictions: ArrayLike, groups: ArrayLike) -> dict[str, np.ndarray]:
    """Per group (keyed by ``str(group)``, sorted): whether each of its samples was predicted correctly."""
    arrays = [np.asarray(a) for a in (labels, predictions, groups)]
    for name, array in zip(("labels", "predictions", "groups"), arrays, strict=True):
        if array.ndim != 1:
            raise DataError(f"{name} must be 1-D, got shape {array.shape}")
    lengths = [array.size for array in arrays]
    if len(set(lengths)) != 1:
        raise DataError(f"labels, predictions and groups differ in length: {lengths}")
    if lengths[0] == 0:
        raise DataError("no samples to group")
    label_array, prediction_array, group_array = arrays
    correct = label_array == prediction_array
    keys = np.array([str(group) for group in group_array])
    return {str(key): correct[keys == key] for key in np.unique(keys)}


def group_accuracies(labels: ArrayLike, predictions: ArrayLike, groups: ArrayLike) -> dict[str, float]:
    """Accuracy of each group, keyed by ``str(group)`` in sorted order (groups are any per-sample values)."""
    return {key: float(hits.mean()) for key, hits in _group_hits(labels, predictions, groups).items()}


def worst_group_accuracy(labels: ArrayLike, predictions: ArrayLike, groups: ArrayLike) -> float:
    """The lowest per-group accuracy."""
    return min(group_accuracies(labels, predictions, groups).values())


def mean_group_accuracy(labels: ArrayLike, predictions: ArrayLike, groups: ArrayLike) -> float:
    """Unweighted mean of the per-group accuracies (every group counts once, whatever its size)."""
    return float(np.mean(list(group_accuracies(labels, predictions, groups).values())))


def group_report(labels: ArrayLike, predictions: ArrayLike, groups: ArrayLike) -> dict[str, Any]:
    """Per-group accuracy and size, the worst group (first in sorted order on ties), mean group and overall accuracy."""
    hits = _group_hits(labels, predictions, groups)
    per_group = {key: {"accuracy": float(h.mean()), "n": int(h.size)} for key, h in hits.items()}
    worst = min(per_group, key=lambda key: per_group[key]["accuracy"])
    return {
        "groups": per_group,
        "worst_group": worst,
        "worst_group_accuracy": per_group[worst]["accuracy"],
        "mean_group_accuracy": float(np.mean([g["accuracy"] for g in per_group.values()])),
        "accuracy": float(np.concatenate(list(hits.values())).mean()),
    }


def _probabilities(values: ArrayLike, name: str) -> np.ndarray:
    array = finite_scores(values, name)
    if array.min() < 0 or array.max() > 1:
        raise DataError(f"{name} must be probabilities in [0, 1], got values in [{array.min():.4g}, {array.max():.4g}]")
    return array


def _binary_factor(x: ArrayLike, n: int) -> np.ndarray:
    array = np.asarray(x)
    if array.ndim != 1 or array.size != n:
        raise DataError(f"x must be a 1-D array of {n} factor values (one per probability), got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise DataError("x must be binary: 0/False (factor absent) or 1/True (factor present)")
    return array.astype(bool)


def interventional_difference(p_do_1: ArrayLike, p_do_0: ArrayLike) -> float:
    """dP(Y|do(X)): mean of P(Y=1) with the factor applied minus withheld, paired over the same images."""
    with_factor = _probabilities(p_do_1, "p_do_1")
    without_factor = _probabilities(p_do_0, "p_do_0")
    if with_factor.size != without_factor.size:
        raise DataError(
            f"p_do_1 ({with_factor.size}) and p_do_0 ({without_factor.size}) must be paired: the same images "
            "with the factor applied and withheld"
        )
    return float(np.mean(with_factor - without_factor))


def observational_difference(p: ArrayLike, x: ArrayLike) -> float:
    """dP(Y|X): mean P(Y=1) over images with X=1 minus the mean over images with X=0."""
    probabilities = _probabilities(p, "p")
    present = _binary_factor(x, probabilities.size)
    if present.all() or not present.any():
        level = 0 if present.all() else 1
        raise DataError(f"x has no samples with X={level}: the observational difference needs both levels")
    return float(probabilities[present].mean() - probabilities[~present].mean())


def causal_effect_strength(
    p_do_1: ArrayLike,
    p_do_0: ArrayLike,
    p_obs: ArrayLike,
    x_obs: ArrayLike,
    n_boot: int = 1000,
    seed: int = 42,
    confidence: float = 0.95,
) -> dict[str, float]:
    """interventional, observational and ces = interventional - observational, with ces_low/ces_high.

    The percentile bootstrap interval resamples the paired interventional images (generator seed
    ``seed``) and, independently, the observational images within each level of X (seed
    ``seed + 1``), so both levels stay non-empty in every resample.
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    _check_options(n_boot, confidence)
    interventional = interventional_difference(p_do_1, p_do_0)
    observational = observational_difference(p_obs, x_obs)
    paired = np.asarray(p_do_1, dtype=np.float64) - np.asarray(p_do_0, dtype=np.float64)
    probabilities = np.asarray(p_obs, dtype=np.float64)
    present = _binary_factor(x_obs, probabilities.size)
    resampled = np.array(
        [
            paired[pair_index].mean() - observational_difference(probabilities[obs_index], present[obs_index])
            for pair_index, obs_index in zip(
                _resample_indices(None, paired.size, n_boot, seed),
                _resample_indices(present, present.size, n_boot, seed + 1),
                strict=True,
            )
        ]
    )
    low, high = _percentiles(resampled, confidence)
    return {
        "interventional": interventional,
        "observational": observational,
        "ces": interventional - observational,
        "ces_low": low,
        "ces_high": high,
    }
