"""What the study's phases share: the categories, their features and embeddings (computed once),
and each (category, detector) fit with its costs (fitted once, reused by every phase)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureExtractor
from defectlab.bundle.io import Bundle
from defectlab.data.sample import Sample
from defectlab.detectors.model import AnomalyModel, Prediction
from defectlab.detectors.registry import make_detector
from defectlab.experiments.router_study.config import RouterStudyConfig
from defectlab.experiments.router_study.data import Category
from defectlab.experiments.router_study.measure import PeakRSS, bundle_bytes
from defectlab.workflows.detection import FitOptions, calibration_split, fit_bundle

TIMED_IMAGES = 16
"""Test images per category whose backbone pass is timed (without the cache)."""


@dataclass
class Fitted:
    """One fitted detector, what it cost, and its prediction on its own category's test images.

    ``prediction.maps`` is kept only for categories with masks (else (N, 0, 0)); ``ms_per_image``
    times scores and maps from precomputed features (the backbone pass, shared, is timed apart).
    """

    bundle: Bundle
    fit_seconds: float
    peak_rss_mb: float | None
    bundle_bytes: int
    ms_per_image: float
    prediction: Prediction


class StudyContext:
    """The categories with their test features and router embeddings, one shared feature extractor,
    and the detector fits (memoized per category and kind)."""

    def __init__(
        self,
        cfg: RouterStudyConfig,
        categories: dict[str, Category],
        cache: FeatureCache | None,
        log: Callable[[str], None],
        progress: bool,
    ) -> None:
        self.cfg, self.categories, self.cache, self.log, self.progress = cfg, categories, cache, log, progress
        self.extractor = FeatureExtractor(cfg.features)
        self.embed = cfg.make_router().embed
        self.test_features: dict[str, torch.Tensor] = {}
        self.train_embeddings: dict[str, np.ndarray] = {}
        self.test_embeddings: dict[str, np.ndarray] = {}
        self._fitted: dict[tuple[str, str], Fitted] = {}

    def extract(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Patch features of ``images``, through the cache when there is one."""
        if self.cache is not None:
            return self.cache.extract(self.extractor, images, progress=self.progress)
        return self.extractor.extract(images, progress=self.progress)

    def prepare_features(self) -> None:
        """Features of every image once (filling the cache for the fits): the test features are kept,
        the training normals are kept as router embeddings only."""
        for name, category in self.categories.items():
            self.train_embeddings[name] = self.embed(self.extract([s.image for s in category.router_train]))
            if self.cache is not None and category.val:
                self.extract([s.image for s in category.val])
            self.test_features[name] = self.extract([s.image for s in category.test])
            self.test_embeddings[name] = self.embed(self.test_features[name])

    def backbone_ms_per_image(self) -> float:
        """Milliseconds per image of the backbone pass alone (no cache), on a few test images of each category."""
        images = [s.image for c in self.categories.values() for s in c.test[:TIMED_IMAGES]]
        self.extractor.extract(images[:2])  # warm-up: first-call allocations are not inference
        start = time.perf_counter()
        self.extractor.extract(images)
        return 1000.0 * (time.perf_counter() - start) / len(images)

    def options(self, kind: str) -> FitOptions:
        """How detector ``kind`` is fitted and calibrated in this study."""
        cfg = self.cfg
        return FitOptions(
            detector=kind,
            detector_params=cfg.params(kind),
            features=cfg.features,
            threshold=cfg.threshold,
            holdout=cfg.calibration_holdout,
            seed=cfg.seed,
        )

    def detector(self, name: str, kind: str) -> Fitted:
        """Category ``name``'s detector of ``kind``, fitted (and measured) on first use."""
        key = (name, kind)
        if key not in self._fitted:
            category = self.categories[name]
            self.log(f"    fitting {kind} on {name}")
            with PeakRSS() as memory:
                bundle, seconds = self._fit_bundle(category.train, category.val, kind, name, category.source)
            prediction, ms = self._own_prediction(bundle, category)
            self._fitted[key] = Fitted(bundle, seconds, memory.increase_mb, bundle_bytes(bundle), ms, prediction)
        return self._fitted[key]

    def global_detector(self, kind: str) -> Bundle:
        """One detector of ``kind`` fitted on the normals of every category, calibrated on the union of
        the categories' calibration images (each category's own: its validation set or holdout)."""
        fit: list[Sample] = []
        calibration: list[Sample] = []
        for name, category in self.categories.items():
            normals, held = calibration_split(category.train, category.val, self.options(kind), name)
            fit += normals
            calibration += held
        self.log(f"    fitting one global {kind} on the normals of {len(self.categories)} categories ({len(fit)} images)")
        return self._fit_bundle(fit, calibration, kind, "global", "+".join(self.categories))[0]

    def _fit_bundle(
        self, train: Sequence[Sample], val: Sequence[Sample], kind: str, name: str, dataset: str
    ) -> tuple[Bundle, float]:
        options = self.options(kind)
        model = AnomalyModel(make_detector(kind, options.detector_params), options.features, cache=self.cache)
        model.share_extractor(self.extractor)
        return fit_bundle(train, val, options, model, name, dataset, self.progress)

    def _own_prediction(self, bundle: Bundle, category: Category) -> tuple[Prediction, float]:
        """Scores and maps of the category's test images and ms per image; maps dropped unless masks exist."""
        features = self.test_features[category.name]
        start = time.perf_counter()
        prediction = bundle.model.predict_features(features, with_maps=True)
        ms = 1000.0 * (time.perf_counter() - start) / len(features)
        if not category.has_masks:
            prediction = replace(prediction, maps=np.zeros((len(features), 0, 0), np.float32))
        return prediction, ms
