"""Error rates of the rule `score >= threshold` on labelled scores (0 normal, 1 anomalous).

The false-alarm rate is the share of normals at or above the threshold, the miss rate the share
of anomalies below it. A rate whose denominator is empty is undefined: None in :class:`ErrorRates`,
NaN in :class:`RateCurve` (no anomalies: miss rate, recall and F1; nothing flagged: precision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from defectlab.calibration.validation import finite_scores, labels_and_scores
from defectlab.errors import ConfigError


@dataclass(frozen=True)
class ErrorRates:
    """Counts and rates at one threshold (anomalous is the positive class)."""

    threshold: float
    n_normal: int
    n_anomalous: int
    false_alarms: int
    misses: int

    @property
    def false_alarm_rate(self) -> float | None:
        """Normals at or above the threshold / normals."""
        return self.false_alarms / self.n_normal if self.n_normal else None

    @property
    def miss_rate(self) -> float | None:
        """Anomalies below the threshold / anomalies."""
        return self.misses / self.n_anomalous if self.n_anomalous else None

    @property
    def recall(self) -> float | None:
        """Anomalies caught / anomalies."""
        return None if self.miss_rate is None else 1.0 - self.miss_rate

    @property
    def precision(self) -> float | None:
        """Anomalies among the flagged samples; None when nothing is flagged."""
        caught = self.n_anomalous - self.misses
        flagged = caught + self.false_alarms
        return caught / flagged if flagged else None

    @property
    def f1(self) -> float | None:
        """2 TP / (2 TP + FP + FN); None without anomalies."""
        caught = self.n_anomalous - self.misses
        return 2 * caught / (2 * caught + self.false_alarms + self.misses) if self.n_anomalous else None


@dataclass(frozen=True)
class RateCurve:
    """The rates over candidate thresholds (ascending), NaN where undefined."""

    thresholds: np.ndarray
    false_alarm_rate: np.ndarray
    miss_rate: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray


def _split(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(sorted normal scores, sorted anomalous scores) after the usual input checks."""
    label_array, score_array = labels_and_scores(labels, scores)
    return np.sort(score_array[label_array == 0]), np.sort(score_array[label_array == 1])


def _counts(normal: np.ndarray, anomalous: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false alarms, misses) at each threshold, from sorted normal and anomalous scores."""
    false_alarms = normal.size - np.searchsorted(normal, thresholds, side="left")
    misses = np.searchsorted(anomalous, thresholds, side="left")
    return false_alarms, misses


def _threshold(value: float) -> float:
    if not np.isfinite(value):
        raise ConfigError(f"threshold must be finite, got {value}")
    return float(value)


def error_rates(scores: ArrayLike, labels: ArrayLike, threshold: float) -> ErrorRates:
    """False alarms, misses and the rates derived from them when `score >= threshold` is anomalous."""
    normal, anomalous = _split(scores, labels)
    value = _threshold(threshold)
    false_alarms, misses = _counts(normal, anomalous, np.array([value]))
    return ErrorRates(value, int(normal.size), int(anomalous.size), int(false_alarms[0]), int(misses[0]))


def candidate_thresholds(scores: ArrayLike) -> np.ndarray:
    """Every distinct score ascending, then the next float above the largest (flags nothing)."""
    distinct = np.unique(finite_scores(scores))
    return np.append(distinct, np.nextafter(distinct[-1], np.inf))


def rate_curve(scores: ArrayLike, labels: ArrayLike, thresholds: ArrayLike | None = None) -> RateCurve:
    """The rates at each of `thresholds` (default: :func:`candidate_thresholds` of `scores`), sorted ascending."""
    normal, anomalous = _split(scores, labels)
    points = candidate_thresholds(scores) if thresholds is None else np.sort(finite_scores(thresholds, "thresholds"))
    false_alarms, misses = _counts(normal, anomalous, points)
    caught = anomalous.size - misses
    flagged = caught + false_alarms
    with np.errstate(divide="ignore", invalid="ignore"):
        miss_rate = misses / anomalous.size if anomalous.size else np.full(points.shape, np.nan)
        f1 = 2 * caught / (2 * caught + false_alarms + misses) if anomalous.size else np.full(points.shape, np.nan)
        return RateCurve(
            thresholds=points,
            false_alarm_rate=false_alarms / normal.size if normal.size else np.full(points.shape, np.nan),
            miss_rate=miss_rate,
            precision=np.where(flagged > 0, caught / np.maximum(flagged, 1), np.nan),
            recall=1.0 - miss_rate,
            f1=f1,
        )
