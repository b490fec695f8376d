"""Frozen-backbone feature maps for the classifiers, cached on disk like the detectors' features.

Every backbone classifier of the study sees the same frozen late-stage maps, so they are
computed once per image (clean, corrupted, counterfactual views) and stored in the
:class:`~defectlab.backbones.cache.FeatureCache` under a key naming the backbone, its weights
the input size and the number of stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from defectlab.backbones.cache import FeatureCache
from defectlab.classifiers.backbone import BackboneClassifier
from defectlab.classifiers.train import feature_maps


@dataclass(frozen=True)
class MapConfig:
    """What determines a classifier's backbone maps (the cache key)."""

    backbone: str
    weights: str
    image_size: int
    stages: int
    kind: str = "classifier-late-stages"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MapSource:
    """Feature maps of images through a frozen backbone classifier, optionally cached on disk."""

    def __init__(self, model: BackboneClassifier, cache: FeatureCache | None = None, batch_size: int = 32) -> None:
        self.model = model
        self.config = MapConfig(model.backbone_name, model.weights, model.image_size, model.stages)
        self.cache = cache
        self.batch_size = batch_size

    def extract(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """(N, C, h, w) maps; the FeatureCache calls this for the images it lacks."""
        if len(images) == 0:
            channels, size = self.model.backbone.channels, self.model.image_size // self.model.backbone.reduction
            return torch.zeros(0, channels, size, size)
        return feature_maps(self.model, images, self.batch_size, progress)

    def maps(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """Maps of ``images``, through the cache when one is set."""
        if self.cache is None:
            return self.extract(images, progress)
        return self.cache.extract(self, images, progress=progress)  # type: ignore[arg-type]
