"""Exact AUROC as the Mann-Whitney statistic: P(anomalous > normal) + P(tie) / 2.

One O(n log n) sort per class and no per-threshold work, so it is much faster than
scikit-learn's roc_auc_score on small sets (bootstrap loops) and on pixel-level AUROC
(``docs/decisions/mann-whitney-auroc.md``). Inputs must already be validated finite 1-D arrays.
"""

from __future__ import annotations

import numpy as np


def auroc_from_samples(normal_scores: np.ndarray, anomalous_scores: np.ndarray) -> float:
    """AUROC of two 1-D score samples (ties count 1/2); NaN if either is empty."""
    if normal_scores.size == 0 or anomalous_scores.size == 0:
        return float("nan")
    normal_scores = np.sort(normal_scores)
    anomalous_scores = np.sort(anomalous_scores)  # sorted queries keep searchsorted cache-friendly
    below = np.searchsorted(normal_scores, anomalous_scores, side="left")
    below_or_equal = np.searchsorted(normal_scores, anomalous_scores, side="right")
    twice_wins = int(below.sum()) + int(below_or_equal.sum())
    return twice_wins / (2 * anomalous_scores.size * normal_scores.size)
