"""Anomaly-map post-processing: upsampling to image size and Gaussian smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def top_k_mean(values: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the k largest values of each row of (N, ...) `values` (k=1 is the max)."""
    flat = values.reshape(len(values), -1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(1)


__all__ = ["gaussian_kernel1d", "gaussian_blur", "upsample", "to_anomaly_map", "top_k_mean"]
