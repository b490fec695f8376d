"""Evaluate a routed bundle on each category's test part: routing accuracy, the routing confusion
matrix (with "unknown"), per-category and macro image metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.data.sample import Sample
from defectlab.data.splits import Split, apply
from defectlab.errors import ConfigError
from defectlab.metrics.image import auprc, auroc, threshold_metrics
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, RoutedModel
from defectlab.pipelines.routed_predictor import RoutedPredictor
from defectlab.workflows.evaluation import Evaluation, EvaluationRequest
from defectlab.workflows.routed_fit import Source, splits_dir


def _test_parts(model: RoutedModel, bundle_dir: Path, data: Path | None, fmt: str | None) -> dict[str, list[Sample]]:
    """Each category's test images: its split's test part less the router-only images."""
    training = (model.manifest or {}).get("training") or {}
    stored = training.get("sources") or {}
    default_fmt = fmt or training.get("dataset") or "mvtec"
    default_root = data or (Path(training["root"]) if training.get("root") else None)
    folder = splits_dir(bundle_dir)
    parts = {}
    for name in model.categories:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"split file {path} not found: evaluate a routed bundle next to the splits fit-router wrote")
        if name in stored and stored[name]["format"] == "elpv":
            source = Source("elpv", None, stored[name]["name"])
        elif name in stored:
            source = Source(
                fmt or stored[name]["format"],
                data or (Path(stored[name]["root"]) if stored[name]["root"] else None),
                stored[name]["name"],
            )
        else:
            source = Source(default_fmt, default_root, name)
        test = apply(Split.load(path), source.read())[2]
        router_file = folder / f"{name}.router.json"
        if router_file.is_file():
            held = set(json.loads(router_file.read_text())["ids"])
            test = [s for s in test if s.id not in held]
        parts[name] = test
    return parts


def evaluate_routed(predictor: RoutedPredictor, request: EvaluationRequest) -> Evaluation:
    """Routing accuracy and confusion, and per-category and macro image metrics of the routed system
    (test parts: the splits `fit-router` stored beside the bundle)."""
    model = predictor.model
    model.cache = model.cache or FeatureCache(default_cache_dir())
    parts = _test_parts(model, predictor.path, request.data, request.fmt)
    names = list(model.categories) + [UNKNOWN_CATEGORY]
    confusion = {true: dict.fromkeys(names, 0) for true in model.categories}
    per_category: dict[str, dict[str, float | int | None]] = {}
    for name, test in tqdm(parts.items(), desc="evaluating categories", unit="category", disable=not request.progress):
        prediction = model.predict([s.image for s in test], with_maps=False)
        labels = np.array([s.label for s in test])
        for routed in prediction.categories:
            confusion[name][routed] += 1
        scores = prediction.relative_scores()  # 1 = the routed detector's threshold; unknown routes count as flagged
        at = threshold_metrics(labels, scores, 1.0)
        two_classes = len(set(labels.tolist())) == 2
        per_category[name] = {
            "n_test": len(test),
            "routed_correctly": float(np.mean(np.array(prediction.categories) == name)),
            "called_unknown": float(np.mean(np.array(prediction.categories) == UNKNOWN_CATEGORY)),
            "image_auroc": auroc(labels, scores) if two_classes else None,
            "image_auprc": auprc(labels, scores) if two_classes else None,
            "image_f1": at.f1,
        }
    total = sum(len(t) for t in parts.values())
    correct = sum(confusion[n][n] for n in model.categories)

    def macro(key: str) -> float | None:
        values = [m[key] for m in per_category.values() if m[key] is not None]
        return float(np.mean(values)) if values else None

    return Evaluation.as_json(
        {
            "routing_accuracy": correct / total,
            "called_unknown": sum(confusion[n][UNKNOWN_CATEGORY] for n in model.categories) / total,
            "macro_image_auroc": macro("image_auroc"),
            "macro_image_auprc": macro("image_auprc"),
            "macro_image_f1": macro("image_f1"),
            "per_category": per_category,
            "confusion": confusion,
        }
    )
