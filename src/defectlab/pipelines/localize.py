"""Localize before classifying: embeddings guided by a stage-1 anomaly map.

Features pooled over the whole image mix a small defect with a large background; pooled over the
defect's own region they describe the defect. Without a mask at inference time, the stage-1
anomaly map stands in for it: :func:`anomaly_weighted_embedding` averages the patch features with
weights from the anomaly map (its part above the per-image ``quantile``, i.e. the hottest region),
next to the whole-image average, so the classifier sees the defect and its context.

A crop around the map's peak, re-embedded at full input size, was measured and not kept: on
synthetic steel split A (300 images per class) it gave closed-set accuracy 0.900 and MSP AUROC
0.646 (crop of half the side; 0.889 / 0.630 at 0.35) against 0.922 / 0.749 for the pooling here.
Images carry several defects, and the crop keeps one and loses the rest.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from defectlab.errors import ConfigError, DataError


def region_weights(maps: torch.Tensor, quantile: float = 0.9) -> torch.Tensor:
    """(N, h, w) non-negative weights summing to 1 per image: the map above its ``quantile``.

    A flat map (nothing above the quantile) gives uniform weights.
    """
    if not 0.0 <= quantile < 1.0:
        raise ConfigError(f"region quantile must be in [0, 1), got {quantile}")
    flat = maps.flatten(1).double()
    floor = torch.quantile(flat, quantile, dim=1, keepdim=True)
    weights = (flat - floor).clamp_min(0.0)
    total = weights.sum(dim=1, keepdim=True)
    uniform = torch.full_like(weights, 1.0 / weights.shape[1])
    weights = torch.where(total > 0, weights / total.clamp_min(1e-300), uniform)
    return weights.view_as(maps).float()


def anomaly_weighted_embedding(features: torch.Tensor, maps: torch.Tensor, quantile: float = 0.9) -> np.ndarray:
    """(N, 2C): [anomaly-weighted average of the patch features, whole-image average].

    ``features`` is (N, C, h, w); ``maps`` (N, H, W) anomaly maps at any resolution (resized to
    h x w by area averaging).
    """
    if features.ndim != 4 or maps.ndim != 3 or len(features) != len(maps):
        raise DataError(f"expected (N, C, h, w) features and (N, H, W) maps, got {tuple(features.shape)} and {tuple(maps.shape)}")
    small = F.adaptive_avg_pool2d(maps[:, None].float(), features.shape[-2:])[:, 0]
    weights = region_weights(small, quantile)
    local = torch.einsum("nchw,nhw->nc", features.float(), weights)
    return torch.cat([local, features.float().mean(dim=(2, 3))], dim=1).numpy()
