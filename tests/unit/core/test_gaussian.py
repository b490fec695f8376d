"""Per-position Gaussians and Mahalanobis distances against numpy / scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from defectlab.components.gaussian import fit_gaussians, mahalanobis, map_adapt_gaussians


@pytest.mark.parametrize(("n", "positions", "d", "reg"), [(30, 5, 4, 0.01), (8, 3, 6, 0.5), (2, 2, 3, 0.01)])
def test_fit_gaussians_matches_numpy(n: int, positions: int, d: int, reg: float) -> None:
    rng = np.random.default_rng(n + d)
    samples = rng.normal(size=(n, positions, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    mean, inv = fit_gaussians(torch.from_numpy(samples).float(), reg)
    assert mean.shape == (positions, d) and inv.shape == (positions, d, d)
    assert mean.dtype == inv.dtype == torch.float32
    s32 = samples.astype(np.float32).astype(np.float64)
    for p in range(positions):
        np.testing.assert_allclose(mean[p].numpy(), s32[:, p].mean(0), rtol=1e-5, atol=1e-6)
        cov = np.cov(s32[:, p], rowvar=False) + reg * np.eye(d)
        np.testing.assert_allclose(inv[p].numpy(), np.linalg.inv(cov), rtol=1e-4, atol=1e-4)


def test_single_sample_gives_regularization_only() -> None:
    samples = torch.randn(1, 2, 3)
    mean, inv = fit_gaussians(samples, 0.25)
    assert torch.allclose(mean, samples[0])
    assert torch.allclose(inv, 4.0 * torch.eye(3).expand(2, 3, 3))


def test_mahalanobis_matches_scipy_loop() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(40, 6, 5))
    mean, inv = fit_gaussians(torch.from_numpy(train), 0.01)
    test = rng.normal(size=(7, 6, 5)) * 1.5
    got = mahalanobis(torch.from_numpy(test).float(), mean, inv).numpy()
    assert got.shape == (7, 6)
    m, vi = mean.double().numpy(), inv.double().numpy()
    want = np.array([[scipy_mahalanobis(test[i, p], m[p], vi[p]) for p in range(6)] for i in range(7)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_mahalanobis_is_zero_at_the_mean_and_euclidean_for_identity() -> None:
    mean = torch.randn(3, 4)
    inv = torch.eye(4).expand(3, 4, 4).contiguous()
    x = torch.randn(5, 3, 4)
    assert torch.allclose(mahalanobis(mean[None], mean, inv), torch.zeros(1, 3), atol=1e-6)
    assert torch.allclose(mahalanobis(x, mean, inv), (x - mean).norm(dim=-1), atol=1e-5)


def _numpy_map_update(prior_mean, prior_cov, x, relevance, reg):
    """Reference: the GMM-UBM MAP formulas written per position in numpy."""
    k = len(x)
    a = k / (k + relevance)
    means, covs = [], []
    for p in range(x.shape[1]):
        xs = x[:, p, :]
        m = a * xs.mean(0) + (1 - a) * prior_mean[p]
        second = a * (xs.T @ xs) / k + (1 - a) * (prior_cov[p] + np.outer(prior_mean[p], prior_mean[p]))
        means.append(m)
        covs.append(second - np.outer(m, m) + a * reg * np.eye(len(m)))
    return np.array(means), np.array(covs)


def test_map_adaptation_matches_the_reference_formulas():
    rng = np.random.default_rng(0)
    source = torch.from_numpy(rng.normal(size=(40, 3, 4))).float()
    target = torch.from_numpy(rng.normal(2.0, 1.5, size=(6, 3, 4))).float()
    mean, inv = fit_gaussians(source, 0.01)
    new_mean, new_inv = map_adapt_gaussians(mean, inv, target, relevance=16.0, regularization=0.01)
    ref_mean, ref_cov = _numpy_map_update(
        mean.double().numpy(), np.linalg.inv(inv.double().numpy()), target.double().numpy(), 16.0, 0.01
    )
    np.testing.assert_allclose(new_mean.numpy(), ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.inv(new_inv.double().numpy()), ref_cov, rtol=1e-3, atol=1e-4)


def test_map_adaptation_moves_towards_the_new_domain_with_more_samples():
    rng = np.random.default_rng(1)
    source = torch.from_numpy(rng.normal(size=(50, 2, 3))).float()
    mean, inv = fit_gaussians(source)
    target = torch.from_numpy(rng.normal(5.0, 1.0, size=(64, 2, 3))).float()
    shifts = [float(map_adapt_gaussians(mean, inv, target[:k])[0].mean()) for k in (1, 4, 16, 64)]
    assert shifts == sorted(shifts) and shifts[0] > float(mean.mean()) and shifts[-1] < 5.0
    # no samples: unchanged; huge k: the new domain's own moments
    same_mean, same_inv = map_adapt_gaussians(mean, inv, target[:0])
    assert torch.equal(same_mean, mean) and torch.equal(same_inv, inv)
    far_mean, _ = map_adapt_gaussians(mean, inv, target, relevance=1e-6)
    np.testing.assert_allclose(far_mean.numpy(), target.mean(0).numpy(), atol=1e-4)
