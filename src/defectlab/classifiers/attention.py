"""CBAM spatial attention (Woo et al., 2018): where in the feature map to look."""

from __future__ import annotations

import torch
from torch import nn

from defectlab.errors import ConfigError


class SpatialAttention(nn.Module):
    """Weight every position of a (B, C, H, W) feature map by a learned map in (0, 1).

    map = sigmoid(conv_kxk([mean_c(x), max_c(x)])) with a 2 -> 1 convolution (padding k // 2);
    the output is ``x * map``. The last map computed, (B, 1, H, W) and detached, is kept in
    ``last_map`` for inspection and explanations.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"spatial attention kernel size must be a positive odd number, got {kernel_size}")
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.last_map: torch.Tensor | None = None

    def attention_map(self, features: torch.Tensor) -> torch.Tensor:
        """The (B, 1, H, W) attention map of ``features``."""
        pooled = torch.cat([features.mean(dim=1, keepdim=True), features.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Attended features, same shape as ``features``."""
        weights = self.attention_map(features)
        self.last_map = weights.detach()
        return features * weights
