"""Classifier kinds by name: build a new one or rebuild one from its config."""

from __future__ import annotations

from typing import Any

import torch

from defectlab.classifiers.backbone import DEFAULT_BACKBONE, BackboneClassifier
from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.baselines import FinetuneClassifier, SmallCNN
from defectlab.classifiers.causal import CausalClassifier
from defectlab.classifiers.model import AttentionClassifier
from defectlab.errors import ConfigError

CLASSIFIERS: dict[str, type[ImageClassifier]] = {
    cls.kind: cls for cls in (AttentionClassifier, CausalClassifier, FinetuneClassifier, SmallCNN)
}
"""Classifier classes by kind: attention, causal, finetune, smallcnn."""


def classifier_class(kind: str) -> type[ImageClassifier]:
    """The class of classifier ``kind``; unknown kinds are a ConfigError listing the valid ones."""
    if kind not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier '{kind}'; valid: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[kind]


def build_classifier(
    kind: str,
    num_classes: int,
    image_size: int = 224,
    backbone: str = DEFAULT_BACKBONE,
    weights: str = "default",
    seed: int = 42,
) -> ImageClassifier:
    """A new classifier of ``kind`` with its head initialized from ``seed``.

    ``backbone``/``weights`` choose the pretrained backbone (attention, finetune); the small CNN
    is trained from scratch and takes neither.
    """
    cls = classifier_class(kind)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if issubclass(cls, BackboneClassifier):
            return cls(num_classes, image_size=image_size, backbone=backbone, weights=weights)
        if backbone != DEFAULT_BACKBONE or weights not in ("default", "random"):
            raise ConfigError(f"classifier '{kind}' is trained from scratch: it takes no backbone or weights")
        return cls(num_classes, image_size=image_size)


def classifier_from_config(kind: str, config: dict[str, Any]) -> ImageClassifier:
    """A classifier of ``kind`` rebuilt from ``model.config()``, with untrained weights."""
    try:
        return classifier_class(kind).from_config(config)
    except TypeError as exc:
        raise ConfigError(f"invalid configuration for classifier '{kind}': {exc}") from exc
