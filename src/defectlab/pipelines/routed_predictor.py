"""The predictor of a routed bundle: the category, then that category's detector and threshold.

An image of a product the router does not know gets the decision ``Unknown category``
(``is_anomalous`` True: it needs a person) and no score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.bundle.manifest import ROUTED_KIND
from defectlab.bundle.prediction import DEFECTIVE, NORMAL, UNKNOWN_DECISION, Prediction, Predictor
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, RoutedModel, load_routed_bundle


class RoutedPredictor(Predictor):
    """Predictions of a routed (multi-category) bundle."""

    kind = ROUTED_KIND

    def __init__(self, model: RoutedModel, path: Path) -> None:
        super().__init__(path, model.manifest or {}, "router")
        self.model = model

    @classmethod
    def load(cls, path: Path, num_threads: int | None = None, runtime: str | None = None) -> RoutedPredictor:
        cls.torch_only(path, runtime)
        return cls(load_routed_bundle(path), path)

    @property
    def image_size(self) -> int:
        return int(self.model.features.image_size)

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        routed = self.model.predict(list(images), with_maps=explain)
        predictions = []
        for i, image in enumerate(images):
            category = routed.categories[i]
            if category == UNKNOWN_CATEGORY:
                predictions.append(Prediction(decision=UNKNOWN_DECISION, is_anomalous=True, category=category))
                continue
            bundle = self.model.bundles[category]
            score, threshold = float(routed.scores[i]), float(routed.thresholds[i])
            prediction = Prediction(
                decision=DEFECTIVE if routed.is_anomalous[i] else NORMAL,
                is_anomalous=bool(routed.is_anomalous[i]),
                score=score,
                threshold=threshold,
                normalized_score=float(bundle.normalized(np.array([score]))[0]),
                category=category,
            )
            if explain:
                prediction.add_anomaly_map(image, routed.maps[i], threshold)
            predictions.append(prediction)
        return predictions

    def describe(self) -> dict[str, Any]:
        """Categories with their detector kinds and thresholds, the router's parameters and limits."""
        keys = ("kind", "format_version", "created", "backbone", "image_size", "router", "categories", "training", "versions")
        return {key: self.manifest.get(key) for key in keys}
