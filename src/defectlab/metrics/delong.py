"""DeLong's test and interval for ROC AUCs measured on the same test images.

DeLong, DeLong & Clarke-Pearson (1988) estimate the variance of an AUROC, and the covariance of
two AUROCs computed on the same samples, from per-sample "structural components"; Sun & Xu (2014)
compute those components from midranks in O(n log n). Ties count 1/2, exactly as in `auroc`.
Labels are 0 (normal) / 1 (anomalous) and a higher score is more anomalous. The variance needs
at least two normal and two anomalous samples; fewer, mismatched lengths or NaN/inf scores raise
DataError.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from defectlab.calibration.validation import binary_labels, finite_scores
from defectlab.errors import ConfigError, DataError


class DeLongResult(NamedTuple):
    """Paired comparison auc_a - auc_b: standard error, z, two-sided p-value and interval."""

    auc_a: float
    auc_b: float
    difference: float
    std_error: float
    z: float
    p_value: float
    low: float
    high: float


class _Components(NamedTuple):
    auc: np.ndarray  # (k,) one AUROC per scorer
    v10: np.ndarray  # (k, m) per anomalous sample: share of normals it outranks
    v01: np.ndarray  # (k, n) per normal sample: share of anomalies that outrank it


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")


def _components(labels: ArrayLike, scores: dict[str, ArrayLike]) -> _Components:
    """Validate labels and named score vectors; structural components from midranks (Sun & Xu)."""
    label_array = binary_labels(labels)
    score_rows = []
    for name, values in scores.items():
        row = finite_scores(values, name=name)
        if row.shape != label_array.shape:
            raise DataError(f"labels {label_array.shape} and {name} {row.shape} differ in length")
        score_rows.append(row)
    is_anomalous = label_array == 1
    m, n = int(is_anomalous.sum()), int((~is_anomalous).sum())
    if m < 2 or n < 2:
        raise DataError(f"DeLong needs at least two normal and two anomalous samples, got {n} normal and {m} anomalous")
    matrix = np.stack(score_rows)
    positives, negatives = matrix[:, is_anomalous], matrix[:, ~is_anomalous]
    rank_all = stats.rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    rank_pos = stats.rankdata(positives, axis=1)
    rank_neg = stats.rankdata(negatives, axis=1)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    return _Components(v10.mean(axis=1), v10, v01)


def _std_error(v10: np.ndarray, v01: np.ndarray) -> float:
    """Standard error of an AUROC (or an AUROC difference) from its 1-D structural components."""
    return float(np.sqrt(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size))


def delong_test(labels: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, confidence: float = 0.95) -> DeLongResult:
    """Paired DeLong test of AUROC(a) - AUROC(b) for two scorers on the same samples.

    The p-value is two-sided under the normal approximation; low/high is the `confidence`
    interval of the difference. With zero variance (e.g. identical scores) p is 1.0 when the
    difference is 0 and 0.0 otherwise.
    """
    _check_confidence(confidence)
    auc, v10, v01 = _components(labels, {"scores_a": scores_a, "scores_b": scores_b})
    difference = float(auc[0] - auc[1])
    std_error = _std_error(v10[0] - v10[1], v01[0] - v01[1])
    if std_error == 0.0:
        z = 0.0 if difference == 0.0 else float(np.copysign(np.inf, difference))
        p_value = 1.0 if difference == 0.0 else 0.0
    else:
        z = difference / std_error
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    half_width = float(stats.norm.ppf(0.5 + confidence / 2.0)) * std_error
    return DeLongResult(
        auc_a=float(auc[0]),
        auc_b=float(auc[1]),
        difference=difference,
        std_error=std_error,
        z=z,
        p_value=p_value,
        low=difference - half_width,
        high=difference + half_width,
    )


def delong_ci(labels: ArrayLike, scores: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """`confidence` interval of one AUROC: normal approximation with DeLong variance, clipped to [0, 1]."""
    _check_confidence(confidence)
    auc, v10, v01 = _components(labels, {"scores": scores})
    half_width = float(stats.norm.ppf(0.5 + confidence / 2.0)) * _std_error(v10[0], v01[0])
    return max(0.0, float(auc[0]) - half_width), min(1.0, float(auc[0]) + half_width)
