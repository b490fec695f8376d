"""The predictor of an anomaly-detector bundle: score, threshold, decision and heatmap."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from defectlab.bundle.io import Bundle, load_bundle, save_threshold
from defectlab.bundle.manifest import DETECTOR_KIND
from defectlab.bundle.prediction import DEFECTIVE, NORMAL, Prediction, Predictor
from defectlab.bundle.runtimes import choose_export, load_runtime
from defectlab.calibration.scores import CalibrationScores
from defectlab.calibration.thresholds import Threshold

NOT_ALIGNED = "could not be aligned to the training template: scored as it is"


class DetectorPredictor(Predictor):
    """Predictions of an anomaly-detector bundle; :meth:`set_threshold` changes its decision threshold.

    A threshold change swaps in a new :class:`Bundle` (same model) in one assignment, so a
    prediction running on another thread decides wholly with the old threshold or the new one.
    """

    kind = DETECTOR_KIND

    def __init__(self, bundle: Bundle, path: Path) -> None:
        runtime = bundle.model.runtime.name if bundle.model.runtime is not None else "torch"
        super().__init__(path, bundle.manifest, bundle.model.detector.kind, runtime)
        self.bundle = bundle
        self._edit = threading.Lock()

    @classmethod
    def load(cls, path: Path, num_threads: int | None = None, runtime: str | None = None) -> DetectorPredictor:
        """The bundle at ``path``, scored by ``runtime`` (None: its fastest export present, else torch)."""
        bundle = load_bundle(path, num_threads=num_threads)
        chosen = choose_export(path, runtime)
        if chosen is not None:
            bundle.model.runtime = load_runtime(path, *chosen, num_threads=num_threads)
        return cls(bundle, path)

    @property
    def image_size(self) -> int:
        return int(self.bundle.model.features.image_size)

    @property
    def threshold(self) -> Threshold:
        """The threshold decisions are made with."""
        return self.bundle.threshold

    @property
    def calibration(self) -> CalibrationScores | None:
        """The bundle's stored calibration scores (None for bundles written without them)."""
        return self.bundle.calibration

    def set_threshold(self, value: float, by: str) -> Threshold:
        """Decide with ``value`` from now on and save it into the bundle on disk (see :func:`save_threshold`)."""
        with self._edit:
            self.bundle = save_threshold(self.path, self.bundle, value, by)
            self.manifest = self.bundle.manifest
        return self.bundle.threshold

    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        bundle = self.bundle  # one bundle for the whole call, whatever set_threshold does meanwhile
        threshold = bundle.threshold.value
        scored = bundle.model.predict(list(images), with_maps=explain)
        normalized = bundle.normalized(scored.scores)
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
