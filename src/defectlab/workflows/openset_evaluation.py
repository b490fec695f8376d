"""Evaluate an open-set bundle on the test part of its stored split (every approach and open-set method)."""

from __future__ import annotations

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.pipelines.openset_predictor import OpenSetPredictor
from defectlab.workflows.evaluation import Evaluation, EvaluationRequest
from defectlab.workflows.openset.bundle_jobs import evaluate_openset_bundle
from defectlab.workflows.openset.config import DataConfig


def evaluate_openset(predictor: OpenSetPredictor, request: EvaluationRequest) -> Evaluation:
    """Closed-set accuracy, known-vs-unknown AUROC, OSCR, FPR at 95% TPR and macro F1 with "unknown"
    per approach (one stage, cascade with the whole image, cascade localized) and method; the data
    defaults to the one the bundle was fitted on."""
    given = None
    if request.data is not None or request.fmt is not None:
        given = DataConfig(request.fmt or "folder", request.data, request.category, request.good)
    return Evaluation.as_json(evaluate_openset_bundle(predictor.path, given, FeatureCache(default_cache_dir())))
