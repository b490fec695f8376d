"""Load any bundle as a :class:`~defectlab.bundle.prediction.Predictor`, by the kind its manifest names."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from defectlab.bundle.manifest import CLASSIFIER_KIND, DETECTOR_KIND, OPENSET_KIND, ROUTED_KIND, bundle_kind
from defectlab.bundle.prediction import Predictor

PREDICTORS: dict[str, str] = {
    DETECTOR_KIND: "defectlab.bundle.detector_predictor:DetectorPredictor",
    CLASSIFIER_KIND: "defectlab.bundle.classifier_predictor:ClassifierPredictor",
    ROUTED_KIND: "defectlab.pipelines.routed_predictor:RoutedPredictor",
    OPENSET_KIND: "defectlab.pipelines.openset_predictor:OpenSetPredictor",
}
"""Bundle kind -> its predictor class (``module:name``). The routed and open-set kinds combine several
models in the pipelines layer above this one, so every class is imported by name when its kind is loaded."""


def predictor_class(kind: str) -> type[Predictor]:
    """The predictor class of bundle ``kind`` (one of PREDICTORS)."""
    module, _, name = PREDICTORS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    if cls.kind != kind:
        raise TypeError(f"{PREDICTORS[kind]} answers for kind {cls.kind!r}, not {kind!r}")
    return cls


def load_predictor(path: str | os.PathLike[str], num_threads: int | None = None, runtime: str | None = None) -> Predictor:
    """The predictor of the bundle at ``path`` scored by ``runtime`` (torch, onnx, openvino; None: the
    fastest export present, else torch). ModelError for anything that is not a bundle of a known kind."""
    path = Path(path)
    return predictor_class(bundle_kind(path)).load(path, num_threads, runtime)
