"""Open-set metrics against direct references."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.errors import DataError
from defectlab.metrics.openset import fpr_at_95_tpr, known_unknown_auroc, macro_f1_with_unknown, oscr, oscr_curve


def pairwise_auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    wins = [(u > k) + 0.5 * (u == k) for u in unknown for k in known]
    return float(np.mean(wins))


def test_auroc_matches_pairwise_counting() -> None:
    rng = np.random.default_rng(0)
    known, unknown = rng.normal(0, 1, 40).round(1), rng.normal(1, 1, 30).round(1)  # ties included
    assert known_unknown_auroc(known, unknown) == pytest.approx(pairwise_auroc(known, unknown))


def test_fpr_at_95_tpr_by_hand() -> None:
    known = np.arange(1, 21, dtype=float)  # threshold accepting 95% of 20 = 19 images: score 19
    unknown = np.array([5.0, 19.0, 19.5, 30.0])
    assert fpr_at_95_tpr(known, unknown) == pytest.approx(0.5)  # 5 and 19 accepted


def direct_oscr(known: np.ndarray, correct: np.ndarray, unknown: np.ndarray) -> float:
    """Area by sweeping the threshold from below every score to above every score, step by step."""
    points = [(0.0, 0.0)]
    for t in sorted(set(known) | set(unknown)):
        points.append((np.mean(unknown <= t), np.mean((known <= t) & correct)))
    points.append((1.0, points[-1][1]))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))


def test_oscr_matches_a_direct_sweep() -> None:
    rng = np.random.default_rng(1)
    known, unknown = rng.normal(0, 1, 50), rng.normal(1.5, 1, 40)
    correct = rng.random(50) < 0.8
    assert oscr(known, correct, unknown) == pytest.approx(direct_oscr(known, correct, unknown))
    fpr, ccr = oscr_curve(known, correct, unknown)
    assert fpr[0] == 0 and fpr[-1] == 1 and np.all(np.diff(fpr) >= 0) and np.all(np.diff(ccr) >= 0)


def test_oscr_extremes() -> None:
    known, unknown = np.array([0.1, 0.2, 0.3]), np.array([0.9, 1.0])
    assert oscr(known, [True, True, True], unknown) == pytest.approx(1.0)
    assert oscr(known, [True, False, True], unknown) == pytest.approx(2 / 3)
    assert oscr(unknown, [True, True], known) == pytest.approx(0.0)  # every unknown accepted first


def test_macro_f1_with_unknown_by_hand() -> None:
    truth = ["a", "a", "b", "unknown", "unknown"]
    predicted = ["a", "unknown", "b", "unknown", "a"]
    # a: P 1/2 R 1/2 F .5; b: F 1; unknown: P 1/2 R 1/2 F .5
    assert macro_f1_with_unknown(truth, predicted) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_bad_input() -> None:
    with pytest.raises(DataError, match="no scores"):
        known_unknown_auroc([], [1.0])
    with pytest.raises(DataError, match="NaN"):
        fpr_at_95_tpr([np.nan], [1.0])
    with pytest.raises(DataError, match="correctness flags"):
        oscr([1.0, 2.0], [True], [3.0])
    with pytest.raises(DataError, match="true labels"):
        macro_f1_with_unknown(["a"], [])
