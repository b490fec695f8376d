"""Multi-category inspection: a category router in front of one detector bundle per category.

Every image goes through the shared backbone once; the router names its category (or
"unknown"), and that category's detector scores the same features against its own threshold.
All detectors must use the router's feature configuration (backbone, layers, image size,
pooling, weights): the bundle refuses to load otherwise.

A routed bundle is a directory: ``manifest.json`` (``"kind": "routed"``, the feature config,
router parameters and limits, the categories with their detector kinds), ``router.safetensors``,
``thresholds.json`` (one threshold per category) and ``categories/<name>/`` holding an ordinary
detector bundle per category. Written atomically, like every bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor
from defectlab.bundle.io import Bundle, load_bundle, save_bundle
from defectlab.bundle.manifest import MANIFEST, ROUTED_KIND, new_manifest, read_manifest
from defectlab.calibration.thresholds_io import write_thresholds_json
from defectlab.errors import DataError, ModelError
from defectlab.fileio import atomic_write_directory
from defectlab.pipelines.router import UNKNOWN, CategoryRouter

ROUTER_TENSORS = "router.safetensors"
CATEGORIES_DIR = "categories"
UNKNOWN_CATEGORY = "unknown"
UNKNOWN_SCORE = 1e12
"""Relative score of an image routed to "unknown category" (above any real one): it is flagged."""


@dataclass
class RoutedPrediction:
    """Per image: category name (``unknown`` when the router refuses), score, threshold, decision.

    Unknown images have NaN score and threshold and ``is_anomalous`` True (they need a person).
    ``maps`` is (N, S, S) (zeros for unknown images), or (N, 0, 0) when maps were not asked for.
    """

    categories: list[str]
    scores: np.ndarray
    thresholds: np.ndarray
    is_anomalous: np.ndarray
    confidence: np.ndarray
    maps: np.ndarray

    @property
    def unknown(self) -> np.ndarray:
        """(N,) True where the router refused the image as an unknown category."""
        return np.array([name == UNKNOWN_CATEGORY for name in self.categories], dtype=bool)

    def relative_scores(self) -> np.ndarray:
        """Each score over its category's threshold (1 = at the threshold), so that scores of
        different detectors compare; an unknown image gets UNKNOWN_SCORE, above every real score:
        the system flags it for a person, it never passes it."""
        return np.where(self.unknown, UNKNOWN_SCORE, self.scores / np.where(self.unknown, 1.0, self.thresholds))

    def relative_maps(self) -> np.ndarray:
        """The maps over each image's threshold, every pixel of an unknown image UNKNOWN_SCORE
        (as :meth:`relative_scores`); needs a prediction made with maps."""
        if self.maps.shape[1:] == (0, 0):
            raise DataError("this prediction was made without maps")
        scale = np.where(self.unknown, 1.0, self.thresholds)[:, None, None]
        return np.where(self.unknown[:, None, None], UNKNOWN_SCORE, self.maps / scale)


@dataclass
class RoutedModel:
    """A fitted router and a detector bundle per category, sharing one feature extractor."""

    router: CategoryRouter
    bundles: dict[str, Bundle]
    features: FeatureConfig
    cache: FeatureCache | None = None
    manifest: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        missing = [c for c in self.router.categories if c not in self.bundles]
        if missing:
            raise ModelError(f"the router knows categories {missing} that have no detector")
        for name, bundle in self.bundles.items():
            if bundle.model.features != self.features:
                raise ModelError(
                    f"category {name}'s detector uses features {bundle.model.features.to_dict()}, the router "
                    f"{self.features.to_dict()}: a routed bundle needs one backbone configuration"
                )
        self._extractor: FeatureExtractor | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        return self.router.categories

    @property
    def extractor(self) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.features)
            for bundle in self.bundles.values():
                bundle.model.share_extractor(self._extractor)
        return self._extractor

    def extract(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """Patch features of ``images`` (through the cache when one is set)."""
        if self.cache is not None:
            return self.cache.extract(self.extractor, images, progress=progress)
        return self.extractor.extract(images, progress=progress)

    def predict(self, images: Sequence[np.ndarray], with_maps: bool = True, progress: bool = False) -> RoutedPrediction:
        """Route and score ``images`` (batched: one backbone pass, one detector call per category)."""
        if len(images) == 0:
            raise DataError("no images to score")
        return self.predict_features(self.extract(images, progress=progress), with_maps)

    def predict_features(self, features: torch.Tensor, with_maps: bool = True) -> RoutedPrediction:
        """Route and score precomputed features."""
        routing = self.router.route(features)
        n = len(features)
        scores, thresholds = np.full(n, np.nan), np.full(n, np.nan)
        size = self.features.image_size
        maps = np.zeros((n, size, size) if with_maps else (n, 0, 0), np.float32)
        names = [UNKNOWN_CATEGORY] * n
        for index, name in enumerate(self.categories):
            rows = np.flatnonzero(routing.category == index)
            if len(rows) == 0:
                continue
            bundle = self.bundles[name]
            prediction = bundle.model.predict_features(features[torch.from_numpy(rows)], with_maps)
            scores[rows] = prediction.scores
            thresholds[rows] = bundle.threshold.value
            if with_maps:
                maps[rows] = prediction.maps
            for row in rows:
                names[row] = name
        unknown = routing.category == UNKNOWN
        anomalous = unknown | (np.nan_to_num(scores, nan=0.0) >= np.nan_to_num(thresholds, nan=np.inf))
        return RoutedPrediction(names, scores, thresholds, anomalous, routing.confidence, maps)


def save_routed_bundle(path: str | os.PathLike[str], model: RoutedModel, training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to directory ``path`` atomically (replacing an existing bundle)."""
    manifest = new_manifest(
        ROUTED_KIND,
        backbone=model.features.to_dict(),
        image_size=model.features.image_size,
        router={"params": model.router.get_params(), "limits": model.router.limits},
        categories={
            name: {"detector": model.bundles[name].model.detector.kind, "threshold": model.bundles[name].threshold.to_dict()}
            for name in model.categories
        },
        training=training or {},
    )

    def write(folder: Path) -> None:
        save_file(model.router.state_tensors(), str(folder / ROUTER_TENSORS))
        for name in model.categories:
            save_bundle(folder / CATEGORIES_DIR / name, model.bundles[name])
        write_thresholds_json(folder / "thresholds.json", {name: model.bundles[name].threshold for name in model.categories})
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    result = atomic_write_directory(Path(path), write)
    model.manifest = manifest
    return result


def load_routed_bundle(path: str | os.PathLike[str], cache: FeatureCache | None = None) -> RoutedModel:
    """Load a bundle written by :func:`save_routed_bundle`, checking every category's detector."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != ROUTED_KIND:
        raise ModelError(f"{path} is a bundle of kind '{manifest.get('kind')}', not a routed (multi-category) bundle")
    try:
        backbone = manifest["backbone"]
        features = FeatureConfig(
            backbone["backbone"],
            tuple(backbone["layers"]),
            int(backbone["image_size"]),
            int(backbone["pool_size"]),
            backbone["weights"],
        )
        router = CategoryRouter(**manifest["router"]["params"])
        categories = list(manifest["categories"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path / MANIFEST} is incomplete or malformed: {exc!r}") from exc
    try:
        router.load_state_tensors(load_file(str(path / ROUTER_TENSORS)), categories)
    except (KeyError, DataError) as exc:
        raise ModelError(f"{path / ROUTER_TENSORS} does not hold this router's state: {exc}") from exc
    except Exception as exc:  # safetensors raises its own error types for missing or corrupt files
        raise ModelError(f"cannot read {path / ROUTER_TENSORS}: {exc}") from exc
    bundles = {}
    for name in categories:
        folder = path / CATEGORIES_DIR / name
        if not (folder / MANIFEST).is_file():
            raise ModelError(f"{path} routes to category '{name}' but has no detector for it at {folder}")
        bundles[name] = load_bundle(folder)
    return RoutedModel(router, bundles, features, cache=cache, manifest=manifest)
