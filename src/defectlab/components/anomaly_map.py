"""Anomaly-map post-processing: upsampling to image size, Gaussian smoothing, image scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from defectlab.errors import ConfigError


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Normalized 1-D Gaussian taps, radius round(truncate * sigma) (scipy's convention)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, H, W) maps; borders mirrored as scipy's mode="mirror"."""
    if sigma <= 0:
        return maps
    kernel = gaussian_kernel1d(sigma).to(maps.dtype)
    radius = len(kernel) // 2
    x = maps.unsqueeze(1)
    h, w = x.shape[-2:]
    if radius >= min(h, w):
        raise ConfigError(f"blur radius {radius} is too large for maps of size {h}x{w}")
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.squeeze(1)


def upsample(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (N, h, w) maps to `size`."""
    if isinstance(size, int):
        size = (size, size)
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def to_anomaly_map(patch_scores: torch.Tensor, size: int | tuple[int, int], sigma: float = 4.0) -> torch.Tensor:
    """Patch scores (N, h, w) -> smoothed pixel anomaly maps (N, H, W)."""
    return gaussian_blur(upsample(patch_scores.float(), size), sigma)


class AnomalyMap(nn.Module):
    """Patch scores (N, h, w) -> smoothed pixel anomaly maps (N, S, S): :func:`to_anomaly_map` as a traceable module."""

    def __init__(self, size: int, sigma: float) -> None:
        super().__init__()
        self.size, self.sigma = size, sigma

    def forward(self, patch_scores: torch.Tensor) -> torch.Tensor:
        return to_anomaly_map(patch_scores, self.size, self.sigma)


def top_k_mean(values: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the k largest values of each row of (N, ...) `values` (k=1 is the max)."""
    flat = values.reshape(values.shape[0], -1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(1)


AGGREGATIONS = ("smoothed_max", "max", "topk")
"""How patch scores become an image score: the maximum of the Gaussian-smoothed patch-score map
(PatchCore's and anomalib's image score: the map's peak, steadied by its neighbours), the raw
maximum, or the mean of the `top_k` highest patch scores."""


def check_aggregation(aggregation: str) -> None:
    """Raise ConfigError for an aggregation not in AGGREGATIONS."""
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")


def image_scores(patch_scores: torch.Tensor, aggregation: str, top_k: int = 10, smoothing: float = 0.5) -> torch.Tensor:
    """Image scores (N,) from patch scores (N, h, w).

    ``smoothing`` is the Gaussian's sigma in patch cells for ``smoothed_max`` (0.5 cells is sigma 4 px
    on a stride-8 map, the usual smoothing of the upsampled map; a maximum is unchanged by bilinear
    upsampling, so smoothing at patch resolution finds the same peak for a fraction of the cost).
    """
    check_aggregation(aggregation)
    if aggregation == "topk":
        return top_k_mean(patch_scores, top_k)
    if aggregation == "smoothed_max":
        h, w = patch_scores.shape[-2:]
        sigma = min(smoothing, (min(h, w) - 1) / 4.5)  # the blur radius must stay inside the map
        patch_scores = gaussian_blur(patch_scores.float(), sigma) if min(h, w) > 1 else patch_scores
    return patch_scores.reshape(patch_scores.shape[0], -1).max(1).values


__all__ = [
    "AGGREGATIONS",
    "AnomalyMap",
    "check_aggregation",
    "gaussian_kernel1d",
    "gaussian_blur",
    "image_scores",
    "upsample",
    "to_anomaly_map",
    "top_k_mean",
]
