"""Image-level detection metrics: ranking (AUROC, AUPRC) and fixed-threshold counts.

Labels are 0 (normal) / 1 (anomalous); a higher score is more anomalous and a sample is
predicted anomalous when `score >= threshold`. Ranking metrics return NaN when only one class
is present, because evaluation sets may legitimately lack anomalies; empty input, mismatched
lengths and NaN/inf scores raise DataError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn import metrics as skm

from defectlab.calibration.validation import binary_labels, labels_and_scores
from defectlab.errors import ConfigError, DataError
from defectlab.metrics.mann_whitney import auroc_from_samples


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(labels.any() and not labels.all())


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (ties count 1/2); NaN if only one class is present.

    Exact Mann-Whitney count, equal to scikit-learn's roc_auc_score but much faster.
    """
    label_array, score_array = labels_and_scores(labels, scores)
    is_anomalous = label_array == 1
    return auroc_from_samples(score_array[~is_anomalous], score_array[is_anomalous])


def auprc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Average precision (step-wise area under the PR curve); NaN if only one class is present."""
    label_array, score_array = labels_and_scores(labels, scores)
    if not _has_both_classes(label_array):
        return float("nan")
    return float(skm.average_precision_score(label_array, score_array))


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion counts and rates at one threshold (anomalous is the positive class).

    precision is 0 when nothing is predicted anomalous; recall and f1 are NaN when no sample
    is anomalous; accuracy is always defined.
    """

    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    f1: float
    accuracy: float

    @classmethod
    def from_counts(cls, tp: int, fp: int, tn: int, fn: int) -> ThresholdMetrics:
        """Derive the rates from the four counts."""
        anomalous = tp + fn
        return cls(
            tp=tp,
            fp=fp,
            tn=tn,
            fn=fn,
            precision=tp / (tp + fp) if tp + fp else 0.0,
            recall=tp / anomalous if anomalous else float("nan"),
            f1=2 * tp / (2 * tp + fp + fn) if anomalous else float("nan"),
            accuracy=(tp + tn) / (tp + fp + tn + fn),
        )


def confusion_matrix(labels: ArrayLike, preds: ArrayLike) -> np.ndarray:
    """2x2 int64 matrix [[tn, fp], [fn, tp]] (rows: true label, columns: prediction)."""
    label_array = binary_labels(labels)
    pred_array = binary_labels(preds, name="preds")
    if label_array.shape != pred_array.shape:
        raise DataError(f"labels {label_array.shape} and preds {pred_array.shape} differ in length")
    return np.bincount(2 * label_array + pred_array, minlength=4).reshape(2, 2)


def threshold_metrics(labels: ArrayLike, scores: ArrayLike, threshold: float) -> ThresholdMetrics:
    """Counts and rates when samples with `score >= threshold` are called anomalous."""
    if np.isnan(threshold):
        raise ConfigError("threshold is NaN")
    label_array, score_array = labels_and_scores(labels, scores)
    preds = (score_array >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(label_array, preds).tolist()
    return ThresholdMetrics.from_counts(tp=tp, fp=fp, tn=tn, fn=fn)


def f1_at(labels: ArrayLike, scores: ArrayLike, threshold: float) -> float:
    """F1 of the anomalous class at `threshold`; NaN when no sample is anomalous."""
    return threshold_metrics(labels, scores, threshold).f1


def _require_both_classes(labels: np.ndarray, curve: str) -> None:
    if not _has_both_classes(labels):
        raise DataError(f"{curve} needs both normal and anomalous samples")


def roc_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for plotting, decreasing thresholds, first one +inf.

    Collinear points are dropped. Raises DataError if only one class is present.
    """
    label_array, score_array = labels_and_scores(labels, scores)
    _require_both_classes(label_array, "roc_curve")
    fpr, tpr, thresholds = skm.roc_curve(label_array, score_array)
    return fpr, tpr, thresholds


def pr_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) for plotting, increasing thresholds.

    precision/recall have one more entry than thresholds: the final point is (1, 0).
    Raises DataError if only one class is present.
    """
    label_array, score_array = labels_and_scores(labels, scores)
    _require_both_classes(label_array, "pr_curve")
    precision, recall, thresholds = skm.precision_recall_curve(label_array, score_array)
    return precision, recall, thresholds
