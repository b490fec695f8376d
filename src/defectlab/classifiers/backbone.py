"""Backbone classifiers: a registry backbone's last-stage feature map followed by a head.

The backbone is built by :func:`defectlab.backbones.registry.create_backbone` and wrapped as
timm's ``features_only`` network (``FeatureListNet``) keeping only its last stage, so it returns
the spatial (B, C, H/32, W/32) map with no global pooling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from timm.models import FeatureListNet
from torch import nn

from defectlab.backbones.registry import create_backbone, get_spec
from defectlab.classifiers.base import ImageClassifier

DEFAULT_BACKBONE = "efficientnet_lite0"


class LastStage(nn.Module):
    """The last feature stage of backbone ``name``: (B, 3, S, S) -> (B, channels, S/r, S/r)."""

    def __init__(self, name: str, weights: str | Path = "default") -> None:
        super().__init__()
        model = create_backbone(name, weights)
        info = model.feature_info
        names = [stage["module"] for stage in info]
        # Nested stage names ("blocks.6") need one level of Sequential flattened, as in FeatureExtractor.
        self.net = FeatureListNet(model, out_indices=(len(info) - 1,), flatten_sequential=any("." in n for n in names))
        self.layer = names[-1]
        self.channels: int = info[-1]["num_chs"]
        self.reduction: int = info[-1]["reduction"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[0]


class BackboneClassifier(ImageClassifier):
    """A classifier on a backbone's last-stage map; subclasses implement ``build_head`` and ``embed_map``.

    ``weights``: "default" (bundled), "random" or a weights file (see ``create_backbone``).
    The backbone always runs in eval mode, so its pretrained batch-norm statistics stay fixed
    while fine-tuning (small defect datasets give too few images per batch to re-estimate them);
    with ``freeze_backbone`` it also gets no gradients, so its feature maps can be cached.
    """

    def __init__(
        self,
        num_classes: int,
        image_size: int = 224,
        backbone: str = DEFAULT_BACKBONE,
        weights: str = "default",
        freeze_backbone: bool = False,
    ) -> None:
        spec = get_spec(backbone)
        super().__init__(num_classes, image_size, spec.mean, spec.std)
        self.backbone_name = backbone
        self.weights = weights if weights in ("default", "random") else str(Path(weights).resolve())
        self.backbone = LastStage(backbone, weights)
        self.build_head(self.backbone.channels)
        self.set_backbone_frozen(freeze_backbone)
        self.train()  # puts the backbone in eval mode

    def set_backbone_frozen(self, frozen: bool) -> None:
        """Freeze (no gradients) or unfreeze the backbone's weights."""
        self.backbone_frozen = frozen
        self.backbone.requires_grad_(not frozen)

    def train(self, mode: bool = True) -> BackboneClassifier:
        """Set the head's mode; the backbone stays in eval mode (fixed batch-norm statistics)."""
        super().train(mode)
        self.backbone.eval()
        return self

    def build_head(self, channels: int) -> None:
        """Create the modules after the backbone (``channels`` wide), ``final`` among them."""
        raise NotImplementedError

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone feature maps (B, C, h, w) of normalized images."""
        return self.backbone(images)

    def embed_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, D) embeddings from backbone feature maps."""
        raise NotImplementedError

    def forward_features_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Logits from precomputed backbone feature maps (the cached-features fast path)."""
        return self.logits(self.embed_map(feature_map))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed_map(self.features(images))

    def cam_layer(self) -> nn.Module:
        """The backbone: its forward returns the last-stage (B, C, h, w) map as a plain tensor."""
        return self.backbone

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "backbone": self.backbone_name,
            "weights": self.weights,
            "freeze_backbone": self.backbone_frozen,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BackboneClassifier:
        """Rebuilt with random backbone weights (a bundle restores them), keeping the recorded source."""
        model = cls(**{**config, "weights": "random"})
        model.weights = config.get("weights", "random")
        return model
