"""One prediction interface over any model bundle, for the service and the UI.

:func:`load_predictor` reads a bundle directory and returns a :class:`DetectorPredictor`
(anomaly-detector bundles: score, threshold, decision, heatmap) or a
:class:`ClassifierPredictor` (classifier bundles: class, confidence, probabilities, Grad-CAM)
or a :class:`RoutedPredictor` (multi-category bundles: the category, then its detector's answer).
Both take decoded ``uint8`` HxWx3 images and return one :class:`ImageResult` per image.

Predictors are shared by concurrent requests. Scoring only reads the model (eval mode, no
gradients); Grad-CAM hooks a layer and toggles gradients, so it runs on a private copy of the
classifier under its own lock and never disturbs concurrent predictions.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from defectlab.bundle.classifier import ClassifierBundle, classifier_summary, load_classifier_bundle
from defectlab.bundle.io import CLASSIFIER_KIND, ROUTED_KIND, Bundle, bundle_kind, load_bundle
from defectlab.classifiers.train import predict as classify_images
from defectlab.explain.overlay import heatmap_rgb, overlay, resize_map
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, RoutedModel, load_routed_bundle, routed_summary

NORMAL = "Normal"
DEFECTIVE = "Defective"
UNKNOWN_DECISION = "Unknown category"


@dataclass
class ImageResult:
    """What the service answers for one image.

    Detector bundles fill ``score`` .. ``is_anomalous``; classifier bundles fill ``label`` ..
    ``probabilities`` and the decision (``is_anomalous`` is False only for a class the bundle names
    as normal). ``heatmap`` is an HxW map in [0, 1] at the image's size (the anomaly map scaled so
    the threshold sits at 0.5, or the Grad-CAM map), ``overlay`` the image blended with it; both
    only when asked for.
    """

    decision: str
    is_anomalous: bool
    score: float | None = None
    threshold: float | None = None
    normalized_score: float | None = None
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    category: str | None = None
    heatmap: np.ndarray | None = None
    overlay: np.ndarray | None = None


class Predictor(Protocol):
    """A loaded bundle that answers for images."""

    kind: str
    model_id: str

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[ImageResult]:
        """One result per image; ``explain`` adds the heatmap and overlay."""
        ...

    def model_card(self) -> dict[str, Any]:
        """The manifest facts a client or operator needs (JSON-serializable)."""
        ...

    def warm_up(self) -> None:
        """Run one dummy prediction so the first real request is not slow."""
        ...


def model_id(path: Path, manifest: dict[str, Any]) -> str:
    """A short id: the bundle folder name, its model kind and its creation time."""
    kind = (manifest.get("detector") or manifest.get("model") or {}).get("kind", "model")
    return f"{path.name}:{kind}:{manifest.get('created', 'unknown')}"


class DetectorPredictor:
    """Predictions of an anomaly-detector bundle."""

    kind = "anomaly_detector"

    def __init__(self, bundle: Bundle, path: Path) -> None:
        self.bundle = bundle
        self.path = path
        self.model_id = model_id(path, bundle.manifest)

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[ImageResult]:
        bundle = self.bundle
        threshold = bundle.threshold.value
        prediction = bundle.model.predict(list(images), with_maps=explain)
        normalized = bundle.normalized(prediction.scores)
        results = []
        for i, image in enumerate(images):
            score = float(prediction.scores[i])
            anomalous = score >= threshold
            result = ImageResult(
                decision=DEFECTIVE if anomalous else NORMAL,
                is_anomalous=anomalous,
                score=score,
                threshold=threshold,
                normalized_score=float(normalized[i]),
            )
            if explain:
                _add_heatmap(result, image, prediction.maps[i], threshold)
            results.append(result)
        return results

    def model_card(self) -> dict[str, Any]:
        manifest = self.bundle.manifest
        return {
            "id": self.model_id,
            "kind": self.kind,
            "created": manifest.get("created"),
            "backbone": manifest.get("backbone"),
            "detector": manifest.get("detector"),
            "image_size": manifest.get("image_size"),
            "thresholds": manifest.get("thresholds"),
            "default_threshold": manifest.get("default_threshold"),
            "score_stats": manifest.get("score_stats"),
            "training": manifest.get("training"),
            "versions": manifest.get("versions"),
        }

    def warm_up(self) -> None:
        size = int(self.bundle.model.features.image_size)
        self.predict([np.full((size, size, 3), 128, np.uint8)], explain=True)


class ClassifierPredictor:
    """Predictions of a classifier bundle; Grad-CAM of the predicted class as the heatmap."""

    kind = CLASSIFIER_KIND
    normal_names = ("good", "normal", "functional", "ok", "no_defect")

    def __init__(self, bundle: ClassifierBundle, path: Path) -> None:
        self.bundle = bundle
        self.path = path
        self.model_id = model_id(path, bundle.manifest)
        self._cam_model = copy.deepcopy(bundle.model)
        self._cam_lock = threading.Lock()

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[ImageResult]:
        names = self.bundle.class_names
        probabilities, _ = classify_images(self.bundle.model, list(images))
        best = probabilities.argmax(axis=1)
        maps = self._gradcam(images, best) if explain else None
        results = []
        for i, image in enumerate(images):
            label = names[int(best[i])]
            anomalous = label.lower() not in self.normal_names
            result = ImageResult(
                decision=DEFECTIVE if anomalous else NORMAL,
                is_anomalous=anomalous,
                label=label,
                confidence=float(probabilities[i, best[i]]),
                probabilities={name: float(p) for name, p in zip(names, probabilities[i], strict=True)},
            )
            if maps is not None:
                result.heatmap = maps[i]
                result.overlay = overlay(image, maps[i], vmin=0.0, vmax=1.0)
            results.append(result)
        return results

    def _gradcam(self, images: Sequence[np.ndarray], classes: np.ndarray) -> list[np.ndarray]:
        from defectlab.explain.gradcam import gradcam_maps  # imports pytorch_grad_cam: only when asked

        with self._cam_lock:  # hooks and requires_grad toggles touch the model: one at a time, on a copy
            return [gradcam_maps(self._cam_model, [image], [int(c)])[0] for image, c in zip(images, classes)]

    def model_card(self) -> dict[str, Any]:
        return {"id": self.model_id, **classifier_summary(self.bundle.manifest)}

    def warm_up(self) -> None:
        size = int(self.bundle.model.image_size)
        self.predict([np.full((size, size, 3), 128, np.uint8)], explain=True)


class RoutedPredictor:
    """Predictions of a routed bundle: the category, then that category's detector and threshold.

    An image of a product the router does not know gets the decision ``Unknown category``
    (``is_anomalous`` True: it needs a person) and no score.
    """

    kind = ROUTED_KIND

    def __init__(self, model: RoutedModel, path: Path) -> None:
        self.model = model
        self.path = path
        self.model_id = model_id(path, {**(model.manifest or {}), "detector": {"kind": "router"}})

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[ImageResult]:
        prediction = self.model.predict(list(images), with_maps=explain)
        results = []
        for i, image in enumerate(images):
            category = prediction.categories[i]
            if category == UNKNOWN_CATEGORY:
                results.append(ImageResult(decision=UNKNOWN_DECISION, is_anomalous=True, category=category))
                continue
            bundle = self.model.bundles[category]
            score, threshold = float(prediction.scores[i]), float(prediction.thresholds[i])
            result = ImageResult(
                decision=DEFECTIVE if prediction.is_anomalous[i] else NORMAL,
                is_anomalous=bool(prediction.is_anomalous[i]),
                score=score,
                threshold=threshold,
                normalized_score=float(bundle.normalized(np.array([score]))[0]),
                category=category,
            )
            if explain:
                _add_heatmap(result, image, prediction.maps[i], threshold)
            results.append(result)
        return results

    def model_card(self) -> dict[str, Any]:
        manifest = self.model.manifest or {}
        return {"id": self.model_id, **routed_summary(manifest), "image_size": manifest.get("image_size")}

    def warm_up(self) -> None:
        size = int(self.model.features.image_size)
        self.predict([np.full((size, size, 3), 128, np.uint8)], explain=True)


def _add_heatmap(result: ImageResult, image: np.ndarray, anomaly_map: np.ndarray, threshold: float) -> None:
    """Heatmap (0.5 at the threshold, 1 at twice the threshold) and overlay of a detector's map."""
    result.heatmap = np.clip(resize_map(anomaly_map, *image.shape[:2]) / (2.0 * threshold), 0.0, 1.0)
    result.overlay = overlay(image, anomaly_map, vmin=0.0, vmax=2.0 * threshold)


def load_predictor(path: str | os.PathLike[str]) -> DetectorPredictor | ClassifierPredictor | RoutedPredictor:
    """The predictor of the bundle at ``path`` (ModelError for anything that is not a bundle)."""
    path = Path(path)
    kind = bundle_kind(path)
    if kind == CLASSIFIER_KIND:
        return ClassifierPredictor(load_classifier_bundle(path), path)
    if kind == ROUTED_KIND:
        return RoutedPredictor(load_routed_bundle(path), path)
    return DetectorPredictor(load_bundle(path), path)


def heatmap_image(heatmap: np.ndarray) -> np.ndarray:
    """A colour (jet) rendering of a [0, 1] heatmap, as uint8 HxWx3."""
    return heatmap_rgb(heatmap, 0.0, 1.0)
