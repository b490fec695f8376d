"""Per-channel feature statistics, and mapping features of one condition onto another's statistics
(test-time feature standardization: unlabeled images of a new condition re-centre its features)."""

from __future__ import annotations

import torch

from defectlab.errors import DataError

EPS = 1e-6


def channel_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and standard deviation (C,) of each channel of (N, C, h, w) features over images and positions."""
    if features.ndim != 4 or len(features) == 0:
        raise DataError(f"channel statistics need (N, C, h, w) features of at least one image, got {tuple(features.shape)}")
    flat = features.transpose(0, 1).reshape(features.shape[1], -1).double()
    return flat.mean(1).float(), flat.std(1, correction=0).float()


def match_statistics(
    features: torch.Tensor, source: tuple[torch.Tensor, torch.Tensor], target: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Features standardized with `source` statistics (their own condition) and rescaled to `target`'s."""
    (mean_s, std_s), (mean_t, std_t) = source, target
    shape = (1, -1, 1, 1)
    scale = (std_t / std_s.clamp_min(EPS)).view(shape)
    return (features - mean_s.view(shape)) * scale + mean_t.view(shape)
