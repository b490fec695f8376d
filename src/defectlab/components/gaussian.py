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
