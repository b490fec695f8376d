"""Open-set scores: Mahalanobis and ViM against direct references, logit baselines, threshold calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from defectlab.errors import ConfigError, DataError, NotFittedError
from defectlab.pipelines.openset_scores import (
    MahalanobisScorer,
    VirtualLogitScorer,
    acceptance_threshold,
    energy_score,
    logit_score,
    max_logit_score,
    msp_score,
)


def blobs(n: int = 200, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [4.0] + [0.0] * (d - 1), [0.0, 4.0] + [0.0] * (d - 2)])
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 1, (n, d)) @ np.diag(np.linspace(0.5, 1.5, d)), y


def test_distances_match_a_direct_reference() -> None:
    x, y = blobs()
    scorer = MahalanobisScorer().fit(x, y)
    assert scorer.covariance_estimator == "empirical"
    means = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    residuals = x - means[y]
    inverse = np.linalg.inv(residuals.T @ residuals / len(x))
    probe = np.random.default_rng(1).normal(0, 2, (5, 4))
    direct = np.array([[(p - m) @ inverse @ (p - m) for m in means] for p in probe])
    np.testing.assert_allclose(scorer.distances(probe), direct, rtol=1e-8)
    np.testing.assert_allclose(scorer.score(probe), direct.min(axis=1), rtol=1e-8)
    np.testing.assert_array_equal(scorer.predict(probe), direct.argmin(axis=1))


def test_relative_subtracts_the_global_gaussian_distance() -> None:
    x, y = blobs()
    plain, relative = MahalanobisScorer().fit(x, y), MahalanobisScorer(relative=True).fit(x, y)
    probe = np.random.default_rng(2).normal(0, 2, (5, 4))
    centred = x - x.mean(axis=0)
    inverse = np.linalg.inv(centred.T @ centred / len(x))
    global_distance = np.array([(p - x.mean(axis=0)) @ inverse @ (p - x.mean(axis=0)) for p in probe])
    np.testing.assert_allclose(relative.score(probe), plain.score(probe) - global_distance, rtol=1e-7)


def test_far_points_score_higher_than_known_ones() -> None:
    x, y = blobs()
    scorer = MahalanobisScorer().fit(x, y)
    known, _ = blobs(60, seed=3)
    far = np.full((10, 4), 12.0)
    assert scorer.score(far).min() > np.quantile(scorer.score(known), 0.99)


def test_few_images_fall_back_to_shrinkage() -> None:
    x, y = blobs(n=30, d=16)
    scorer = MahalanobisScorer().fit(x, y)
    assert scorer.covariance_estimator == "ledoit_wolf"
    assert np.all(np.isfinite(scorer.score(x)))


def test_logit_scores() -> None:
    logits = np.array([[2.0, 0.0, 0.0], [0.1, 0.0, 0.2]])
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(msp_score(logits), -probabilities.max(axis=1))
    np.testing.assert_allclose(max_logit_score(logits), [-2.0, -0.2])
    np.testing.assert_allclose(energy_score(logits), -logsumexp(logits, axis=1))
    assert msp_score(logits)[0] < msp_score(logits)[1]  # the confident one is "more known"
    np.testing.assert_allclose(logit_score("energy", logits), energy_score(logits))
    with pytest.raises(ConfigError, match="unknown logit score"):
        logit_score("entropy", logits)


def test_acceptance_threshold_accepts_the_share() -> None:
    scores = np.arange(100, dtype=float)
    tau = acceptance_threshold(scores, 0.95)
    assert np.mean(scores <= tau) == pytest.approx(0.95, abs=0.01)
    with pytest.raises(DataError, match="no known validation images"):
        acceptance_threshold(np.array([]))
    with pytest.raises(ConfigError):
        acceptance_threshold(scores, 1.0)


def subspace_blobs(n: int, seed: int, off_subspace: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes spread in the first two of eight dimensions, little spread in the rest;
    ``off_subspace`` shifts every point along the last four dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    y = rng.integers(0, 3, n)
    x = np.concatenate([centres[y] + rng.normal(0, 1.0, (n, 2)), rng.normal(0, 0.1, (n, 6))], axis=1)
    x[:, 4:] += off_subspace
    return x, y


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares one-hot regression as a stand-in final layer."""
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    solution = np.linalg.lstsq(design, np.eye(3)[y] * 10, rcond=None)[0]
    return solution[:-1].T, solution[-1]


def test_vim_matches_a_direct_reference() -> None:
    x, y = subspace_blobs(300, 0)
    weight, bias = linear_fit(x, y)
    test, _ = subspace_blobs(20, 1, off_subspace=0.5)
    scorer = VirtualLogitScorer(explained=0.9).fit(x, weight, bias)
    # reference: standardize, move to the zero-logit origin, project out the top principal
    # directions (as many as explain 90% of the variance about that origin), scale the residual norm
    mean, std = x.mean(axis=0), x.std(axis=0)
    standardize = lambda v: (v - mean) / std  # noqa: E731
    origin = np.linalg.lstsq(weight * std, -(bias + weight @ mean), rcond=None)[0]
    centred = standardize(x) - origin
    values, vectors = np.linalg.eigh(np.cov(centred.T, bias=True) + np.outer(centred.mean(0), centred.mean(0)))
    values, vectors = values[::-1], vectors[:, ::-1]
    kept = int(np.argmax(np.cumsum(values) / values.sum() >= 0.9)) + 1
    projector = np.eye(8) - vectors[:, :kept] @ vectors[:, :kept].T
    residual = lambda v: np.linalg.norm((standardize(v) - origin) @ projector, axis=1)  # noqa: E731
    alpha = (x @ weight.T + bias).max(axis=1).mean() / residual(x).mean()
    logits = test @ weight.T + bias
    expected = alpha * residual(test) - logsumexp(logits, axis=1)
    assert np.allclose(scorer.score(test, logits), expected, rtol=1e-6, atol=1e-6)
    restored = VirtualLogitScorer().load_state_arrays(scorer.state_arrays("v."), "v.")
    assert np.allclose(restored.score(test, logits), expected, rtol=1e-6, atol=1e-6)


def test_vim_floors_the_spread_of_a_dimension_constant_in_training() -> None:
    x, y = subspace_blobs(300, 0)
    x[:, 7] = 0.0  # e.g. a unit that never fires on the known classes
    weight, bias = linear_fit(x, y)
    scorer = VirtualLogitScorer().fit(x, weight, bias)
    assert scorer.std_[7] == pytest.approx(0.01 * x.std(axis=0).mean())
    nudged = x[:5].copy()
    nudged[:, 7] = 0.01  # a trace of activity: a rise of about one standardized unit, not of 1e4 (spread 1e-6)
    rise = scorer.score(nudged, nudged @ weight.T + bias) - scorer.score(x[:5], x[:5] @ weight.T + bias)
    assert np.all(rise > 0) and np.all(rise < 100)


def test_vim_flags_unknowns_off_the_known_subspace_that_softmax_accepts() -> None:
    x, y = subspace_blobs(300, 0)
    weight, bias = linear_fit(x, y)
    known, _ = subspace_blobs(200, 1)
    unknown, _ = subspace_blobs(200, 2, off_subspace=1.0)  # confidently one class by the logits
    scorer = VirtualLogitScorer().fit(x, weight, bias)
    vim = [scorer.score(v, v @ weight.T + bias) for v in (known, unknown)]
    msp = [msp_score(v @ weight.T + bias) for v in (known, unknown)]
    labels = np.r_[np.zeros(len(known)), np.ones(len(unknown))]
    assert roc_auc_score(labels, np.concatenate(vim)) > 0.95
    assert roc_auc_score(labels, np.concatenate(msp)) < 0.75


def test_bad_input() -> None:
    with pytest.raises(NotFittedError):
        MahalanobisScorer().score(np.zeros((1, 3)))
    with pytest.raises(NotFittedError):
        VirtualLogitScorer().score(np.zeros((1, 3)), np.zeros((1, 2)))
    with pytest.raises(ConfigError, match="explained"):
        VirtualLogitScorer(explained=1.0).fit(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(DataError, match=r"\(K, D\) weight"):
        VirtualLogitScorer().fit(np.zeros((3, 2)), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(DataError, match="fewer than 2 images"):
        MahalanobisScorer().fit(np.zeros((3, 2)), np.array([0, 0, 1]))
    with pytest.raises(DataError, match="embeddings with N labels"):
        MahalanobisScorer().fit(np.zeros((3, 2)), np.array([0, 1]))
    x, y = blobs()
    with pytest.raises(DataError, match=r"expected \(N, 4\)"):
        MahalanobisScorer().fit(x, y).score(np.zeros((2, 3)))
