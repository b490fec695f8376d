"""Open-set recognition metrics. Open-set scores are "higher = more likely unknown".

- :func:`known_unknown_auroc`: AUROC of telling unknown-class images (positive) from known ones.
- :func:`fpr_at_95_tpr`: with the threshold that accepts 95% of known images (TPR of the known
  class), the share of unknown images also accepted (the false-positive rate).
- :func:`oscr_curve` / :func:`oscr`: the open-set classification rate (Dhamija et al., 2018):
  for each threshold, the correct-classification rate (known images accepted *and* correctly
  classified, over all known images) against the false-positive rate (unknown images accepted,
  over all unknown images); OSCR is the area under that curve.
- :func:`macro_f1_with_unknown`: macro F1 over the known classes plus ``unknown`` as a class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import f1_score

from defectlab.errors import DataError
from defectlab.metrics.image import auroc

UNKNOWN = "unknown"


def _scores(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise DataError(f"{name}: no scores")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name}: scores contain NaN or infinite values")
    return array


def known_unknown_auroc(known_scores: ArrayLike, unknown_scores: ArrayLike) -> float:
    """AUROC of the open-set score separating unknown (positive) from known images."""
    known, unknown = _scores(known_scores, "known"), _scores(unknown_scores, "unknown")
    return auroc(np.r_[np.zeros(len(known)), np.ones(len(unknown))], np.r_[known, unknown])


def fpr_at_95_tpr(known_scores: ArrayLike, unknown_scores: ArrayLike, tpr: float = 0.95) -> float:
    """Share of unknown images accepted when the threshold accepts ``tpr`` of the known ones.

    Accepted means ``score <= threshold``; the threshold is the smallest known score with at
    least ``tpr`` of the known scores at or below it.
    """
    known, unknown = np.sort(_scores(known_scores, "known")), _scores(unknown_scores, "unknown")
    threshold = known[int(np.ceil(tpr * len(known))) - 1]
    return float(np.mean(unknown <= threshold))


def oscr_curve(known_scores: ArrayLike, known_correct: ArrayLike, unknown_scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, correct-classification rate) at every threshold, FPR ascending from 0 to 1."""
    known, unknown = _scores(known_scores, "known"), _scores(unknown_scores, "unknown")
    correct = np.asarray(known_correct, dtype=bool).ravel()
    if len(correct) != len(known):
        raise DataError(f"{len(correct)} correctness flags for {len(known)} known scores")
    thresholds = np.unique(np.r_[known, unknown])
    ccr = np.array([np.mean((known <= t) & correct) for t in thresholds])
    fpr = np.array([np.mean(unknown <= t) for t in thresholds])
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, ccr, ccr[-1]]


def oscr(known_scores: ArrayLike, known_correct: ArrayLike, unknown_scores: ArrayLike) -> float:
    """Area under the OSCR curve (1 = every known image correct and accepted before any unknown)."""
    fpr, ccr = oscr_curve(known_scores, known_correct, unknown_scores)
    return float(np.sum(np.diff(fpr) * (ccr[1:] + ccr[:-1]) / 2.0))


def macro_f1_with_unknown(true_labels: Sequence[str], predicted_labels: Sequence[str]) -> float:
    """Macro F1 over every label present in either list (``unknown`` counts as one class)."""
    truth, predicted = np.asarray(true_labels, dtype=str), np.asarray(predicted_labels, dtype=str)
    if len(truth) != len(predicted) or len(truth) == 0:
        raise DataError(f"{len(truth)} true labels for {len(predicted)} predictions")
    labels = sorted(set(truth.tolist()) | set(predicted.tolist()))
    return float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))
