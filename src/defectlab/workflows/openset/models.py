"""Fit the study's models once per split: the stage-1 gate, the one-stage classifier, the localized stage 2.

Every image's backbone outputs are computed once (and cached on disk): the detectors'
multi-layer patch features (stage 1 and the localized stage 2 read the same ones) and the
classifier's late-stage maps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor
from defectlab.calibration.thresholds import calibrate
from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.model import AttentionClassifier
from defectlab.classifiers.registry import build_classifier
from defectlab.classifiers.train import TrainConfig, train_on_maps
from defectlab.data.sample import Sample
from defectlab.detectors.base import Detector
from defectlab.detectors.registry import make_detector
from defectlab.errors import DataError
from defectlab.pipelines.cascade import LocalizedStage2
from defectlab.pipelines.localize import DefectRegionModel
from defectlab.pipelines.openset import OpenSetHead
from defectlab.workflows.openset.config import OpenSetConfig
from defectlab.workflows.openset.data import OpenSetData


@dataclass
class Views:
    """What every model sees of a set of images: patch features, stage-1 scores and patch maps,
    classifier embeddings and logits."""

    features: torch.Tensor
    stage1_scores: np.ndarray
    patch_maps: torch.Tensor
    embeddings: np.ndarray
    logits: np.ndarray


@dataclass
class FittedModels:
    """The split's models and their fit/inference seconds."""

    detector: Detector
    stage1_threshold: float
    classifier: AttentionClassifier
    whole: OpenSetHead
    localized: LocalizedStage2
    history: list[dict[str, float]]
    seconds: dict[str, float] = field(default_factory=dict)


class Backbones:
    """Cached backbone outputs for the detectors and the classifier."""

    def __init__(self, config: OpenSetConfig, cache: FeatureCache | None) -> None:
        self.extractor = FeatureExtractor(feature_config(config))
        self.cache = cache

    def features(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        if self.cache is not None:
            return self.cache.extract(self.extractor, images, progress=progress)
        return self.extractor.extract(images, progress=progress)


def feature_config(config: OpenSetConfig) -> FeatureConfig:
    """The detectors' feature configuration of a split (default layers of the default backbone)."""
    return FeatureConfig(image_size=config.image_size, weights=config.weights)


def labels_of(samples: Sequence[Sample], classes: Sequence[str]) -> np.ndarray:
    """Class indices of ``samples`` (their defect types) among ``classes``."""
    return np.array([list(classes).index(s.defect_type) for s in samples])


def fit_models(
    data: OpenSetData, config: OpenSetConfig, cache: FeatureCache | None, log
) -> tuple[FittedModels, Backbones, MapSource]:
    """Fit the gate on normal images, the classifier and both open-set stage-2 heads on known defects."""
    if not data.good_train or not data.good_val:
        raise DataError(f"split {config.name}: stage 1 needs defect-free images (set data.good_root for NEU-style data)")
    seconds: dict[str, float] = {}
    backbones = Backbones(config, cache)
    start = time.perf_counter()
    detector = make_detector(config.stage1.detector, {**config.stage1.params, "seed": config.seed})
    good_features = backbones.features([s.image for s in data.good_train], progress=True)
    detector.fit(good_features, progress=True)
    good_val_scores, _ = detector.score(backbones.features([s.image for s in data.good_val]))
    threshold = calibrate("quantile", good_val_scores.numpy(), accept=config.stage1.accept).value
    seconds["fit_stage1"] = time.perf_counter() - start
    log(
        f"[{config.name}] stage 1 {config.stage1.detector}: threshold {threshold:.4g} "
        f"(accepts {config.stage1.accept:.0%} of {len(data.good_val)} held-out normal images)"
    )

    known = data.known
    start = time.perf_counter()
    classifier = build_classifier("attention", len(known), config.classifier.image_size, weights=config.weights, seed=config.seed)
    assert isinstance(classifier, AttentionClassifier)
    maps = MapSource(classifier, cache)
    train_maps = maps.maps([s.image for s in data.train], progress=True)
    val_maps = maps.maps([s.image for s in data.val], progress=True)
    y_train, y_val = labels_of(data.train, known), labels_of(data.val, known)
    train_config = TrainConfig(
        epochs=config.classifier.epochs, patience=config.classifier.patience, lr=config.classifier.lr, seed=config.seed
    )
    result = train_on_maps(classifier, train_maps, y_train, val_maps, y_val, train_config)
    classifier.eval()
    seconds["fit_classifier"] = time.perf_counter() - start
    log(f"[{config.name}] classifier: best epoch {result.best_epoch}, val macro-F1 {result.best_val_macro_f1:.3f}")

    start = time.perf_counter()
    train_embeddings, _ = classifier_outputs(classifier, train_maps)
    val_embeddings, val_logits = classifier_outputs(classifier, val_maps)
    whole = OpenSetHead(known, config.accept).fit(train_embeddings, y_train, val_embeddings, val_logits, final_layer(classifier))
    seconds["fit_whole_head"] = time.perf_counter() - start

    start = time.perf_counter()
    train_features = backbones.features([s.image for s in data.train])
    val_features = backbones.features([s.image for s in data.val])
    region = region_model(data, train_features, good_features, config, log)
    localized = LocalizedStage2(known, config.accept, config.quantile, config.seed, region).fit(
        (train_features, detector.score(train_features)[1]), y_train, (val_features, detector.score(val_features)[1])
    )
    seconds["fit_localized"] = time.perf_counter() - start
    fitted = FittedModels(detector, threshold, classifier, whole, localized, result.history, seconds)
    return fitted, backbones, maps


def region_model(
    data: OpenSetData, train_features: torch.Tensor, good_features: torch.Tensor, config: OpenSetConfig, log
) -> DefectRegionModel | None:
    """The defect-region model learned from the known training images' masks, or None (switched off,
    or some image has no mask: the anomaly map alone then weights the region)."""
    if not config.learn_regions:
        return None
    if any(s.mask is None for s in data.train):
        log(f"[{config.name}] not every known training image has a defect mask: the anomaly map alone localizes")
        return None
    masks = torch.from_numpy(np.stack([s.mask for s in data.train]).astype(np.float32))
    region = DefectRegionModel(seed=config.seed).fit(train_features, masks, good_features)
    log(f"[{config.name}] defect-region model learned from the masks of {len(data.train)} known training images")
    return region


def classifier_outputs(classifier: AttentionClassifier, maps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate embeddings, logits) from cached backbone maps."""
    with torch.inference_mode():
        embeddings = classifier.embed_map(maps)
        return embeddings.numpy().astype(np.float64), classifier.logits(embeddings).numpy().astype(np.float64)


def final_layer(classifier: AttentionClassifier) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of the classifier's last linear layer (embeddings to logits)."""
    return (
        classifier.final.weight.detach().numpy().astype(np.float64),
        classifier.final.bias.detach().numpy().astype(np.float64),
    )


def views(
    samples: Sequence[Sample], detector: Detector, classifier: AttentionClassifier, backbones: Backbones, maps: MapSource
) -> Views:
    """Every model's view of ``samples`` (backbone outputs through the cache)."""
    images = [s.image for s in samples]
    features = backbones.features(images)
    scores, patch_maps = detector.score(features)
    embeddings, logits = classifier_outputs(classifier, maps.maps(images))
    return Views(features, scores.numpy().astype(np.float64), patch_maps, embeddings, logits)
