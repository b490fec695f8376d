"""The study's phases, each returning JSON-ready results.

routing: the router over every category, on every test image (accuracy, confusion, refusals);
unknown: the router refitted without one category, on that category and on the known ones;
systems: routed vs oracle routing vs one global detector (image and pixel metrics per category, macro);
detectors: FeatureCAE vs PatchCore vs PaDiM per category (AUROC, fit time, inference time, size, memory).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from defectlab.experiments.router_study.context import StudyContext
from defectlab.metrics.image import auprc, auroc, threshold_metrics
from defectlab.metrics.pixel import aupro, pixel_auroc
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, RoutedModel
from defectlab.pipelines.router import UNKNOWN, CategoryRouter
from defectlab.workflows.detection import resized_masks

SYSTEMS = ("routed", "oracle", "global")
SYSTEM_METRICS = ("image_auroc", "image_auprc", "image_f1", "pixel_auroc", "aupro")
MB = 1024 * 1024


@dataclass
class RouteOutcome:
    """Where a router sent some test images: its decision (category index or UNKNOWN), the head's
    category before the unknown check, the true category (UNKNOWN for one it was not taught), labels,
    and the distance to the nearest category over the router's distance limit (> 1: refused)."""

    routed: np.ndarray
    predicted: np.ndarray
    truth: np.ndarray
    labels: np.ndarray
    distance: np.ndarray

    @classmethod
    def of(cls, router: CategoryRouter, embedding: np.ndarray, truth: str | None, labels: np.ndarray) -> RouteOutcome:
        """Route ``embedding`` rows whose true category is ``truth`` (None: not one the router knows)."""
        routing = router.route_embeddings(embedding)
        index = UNKNOWN if truth is None else router.categories.index(truth)
        return cls(routing.category, routing.predicted, np.full(len(labels), index), labels, routing.distance)

    @classmethod
    def join(cls, outcomes: Sequence[RouteOutcome]) -> RouteOutcome:
        """All images of ``outcomes`` together."""
        return cls(
            *(np.concatenate([getattr(o, f) for o in outcomes]) for f in ("routed", "predicted", "truth", "labels", "distance"))
        )

    def shares(self) -> dict[str, Any]:
        """Counts and shares: head accuracy (forced choice) and accuracy of the routes taken (refusals left
        out), known categories only; routed correctly, misrouted (sent to a wrong known category), called
        unknown, overall and among normal and defective images."""
        unknown = self.routed == UNKNOWN
        known = self.truth != UNKNOWN

        def share(hits: np.ndarray, rows: np.ndarray | None = None) -> float | None:
            hits = hits if rows is None else hits[rows]
            return float(hits.mean()) if hits.size else None

        return {
            "n": int(len(self.labels)),
            "head_accuracy": share(self.predicted == self.truth) if known.all() else None,
            "routed_accuracy": share(self.routed == self.truth, ~unknown) if known.all() else None,
            "routed_correctly": share(self.routed == self.truth) if known.all() else None,
            "misrouted": share(~unknown & (self.routed != self.truth)),
            "called_unknown": share(unknown),
            "unknown_normal": share(unknown, self.labels == 0),
            "unknown_defective": share(unknown, self.labels == 1),
        }


def fit_router(ctx: StudyContext, names: Sequence[str]) -> CategoryRouter:
    """A router over categories ``names``, fitted on the embeddings of their router training images."""
    embedding = np.concatenate([ctx.train_embeddings[n] for n in names])
    labels = [n for n in names for _ in range(len(ctx.train_embeddings[n]))]
    return ctx.cfg.make_router().fit_embeddings(embedding, labels)


def _outcome(ctx: StudyContext, router: CategoryRouter, name: str, known: bool = True) -> RouteOutcome:
    return RouteOutcome.of(router, ctx.test_embeddings[name], name if known else None, ctx.categories[name].labels)


def routing_phase(ctx: StudyContext, router: CategoryRouter) -> dict[str, Any]:
    """The router over every category, on every test image: shares per category and overall, confusion."""
    columns = [*router.categories, UNKNOWN_CATEGORY]
    outcomes = {name: _outcome(ctx, router, name) for name in ctx.categories}
    confusion = {}
    for name, outcome in outcomes.items():
        counts = Counter(columns[k] for k in outcome.routed)  # UNKNOWN (-1) is the last column
        confusion[name] = {column: counts.get(column, 0) for column in columns}
    return {
        "categories": list(router.categories),
        "limits": router.limits,
        "overall": RouteOutcome.join(list(outcomes.values())).shares(),
        "per_category": {name: outcome.shares() for name, outcome in outcomes.items()},
        "confusion": confusion,
    }


def unknown_phase(ctx: StudyContext) -> dict[str, Any]:
    """Each configured category held out of the router's training in turn: how often its test images
    are called unknown (or misrouted, and where), and how often the known categories' images are; and
    how far (distance over the limit) the held-out images and the known normal and defective ones lie."""
    trials = []
    for held in ctx.cfg.unknown_trials:
        known = [n for n in ctx.categories if n != held]
        router = fit_router(ctx, known)
        outcome = _outcome(ctx, router, held, known=False)
        misrouted = Counter(router.categories[k] for k in outcome.routed if k != UNKNOWN)
        trials.append(
            {
                "held_out": held,
                "limits": router.limits,
                "held_out_shares": outcome.shares(),
                "misrouted_to": {name: count / len(outcome.routed) for name, count in misrouted.most_common()},
                "known_shares": (others := RouteOutcome.join([_outcome(ctx, router, n) for n in known])).shares(),
                "distance_over_limit": {
                    "held_out_min": float(outcome.distance.min()),
                    "known_normal_p99": float(np.quantile(others.distance[others.labels == 0], 0.99)),
                    "known_defective_p50": _quantile(others.distance[others.labels == 1], 0.5),
                    "known_defective_p90": _quantile(others.distance[others.labels == 1], 0.9),
                },
            }
        )
    if not trials:
        return {"trials": []}
    held = [t["held_out_shares"]["called_unknown"] for t in trials]
    known_rates = [t["known_shares"]["called_unknown"] for t in trials]
    return {
        "trials": trials,
        "held_out_unknown_min": min(held),
        "held_out_unknown_mean": float(np.mean(held)),
        "known_unknown_max": max(known_rates),
        "known_unknown_mean": float(np.mean(known_rates)),
    }


def system_metrics(
    labels: np.ndarray, scores: np.ndarray, maps: np.ndarray | None, masks: np.ndarray | None
) -> dict[str, float | None]:
    """Image AUROC/AUPRC, F1 at relative score 1 (the decision threshold), and pixel AUROC/AUPRO when masks exist."""
    pixel = masks is not None and maps is not None
    return {
        "image_auroc": _defined(auroc(labels, scores)),
        "image_auprc": _defined(auprc(labels, scores)),
        "image_f1": _defined(threshold_metrics(labels, scores, 1.0).f1),
        "pixel_auroc": pixel_auroc(masks, maps) if pixel else None,
        "aupro": aupro(masks, maps) if pixel else None,
    }


def systems_phase(ctx: StudyContext, router: CategoryRouter) -> dict[str, Any]:
    """Routed system vs oracle routing (the true category's detector) vs one global detector, per
    category and macro. Scores are relative to the deciding threshold (see RoutedPrediction)."""
    kind = ctx.cfg.system_detector
    routed = RoutedModel(router, {n: ctx.detector(n, kind).bundle for n in ctx.categories}, ctx.cfg.features)
    global_bundle = ctx.global_detector(kind) if ctx.cfg.global_model else None
    size = ctx.cfg.features.image_size
    per_category: dict[str, dict[str, Any]] = {}
    for name, category in ctx.categories.items():
        features, labels = ctx.test_features[name], category.labels
        masks = resized_masks(category.test, size) if category.has_masks else None
        with_maps = masks is not None
        rows: dict[str, Any] = {}
        prediction = routed.predict_features(features, with_maps)
        rows["routed"] = system_metrics(
            labels, prediction.relative_scores(), prediction.relative_maps() if with_maps else None, masks
        )
        oracle = ctx.detector(name, kind)
        threshold = oracle.bundle.threshold.value
        rows["oracle"] = system_metrics(
            labels, oracle.prediction.scores / threshold, oracle.prediction.maps / threshold if with_maps else None, masks
        )
        if global_bundle is not None:
            own = global_bundle.model.predict_features(features, with_maps)
            threshold = global_bundle.threshold.value
            rows["global"] = system_metrics(labels, own.scores / threshold, own.maps / threshold if with_maps else None, masks)
        per_category[name] = rows
    systems = [s for s in SYSTEMS if s != "global" or global_bundle is not None]
    macro = {s: {m: _mean([r[s][m] for r in per_category.values()]) for m in SYSTEM_METRICS} for s in systems}
    return {
        "detector": kind,
        "systems": systems,
        "per_category": per_category,
        "macro": macro,
        "global_threshold": None if global_bundle is None else global_bundle.threshold.to_dict(),
    }


def detectors_phase(ctx: StudyContext) -> dict[str, Any]:
    """Every configured detector on every category: image AUROC and F1, fit seconds, inference ms per image
    (scores and maps from features), bundle MiB, peak RSS increase while fitting; training curves of the
    detectors that record them (FeatureCAE's train/val loss per epoch)."""
    per_category: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, category in ctx.categories.items():
        rows = {}
        for kind in ctx.cfg.detectors:
            fitted = ctx.detector(name, kind)
            scores, threshold = fitted.prediction.scores, fitted.bundle.threshold
            history = getattr(fitted.bundle.model.detector, "history_", None)  # per-epoch losses of trained detectors
            rows[kind] = {
                "image_auroc": _defined(auroc(category.labels, scores)),
                "image_f1": _defined(threshold_metrics(category.labels, scores, threshold.value).f1),
                "threshold": threshold.method,
                "fit_seconds": fitted.fit_seconds,
                "ms_per_image": fitted.ms_per_image,
                "bundle_mb": fitted.bundle_bytes / MB,
                "peak_rss_mb": fitted.peak_rss_mb,
                "epochs": len(history) if history is not None else None,
            }
            if history is not None:
                curves.setdefault(kind, {})[name] = history
        per_category[name] = rows
    return {"per_category": per_category, "training_curves": curves}


def _defined(value: float) -> float | None:
    """None for an undefined (NaN) metric, e.g. AUROC of a test set with one class."""
    return float(value) if np.isfinite(value) else None


def _quantile(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if values.size else None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
