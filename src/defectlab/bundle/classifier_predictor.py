"""The predictor of a classifier bundle: class, confidence, probabilities, Grad-CAM as the heatmap.

Grad-CAM hooks a layer and toggles gradients, so it runs on a private copy of the classifier
under its own lock and never disturbs concurrent predictions.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.bundle.classifier import ClassifierBundle, load_classifier_bundle
from defectlab.bundle.manifest import CLASSIFIER_KIND
from defectlab.bundle.prediction import DEFECTIVE, NORMAL, Prediction, Predictor
from defectlab.classifiers.train import predict as classify_images
from defectlab.explain.overlay import overlay

NORMAL_CLASS_NAMES = ("good", "normal", "functional", "ok", "no_defect")
"""Class names (lower case) that mean a part without defects."""


class ClassifierPredictor(Predictor):
    """Predictions of a classifier bundle."""

    kind = CLASSIFIER_KIND
    heatmap_name = "Grad-CAM"

    def __init__(self, bundle: ClassifierBundle, path: Path) -> None:
        super().__init__(path, bundle.manifest, bundle.model.kind)
        self.bundle = bundle
        self._cam_model = copy.deepcopy(bundle.model)
        self._cam_lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, num_threads: int | None = None, runtime: str | None = None) -> ClassifierPredictor:
        cls.torch_only(path, runtime)
        return cls(load_classifier_bundle(path), path)

    @property
    def image_size(self) -> int:
        return int(self.bundle.model.image_size)

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        names = self.bundle.class_names
        probabilities, _ = classify_images(self.bundle.model, list(images))
        best = probabilities.argmax(axis=1)
        maps = self._gradcam(images, best) if explain else None
        predictions = []
        for i, image in enumerate(images):
            label = names[int(best[i])]
            anomalous = label.lower() not in NORMAL_CLASS_NAMES
            prediction = Prediction(
                decision=DEFECTIVE if anomalous else NORMAL,
                is_anomalous=anomalous,
                label=label,
                confidence=float(probabilities[i, best[i]]),
                probabilities={name: float(p) for name, p in zip(names, probabilities[i], strict=True)},
            )
            if maps is not None:
                prediction.heatmap = maps[i]
                prediction.overlay = overlay(image, maps[i], vmin=0.0, vmax=1.0)
            predictions.append(prediction)
        return predictions

    def _gradcam(self, images: Sequence[np.ndarray], classes: np.ndarray) -> list[np.ndarray]:
        from defectlab.explain.gradcam import gradcam_maps  # imports pytorch_grad_cam: only when asked

        with self._cam_lock:  # hooks and requires_grad toggles touch the model: one at a time, on a copy
            return [gradcam_maps(self._cam_model, [image], [int(c)])[0] for image, c in zip(images, classes)]

    def describe(self) -> dict[str, Any]:
        """Everything but the per-epoch training history, which is replaced by its length (``training.epochs_run``)."""
        manifest = self.manifest
        training = dict(manifest.get("training") or {})
        history = training.pop("history", None)
        if history is not None:
            training["epochs_run"] = len(history)
        keys = ("kind", "format_version", "created", "model", "class_names", "backbone", "image_size")
        return {**{key: manifest.get(key) for key in keys}, "training": training, "versions": manifest.get("versions")}
