"""Multi-layer patch features: chosen backbone layers, 3x3 average pooling, upsampling, concatenation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.models import FeatureListNet
from torch import nn
from tqdm.auto import tqdm

from defectlab.backbones.registry import create_backbone, get_spec
from defectlab.errors import ConfigError


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that determines the features an image gets (and hence the cache key)."""

    backbone: str = "efficientnet_lite0"
    layers: tuple[str, ...] = ()
    image_size: int = 224
    pool_size: int = 3
    weights: str = "default"

    def resolved_layers(self) -> tuple[str, ...]:
        """The layers to use: the given ones, or the backbone's defaults."""
        return tuple(self.layers) or get_spec(self.backbone).default_layers

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "layers": list(self.resolved_layers()),
            "image_size": self.image_size,
            "pool_size": self.pool_size,
            "weights": self.weights if self.weights in ("default", "random") else str(Path(self.weights).resolve()),
        }


def resize_batch(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """uint8 HxWx3 images of any size -> an NCHW float32 batch at `size` x `size`, values 0-255
    (bilinear with antialiasing, channels-last memory)."""
    tensors = []
    for image in images:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        tensors.append(x)
    return torch.cat(tensors).contiguous(memory_format=torch.channels_last)


class Embedding(nn.Module):
    """Resized images (N, 3, S, S), values 0-255 -> patch features (N, C, h, w): the backbone's
    normalization, the chosen layers, pool_size x pool_size average pooling (stride 1, same size),
    bilinear upsampling to the largest map and concatenation. Traceable, so it exports as a graph."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float], pool_size: int) -> None:
        super().__init__()
        self.net = net
        self.pool_size = pool_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.net((images / 255.0 - self.mean) / self.std)
        pool = self.pool_size
        if pool > 1:
            maps = [F.avg_pool2d(m, pool, stride=1, padding=pool // 2, count_include_pad=False) for m in maps]
        target = maps[0].shape[-2:]
        maps = [
            m if m.shape[-2:] == target else F.interpolate(m, size=target, mode="bilinear", align_corners=False) for m in maps
        ]
        return torch.cat(maps, dim=1).contiguous()


@dataclass
class FeatureExtractor:
    """Turns uint8 RGB images into NCHW patch-feature maps (:func:`resize_batch`, then :class:`Embedding`)."""

    config: FeatureConfig = field(default_factory=FeatureConfig)
    batch_size: int = 16
    num_threads: int | None = None

    def __post_init__(self) -> None:
        spec = get_spec(self.config.backbone)
        model = create_backbone(self.config.backbone, self.config.weights)
        names = [info["module"] for info in model.feature_info]
        layers = self.config.resolved_layers()
        unknown = [layer for layer in layers if layer not in names]
        if unknown:
            raise ConfigError(
                f"unknown layer(s) {', '.join(unknown)} for backbone {self.config.backbone}; choose from {', '.join(names)}"
            )
        out_indices = tuple(sorted(names.index(layer) for layer in layers))
        # Nested feature modules (EfficientNet's "blocks.2") need one level of Sequential flattened;
        # top-level ones (ResNet's "layer2") must stay whole or FeatureListNet cannot find them.
        flatten = any("." in name for name in names)
        net = FeatureListNet(model, out_indices=out_indices, flatten_sequential=flatten)
        self.embedding = Embedding(net, spec.mean, spec.std, self.config.pool_size).eval().to(memory_format=torch.channels_last)
        self.channels = [model.feature_info[i]["num_chs"] for i in out_indices]
        self.strides = [model.feature_info[i]["reduction"] for i in out_indices]

    @property
    def num_channels(self) -> int:
        """Channels of the concatenated feature map."""
        return sum(self.channels)

    @property
    def feature_size(self) -> int:
        """Side of the (square) feature map for the configured image size."""
        return -(-self.config.image_size // min(self.strides))

    def batches(self, images: Sequence[np.ndarray], progress: bool = False) -> Iterator[torch.Tensor]:
        """Yield feature maps (B, C, h, w) batch by batch."""
        threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            bar = tqdm(total=len(images), desc="features", unit="img", disable=None if progress else True, leave=False)
            with torch.inference_mode():
                for start in range(0, len(images), self.batch_size):
                    chunk = images[start : start + self.batch_size]
                    yield self.embedding(resize_batch(chunk, self.config.image_size))
                    bar.update(len(chunk))
            bar.close()
        finally:
            torch.set_num_threads(threads)

    def extract(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """Feature maps (N, C, h, w) float32 for all images."""
        if len(images) == 0:
            return torch.empty(0, self.num_channels, self.feature_size, self.feature_size)
        return torch.cat(list(self.batches(images, progress=progress)))
