"""Baselines for the attention classifier: a small CNN from scratch and the plain fine-tuned backbone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from defectlab.classifiers.backbone import BackboneClassifier
from defectlab.classifiers.base import ImageClassifier
from defectlab.errors import ConfigError

SMALL_CNN_WIDTHS = (32, 64, 128)
SMALL_CNN_MEAN = (0.5, 0.5, 0.5)
SMALL_CNN_STD = (0.5, 0.5, 0.5)


class FinetuneClassifier(BackboneClassifier):
    """ERM baseline: backbone late-stage maps (standardized) -> global average pool (the embedding) -> Linear."""

    kind: ClassVar[str] = "finetune"

    def build_head(self, channels: int) -> None:
        self.final = nn.Linear(channels, self.num_classes)

    def embed_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.standardize(feature_map).mean(dim=(2, 3))


class SmallCNN(ImageClassifier):
    """From-scratch baseline: per width a 3x3 conv -> BatchNorm -> ReLU -> 2x2 max-pool block,
    then global average pooling (the embedding) -> Linear."""

    kind: ClassVar[str] = "smallcnn"

    def __init__(self, num_classes: int, image_size: int = 224, widths: Sequence[int] = SMALL_CNN_WIDTHS) -> None:
        super().__init__(num_classes, image_size, SMALL_CNN_MEAN, SMALL_CNN_STD)
        if not widths or min(widths) < 1:
            raise ConfigError(f"SmallCNN widths must be positive channel counts, got {list(widths)}")
        self.widths = tuple(int(w) for w in widths)
        blocks: list[nn.Module] = []
        channels = 3
        for width in self.widths:
            blocks += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.body = nn.Sequential(*blocks)
        self.final = nn.Linear(channels, num_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).mean(dim=(2, 3))

    def cam_layer(self) -> nn.Module:
        """The last block's max-pool: its output is the map that is average-pooled into the embedding."""
        return self.body[-1]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "widths": list(self.widths)}
