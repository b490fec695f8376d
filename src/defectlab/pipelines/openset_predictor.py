"""The predictor of an open-set bundle: the anomaly-gated cascade on the whole image.

Stage 1 (the detector) passes an image below its threshold as ``no_defect``; the others go to
the classifier, whose embeddings the whole-image open-set head (Mahalanobis) calls a known class
or ``unknown_defect``. The score, threshold and heatmap are stage 1's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from defectlab.bundle.manifest import OPENSET_KIND
from defectlab.bundle.prediction import DEFECTIVE, NORMAL, Prediction, Predictor
from defectlab.classifiers.train import predict as classify_images
from defectlab.pipelines.cascade import NO_DEFECT, cascade_outcomes
from defectlab.pipelines.openset_bundle import OpenSetBundle, load_openset_bundle

OPENSET_METHOD = "mahalanobis"
"""The open-set score the predictor decides with."""


class OpenSetPredictor(Predictor):
    """Predictions of an open-set bundle."""

    kind = OPENSET_KIND

    def __init__(self, bundle: OpenSetBundle, path: Path) -> None:
        super().__init__(path, bundle.manifest, OPENSET_KIND)
        self.bundle = bundle

    @classmethod
    def load(cls, path: Path, num_threads: int | None = None, runtime: str | None = None) -> OpenSetPredictor:
        cls.torch_only(path, runtime)
        return cls(load_openset_bundle(path), path)

    @property
    def image_size(self) -> int:
        return int(self.bundle.stage1.model.features.image_size)

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        stage1 = self.bundle.stage1
        threshold = stage1.threshold.value
        scored = stage1.model.predict(list(images), with_maps=explain)
        classifier = self.bundle.classifier.model
        probabilities, embeddings = classify_images(classifier, list(images))
        with torch.inference_mode():
            logits = classifier.logits(torch.from_numpy(embeddings)).numpy()
        decisions = self.bundle.whole.decide(embeddings.astype(np.float64), logits.astype(np.float64), OPENSET_METHOD)
        outcomes = cascade_outcomes(scored.scores, threshold, decisions)
        normalized = stage1.normalized(scored.scores)
        names = self.bundle.known
        predictions = []
        for i, image in enumerate(images):
            prediction = Prediction(
                decision=NORMAL if outcomes[i] == NO_DEFECT else DEFECTIVE,
                is_anomalous=outcomes[i] != NO_DEFECT,
                score=float(scored.scores[i]),
                threshold=threshold,
                normalized_score=float(normalized[i]),
                label=outcomes[i],
                confidence=float(probabilities[i].max()),
                probabilities={name: float(p) for name, p in zip(names, probabilities[i], strict=True)},
            )
            if explain:
                prediction.add_anomaly_map(image, scored.maps[i], threshold)
            predictions.append(prediction)
        return predictions
