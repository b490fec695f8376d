"""Backbone classifiers: a registry backbone's late-stage feature maps followed by a head.

The backbone is built by :func:`defectlab.backbones.registry.create_backbone` and wrapped as
timm's ``features_only`` network (``FeatureListNet``) keeping its last stages (by default the
last two: EfficientNet-Lite0 blocks.4 + blocks.6, ResNet50 layer3 + layer4). The earlier stages
are average-pooled to the last stage's grid and concatenated, so it returns one spatial
(B, C, H/32, W/32) map with no global pooling. Before any head sees it, the map is standardized
per channel with statistics fixed on the training maps (:class:`ChannelStandardizer`): stages
and channels on very different scales then weigh alike in the attention and the head (why two
stages and the standardization: ``docs/decisions/classifier-backbone-stages.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.models import FeatureListNet
from torch import nn

from defectlab.backbones.registry import create_backbone, get_spec
from defectlab.classifiers.base import ImageClassifier
from defectlab.errors import ConfigError, DataError

DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_STAGES = 2


class LateStages(nn.Module):
    """The last ``count`` feature stages of backbone ``name``, pooled to the last stage's grid and
    concatenated: (B, 3, S, S) -> (B, channels, S/r, S/r)."""

    def __init__(self, name: str, weights: str | Path = "default", count: int = DEFAULT_STAGES) -> None:
        super().__init__()
        model = create_backbone(name, weights)
        info = model.feature_info
        if not 1 <= count <= len(info):
            raise ConfigError(f"backbone {name} has {len(info)} feature stages; cannot keep the last {count}")
        names = [stage["module"] for stage in info]
        kept = tuple(range(len(info) - count, len(info)))
        # Nested stage names ("blocks.6") need one level of Sequential flattened, as in FeatureExtractor.
        self.net = FeatureListNet(model, out_indices=kept, flatten_sequential=any("." in n for n in names))
        self.layers = tuple(names[i] for i in kept)
        self.channels: int = sum(info[i]["num_chs"] for i in kept)
        self.reduction: int = info[-1]["reduction"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.net(images)
        grid = maps[-1].shape[-2:]
        return torch.cat([F.adaptive_avg_pool2d(m, grid) for m in maps], dim=1)


class ChannelStandardizer(nn.Module):
    """(x - mean_c) / std_c of (B, C, h, w) maps; mean and std per channel are buffers set by
    :meth:`fit` on training maps (identity until then) and saved with the model."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    @torch.no_grad()
    def fit(self, maps: torch.Tensor) -> ChannelStandardizer:
        """Statistics over every image and position of (N, C, h, w) training maps."""
        if maps.ndim != 4 or maps.shape[1] != len(self.mean) or maps.shape[0] == 0:
            raise DataError(f"expected (N, {len(self.mean)}, h, w) training maps, got {tuple(maps.shape)}")
        values = maps.transpose(0, 1).flatten(1).double()
        self.mean.copy_(values.mean(dim=1).float())
        self.std.copy_(values.std(dim=1).clamp_min(1e-6).float())
        return self

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return (maps - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)


class BackboneClassifier(ImageClassifier):
    """A classifier on a backbone's late-stage maps; subclasses implement ``build_head`` and ``embed_map``.

    ``weights``: "default" (bundled), "random" or a weights file (see ``create_backbone``);
    ``stages``: how many of the backbone's last feature stages to keep (:class:`LateStages`).
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
        stages: int = DEFAULT_STAGES,
    ) -> None:
        spec = get_spec(backbone)
        super().__init__(num_classes, image_size, spec.mean, spec.std)
        self.backbone_name = backbone
        self.weights = weights if weights in ("default", "random") else str(Path(weights).resolve())
        self.backbone = LateStages(backbone, weights, stages)
        self.stages = stages
        self.standardize = ChannelStandardizer(self.backbone.channels)
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
        """Backbone feature maps (B, C, h, w) of normalized images (not yet standardized)."""
        return self.backbone(images)

    def fit_standardizer(self, train_maps: torch.Tensor) -> None:
        """Fix the per-channel map statistics from the training images' backbone maps."""
        self.standardize.fit(train_maps)

    def embed_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, D) embeddings from backbone feature maps (subclasses standardize them first)."""
        raise NotImplementedError

    def forward_features_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Logits from precomputed backbone feature maps (the cached-features fast path)."""
        return self.logits(self.embed_map(feature_map))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed_map(self.features(images))

    def cam_layer(self) -> nn.Module:
        """The backbone: its forward returns the late-stage (B, C, h, w) map as a plain tensor."""
        return self.backbone

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "backbone": self.backbone_name,
            "weights": self.weights,
            "freeze_backbone": self.backbone_frozen,
            "stages": self.stages,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BackboneClassifier:
        """Rebuilt with random backbone weights (a bundle restores them), keeping the recorded source."""
        model = cls(**{**config, "weights": "random"})
        model.weights = config.get("weights", "random")
        return model
