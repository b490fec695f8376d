"""The interface every defect classifier shares.

A classifier maps normalized NCHW float images to class logits (``forward``), exposes the
penultimate embedding (``embed``; ``forward == logits(embed)``), knows its input size and
normalization (``preprocess``), and can be rebuilt from ``config()`` (``from_config``) without
its trained weights, which a bundle stores separately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from defectlab.classifiers.augment import eval_pipeline
from defectlab.errors import ConfigError, DataError

MIN_IMAGE_SIZE = 32


class ImageClassifier(nn.Module):
    """Base class: subclasses set ``kind``, build ``final`` (embedding -> logits) and implement ``embed``."""

    kind: ClassVar[str]
    final: nn.Module

    def __init__(
        self,
        num_classes: int,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
        if image_size < MIN_IMAGE_SIZE:
            raise ConfigError(f"image size must be at least {MIN_IMAGE_SIZE} px, got {image_size}")
        self.num_classes = num_classes
        self.image_size = image_size
        self.resize = eval_pipeline(image_size)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D) penultimate embeddings of normalized (B, 3, S, S) images."""
        raise NotImplementedError

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits from (B, D) embeddings (``final``; a subclass may add terms)."""
        return self.final(embedding)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits of normalized (B, 3, S, S) images."""
        return self.logits(self.embed(images))

    def cam_layer(self) -> nn.Module:
        """The module whose (B, C, h, w) output is the last convolutional feature map (for Grad-CAM)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-ready constructor arguments (``from_config`` rebuilds the architecture)."""
        return {"num_classes": self.num_classes, "image_size": self.image_size}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImageClassifier:
        """A model of this architecture with untrained weights."""
        return cls(**config)

    def normalization(self) -> dict[str, list[float]]:
        """Input normalization: ``(pixel / 255 - mean) / std`` per RGB channel."""
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}

    def preprocess(
        self, images: Sequence[np.ndarray], transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> torch.Tensor:
        """uint8 HxWx3 images -> normalized (B, 3, S, S) float32, through ``transform`` (default: resize)."""
        transform = transform or self.resize
        arrays = [transform(image) for image in images]
        size = (self.image_size, self.image_size, 3)
        wrong = [a.shape for a in arrays if a.shape != size]
        if wrong:
            raise DataError(f"preprocessing gave an image of shape {wrong[0]}, expected {size}")
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        return (batch - self.mean) / self.std
