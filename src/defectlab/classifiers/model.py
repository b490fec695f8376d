"""The attention classifier: backbone -> spatial attention -> global average pool -> MLP head."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from defectlab.classifiers.attention import SpatialAttention
from defectlab.classifiers.backbone import BackboneClassifier

EMBEDDING_DIM = 512
DROPOUT = 0.3


class AttentionClassifier(BackboneClassifier):
    """Backbone late-stage maps (standardized per channel), CBAM spatial attention, global average pooling, then
    Dropout(0.3) -> Linear(C, 512) -> ReLU (the 512-d embedding) -> Linear(512, num_classes).

    ``attention.last_map`` holds the attention map of the last forward pass.
    """

    kind: ClassVar[str] = "attention"

    def build_head(self, channels: int) -> None:
        self.attention = SpatialAttention(kernel_size=7)
        self.hidden = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(channels, EMBEDDING_DIM), nn.ReLU(inplace=True))
        self.final = nn.Linear(EMBEDDING_DIM, self.num_classes)

    def embed_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """512-d embeddings (after the ReLU) from backbone feature maps."""
        pooled = self.attention(self.standardize(feature_map)).mean(dim=(2, 3))
        return self.hidden(pooled)
