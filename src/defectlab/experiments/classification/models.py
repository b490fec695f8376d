"""Training the study's models: head models on shared cached maps, the causal model, the small CNN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from defectlab.classifiers.backbone import BackboneClassifier
from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.causal import CausalClassifier
from defectlab.classifiers.causal_train import CAUSAL_PARTS, Strata, Views, fit_causal_model
from defectlab.classifiers.labels import LabelledSamples
from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.registry import build_classifier
from defectlab.classifiers.train import TrainConfig, TrainResult, predict, predict_maps, train_classifier, train_on_maps
from defectlab.experiments.classification.config import ClassificationStudyConfig
from defectlab.experiments.classification.predictors import Predict

PARTS = CAUSAL_PARTS


@dataclass
class Fitted:
    """A trained model, how to run it on images, and its training history."""

    name: str
    model: ImageClassifier
    predict: Predict
    result: TrainResult


def train_config(cfg: ClassificationStudyConfig, mode: str = "head", epochs: int | None = None) -> TrainConfig:
    return TrainConfig(epochs=epochs or cfg.epochs, lr=cfg.lr, patience=cfg.patience, seed=cfg.seed, mode=mode)


def pooled(maps: torch.Tensor) -> np.ndarray:
    """Average-pooled maps (N, C) as numpy."""
    return maps.mean(dim=(2, 3)).numpy()


def fit_head(
    kind: str,
    data: LabelledSamples,
    train_maps: torch.Tensor,
    val_maps: torch.Tensor,
    val: LabelledSamples,
    source: MapSource,
    cfg: ClassificationStudyConfig,
    progress: bool,
) -> Fitted:
    """An ERM head model (``attention`` or ``finetune`` as a linear probe) on the shared maps."""
    model = build_classifier(kind, len(data.class_names), cfg.image_size, seed=cfg.seed)
    assert isinstance(model, BackboneClassifier)
    result = train_on_maps(model, train_maps, data.labels, val_maps, val.labels, train_config(cfg), progress)
    return Fitted(kind, model, lambda images: predict_maps(model, source.maps(images)), result)


def fit_causal(
    name: str,
    train: LabelledSamples,
    val: LabelledSamples,
    train_maps: torch.Tensor,
    val_maps: torch.Tensor,
    strata: Strata,
    source: MapSource,
    cfg: ClassificationStudyConfig,
    parts: Sequence[str] = PARTS,
    progress: bool = True,
    views: Views | None = None,
) -> Fitted:
    """The causal classifier with the named parts switched on, trained on the shared maps; the counterfactual
    part uses ``views`` when given, else the shift suite's views (``cfg.causal``)."""
    switches = {part: part in parts for part in PARTS}
    model = build_causal(len(train.class_names), len(strata.names), cfg, switches)
    result = fit_causal_model(
        model,
        train,
        val,
        train_maps,
        val_maps,
        strata,
        train_config(cfg),
        cfg.causal,
        lambda images: source.maps(images, progress),
        progress,
        views,
    )
    return Fitted(name, model, lambda images: predict_maps(model, source.maps(images)), result)


def build_causal(
    num_classes: int, num_strata: int, cfg: ClassificationStudyConfig, switches: dict[str, bool]
) -> CausalClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return CausalClassifier(num_classes, cfg.image_size, num_strata=num_strata, **switches)


def fit_smallcnn(train: LabelledSamples, val: LabelledSamples, cfg: ClassificationStudyConfig, progress: bool) -> Fitted:
    """The from-scratch CNN, trained end to end on augmented images."""
    model = build_classifier("smallcnn", len(train.class_names), cfg.smallcnn_image_size, seed=cfg.seed)
    result = train_classifier(model, train, val, train_config(cfg, "finetune", cfg.smallcnn_epochs), progress)
    return Fitted("smallcnn", model, lambda images: predict(model, images)[0], result)


def fit_finetuned(train: LabelledSamples, val: LabelledSamples, cfg: ClassificationStudyConfig, progress: bool) -> Fitted:
    """The backbone fine-tuned end to end (``finetune_mode: finetune``; slow on a CPU)."""
    model = build_classifier("finetune", len(train.class_names), cfg.image_size, seed=cfg.seed)
    result = train_classifier(model, train, val, train_config(cfg, "finetune"), progress)
    return Fitted("finetune", model, lambda images: predict(model, images)[0], result)
