"""Evaluate an anomaly-detector bundle on the test part of its split: image and pixel metrics."""

from __future__ import annotations

from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.data.formats import read_dataset
from defectlab.data.splits import Split, apply
from defectlab.errors import ConfigError
from defectlab.workflows.detection import evaluate_bundle
from defectlab.workflows.evaluation import Evaluation, EvaluationRequest


def evaluate_detector(predictor: DetectorPredictor, request: EvaluationRequest) -> Evaluation:
    """Metrics with bootstrap intervals, the threshold and the scoring time (split: the one `fit` wrote beside the bundle)."""
    samples = read_dataset(request.data, request.fmt or "mvtec", request.category)
    path = predictor.path
    split_path = request.split or path.with_name(f"{path.name}.split.json")
    if not split_path.is_file():
        raise ConfigError(f"split file {split_path} not found: pass --split (the JSON `fit` wrote)")
    _, _, test = apply(Split.load(split_path), samples)
    result = evaluate_bundle(predictor.bundle, test, progress=request.progress)
    return Evaluation.as_json(
        {
            **result.metrics,
            "threshold": result.threshold,
            "threshold_method": result.threshold_method,
            "n_test": len(test),
            "intervals": {k: list(v) for k, v in result.intervals.items()},
            "ms_per_image": result.timings["ms_per_image"],
        }
    )
