"""Load any bundle as a :class:`~defectlab.bundle.prediction.Predictor`, by the kind its manifest names."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from defectlab.bundle.classifier_predictor import ClassifierPredictor
from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.bundle.manifest import bundle_kind
from defectlab.bundle.openset_predictor import OpenSetPredictor
from defectlab.bundle.prediction import Predictor
from defectlab.bundle.routed_predictor import RoutedPredictor

PREDICTORS: dict[str, Callable[[Path, int | None], Predictor]] = {
    cls.kind: cls.load for cls in (DetectorPredictor, ClassifierPredictor, RoutedPredictor, OpenSetPredictor)
}
"""Bundle kind -> the loader of its predictor."""


def load_predictor(path: str | os.PathLike[str], num_threads: int | None = None) -> Predictor:
    """The predictor of the bundle at ``path`` (ModelError for anything that is not a bundle of a known kind)."""
    path = Path(path)
    return PREDICTORS[bundle_kind(path)](path, num_threads)
