"""DeLong test and interval: naive structural-component reference, sklearn AUCs, edge cases."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from defectlab.errors import ConfigError, DataError
from defectlab.metrics import DeLongResult, delong_ci, delong_test


def psi(x, y):
    return 1.0 if x > y else 0.5 if x == y else 0.0


def reference_delong(labels, *scores):
    """Textbook O(m*n) DeLong (1988): per-scorer psi matrices, V10/V01, S10/S01 covariances."""
    labels = np.asarray(labels)
    aucs, v10, v01 = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=float)
        pos, neg = s[labels == 1], s[labels == 0]
        table = np.array([[psi(x, y) for y in neg] for x in pos])
        aucs.append(table.mean())
        v10.append(table.mean(axis=1))
        v01.append(table.mean(axis=0))
    aucs, v10, v01 = np.array(aucs), np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    s10 = (v10 - aucs[:, None]) @ (v10 - aucs[:, None]).T / (m - 1)
    s01 = (v01 - aucs[:, None]) @ (v01 - aucs[:, None]).T / (n - 1)
    return aucs, s10 / m + s01 / n


def reference_p_value(labels, scores_a, scores_b):
    aucs, cov = reference_delong(labels, scores_a, scores_b)
    contrast = np.array([1.0, -1.0])
    z = (aucs[0] - aucs[1]) / np.sqrt(contrast @ cov @ contrast)
    return 2 * stats.norm.sf(abs(z)), np.sqrt(contrast @ cov @ contrast)


def tied_scores(seed, n=60):
    """Labels plus two correlated scorers rounded to one decimal, so ties are common."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2], labels[2:4] = 0, 1
    shared = rng.normal(size=n)
    a = np.round(shared + 0.9 * labels + 0.5 * rng.normal(size=n), 1)
    b = np.round(shared + 0.4 * labels + 0.5 * rng.normal(size=n), 1)
    return labels, a, b


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_test_matches_naive_reference(seed):
    labels, a, b = tied_scores(seed)
    assert len(np.unique(a)) < len(a)  # the data really has ties
    result = delong_test(labels, a, b)
    (auc_a, auc_b), _ = reference_delong(labels, a, b)
    p_value, std_error = reference_p_value(labels, a, b)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.difference == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert result.std_error == pytest.approx(std_error, rel=1e-9)
    assert result.z == pytest.approx((auc_a - auc_b) / std_error, rel=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 5])
def test_ci_matches_naive_variance(seed):
    labels, a, _ = tied_scores(seed)
    (auc,), cov = reference_delong(labels, a)
    half = stats.norm.ppf(0.95) * np.sqrt(cov[0, 0])
    assert delong_ci(labels, a, confidence=0.9) == pytest.approx((auc - half, auc + half), rel=1e-9)


def test_aucs_equal_sklearn():
    labels, a, b = tied_scores(7, n=200)
    result = delong_test(labels, a, b)
    assert result.auc_a == pytest.approx(roc_auc_score(labels, a), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(labels, b), abs=1e-12)


def test_difference_interval_is_symmetric_around_the_difference():
    labels, a, b = tied_scores(3)
    result = delong_test(labels, a, b, confidence=0.9)
    half = stats.norm.ppf(0.95) * result.std_error
    expected = (result.difference - half, result.difference + half)
    assert (result.low, result.high) == pytest.approx(expected)


def test_swapping_scorers_flips_the_sign_only():
    labels, a, b = tied_scores(4)
    forward, backward = delong_test(labels, a, b), delong_test(labels, b, a)
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.z == pytest.approx(-forward.z)
    assert backward.std_error == pytest.approx(forward.std_error)
    assert backward.p_value == pytest.approx(forward.p_value)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low))


def test_clearly_better_scorer_is_significant():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    strong = rng.normal(size=200) + 2.5 * labels
    weak = rng.normal(size=200) + 0.3 * labels
    result = delong_test(labels, strong, weak)
    assert result.difference > 0.2
    assert result.p_value < 0.01
    assert result.low > 0


def test_identical_scores_give_zero_difference_and_p_one():
    labels, a, _ = tied_scores(1)
    result = delong_test(labels, a, a.copy())
    assert isinstance(result, DeLongResult)
    assert result.difference == 0.0 and result.std_error == 0.0 and result.z == 0.0
    assert result.p_value == 1.0
    assert result.low == result.high == 0.0


def test_zero_variance_with_a_difference_gives_p_zero():
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    result = delong_test(labels, perfect, -perfect)  # every pair ranked right vs. every pair wrong
    assert result.difference == 1.0 and result.std_error == 0.0
    assert result.z == np.inf and result.p_value == 0.0


def test_monotonic_transform_changes_nothing():
    labels, a, b = tied_scores(2)
    assert delong_test(labels, np.exp(a), 3 * b - 1) == delong_test(labels, a, b)
    assert delong_ci(labels, np.arctan(a)) == delong_ci(labels, a)


def test_ci_covers_the_auc_and_narrows_with_confidence():
    labels, a, _ = tied_scores(6, n=150)
    auc = roc_auc_score(labels, a)
    low95, high95 = delong_ci(labels, a)
    low80, high80 = delong_ci(labels, a, confidence=0.8)
    assert low95 < low80 < auc < high80 < high95


def test_ci_is_clipped_to_the_unit_interval():
    labels = np.array([0, 0, 0, 1, 1, 1])
    one_swap = np.array([0.1, 0.2, 0.8, 0.7, 0.85, 0.9])
    (auc,), cov = reference_delong(labels, one_swap)
    assert auc + 1.96 * np.sqrt(cov[0, 0]) > 1.0  # the unclipped interval leaves [0, 1]
    low, high = delong_ci(labels, one_swap)
    assert 0.0 < low < auc and high == 1.0
    assert delong_ci(labels, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == (1.0, 1.0)  # zero variance
    assert delong_ci(labels, [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]) == (0.0, 0.0)


def test_accepts_lists():
    labels, a, b = tied_scores(0)
    assert delong_test(labels.tolist(), a.tolist(), b.tolist()) == delong_test(labels, a, b)


@pytest.mark.parametrize(
    ("labels", "a", "b", "message"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], "scores_a"),
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3], "scores_b"),
        ([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "two normal and two anomalous"),
        ([0, 0, 1, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "two normal and two anomalous"),
        ([0, 0, 1, 1], [0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "NaN or infinite"),
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, np.inf, 0.4], "NaN or infinite"),
        ([0, 2, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "only 0"),
        ([], [], [], "empty"),
    ],
)
def test_test_rejects_bad_data(labels, a, b, message):
    with pytest.raises(DataError, match=message):
        delong_test(labels, a, b)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.3], "differ in length"),
        ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], "two normal and two anomalous"),
        ([0, 0, 1, 1], [0.1, 0.2, -np.inf, 0.4], "NaN or infinite"),
    ],
)
def test_ci_rejects_bad_data(labels, scores, message):
    with pytest.raises(DataError, match=message):
        delong_ci(labels, scores)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_confidence_must_be_inside_the_unit_interval(confidence):
    labels, a, b = tied_scores(0)
    with pytest.raises(ConfigError, match="confidence"):
        delong_test(labels, a, b, confidence=confidence)
    with pytest.raises(ConfigError, match="confidence"):
        delong_ci(labels, a, confidence=confidence)
