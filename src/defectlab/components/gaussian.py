"""Gaussian statistics per position and Mahalanobis distances (PaDiM, Mahalanobis detectors)."""

from __future__ import annotations

import torch


def fit_gaussians(samples: torch.Tensor, regularization: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (P, d) and inverse of the regularized covariance (P, d, d) of samples (N, P, d).

    The covariance is the unbiased estimate plus `regularization` * identity.
    """
    n, positions, d = samples.shape
    samples = samples.double()
    mean = samples.mean(0)
    centred = (samples - mean).permute(1, 0, 2)  # (P, N, d)
    cov = centred.transpose(1, 2) @ centred / max(n - 1, 1)
    cov += regularization * torch.eye(d, dtype=cov.dtype)
    inv = torch.linalg.inv(cov.contiguous())
    return mean.float(), inv.float().contiguous()


def mahalanobis(samples: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor) -> torch.Tensor:
    """Distances (N, P) of samples (N, P, d) to per-position Gaussians (P, d), (P, d, d)."""
    diff = (samples - mean).permute(1, 0, 2)  # (P, N, d)
    squared = ((diff @ inv_cov) * diff).sum(-1)  # (P, N)
    return squared.clamp_min(0.0).sqrt().T.contiguous()


def map_adapt_gaussians(
    mean: torch.Tensor,
    inv_cov: torch.Tensor,
    samples: torch.Tensor,
    relevance: float = 16.0,
    regularization: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-a-posteriori update of per-position Gaussians with k new samples (N=k, P, d).

    The prior Gaussians (mean, inverse covariance) are moved towards the samples' first and second
    moments with weight alpha = k / (k + relevance), as in GMM-UBM adaptation (Reynolds et al.,
    2000; relevance 16 there): m = a*mean_new + (1-a)*mean, M2 = a*E[x x^T]_new + (1-a)*(cov + mean mean^T),
    cov' = M2 - m m^T + a*regularization*I (the prior covariance already carries its share).
    Returns the new mean (P, d) and inverse covariance (P, d, d).
    """
    k, positions, d = samples.shape
    if k == 0:
        return mean, inv_cov
    alpha = k / (k + relevance)
    prior_mean = mean.double()
    prior_cov = torch.linalg.inv(inv_cov.double())
    x = samples.double().permute(1, 0, 2)  # (P, k, d)
    new_mean = x.mean(1)
    new_second = x.transpose(1, 2) @ x / k
    prior_second = prior_cov + prior_mean[:, :, None] * prior_mean[:, None, :]
    m = alpha * new_mean + (1 - alpha) * prior_mean
    cov = alpha * new_second + (1 - alpha) * prior_second - m[:, :, None] * m[:, None, :]
    cov = 0.5 * (cov + cov.transpose(1, 2)) + alpha * regularization * torch.eye(d, dtype=cov.dtype)
    return m.float(), torch.linalg.inv(cov).float().contiguous()
