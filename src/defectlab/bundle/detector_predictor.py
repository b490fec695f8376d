"""The predictor of an anomaly-detector bundle: score, threshold, decision and heatmap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from defectlab.bundle.io import Bundle, load_bundle
from defectlab.bundle.manifest import DETECTOR_KIND
from defectlab.bundle.prediction import DEFECTIVE, NORMAL, Prediction, Predictor

NOT_ALIGNED = "could not be aligned to the training template: scored as it is"


class DetectorPredictor(Predictor):
    """Predictions of an anomaly-detector bundle."""

    kind = DETECTOR_KIND

    def __init__(self, bundle: Bundle, path: Path) -> None:
        super().__init__(path, bundle.manifest, bundle.model.detector.kind)
        self.bundle = bundle

    @classmethod
    def load(cls, path: Path, num_threads: int | None = None) -> DetectorPredictor:
        return cls(load_bundle(path, num_threads=num_threads), path)

    @property
    def image_size(self) -> int:
        return int(self.bundle.model.features.image_size)

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        threshold = self.bundle.threshold.value
        scored = self.bundle.model.predict(list(images), with_maps=explain)
        normalized = self.bundle.normalized(scored.scores)
        predictions = []
        for i, image in enumerate(images):
            score = float(scored.scores[i])
            prediction = Prediction(
                decision=DEFECTIVE if score >= threshold else NORMAL,
                is_anomalous=score >= threshold,
                score=score,
                threshold=threshold,
                normalized_score=float(normalized[i]),
            )
            if scored.aligned is not None and not scored.aligned[i]:
                prediction.warnings.append(NOT_ALIGNED)
            if explain:
                prediction.add_anomaly_map(image, scored.maps[i], threshold)
            predictions.append(prediction)
        return predictions
