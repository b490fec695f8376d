"""Fit-and-calibrate and evaluate: the steps shared by the CLI, the main job and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import Bundle, training_fingerprint
from defectlab.calibration.scores import CalibrationScores
from defectlab.calibration.thresholds import Threshold, calibrate
from defectlab.components.align import Aligner
from defectlab.data.sample import Sample
from defectlab.detectors.model import AnomalyModel, Prediction
from defectlab.detectors.registry import make_detector
from defectlab.errors import ConfigError, DataError
from defectlab.metrics.bootstrap import bootstrap_ci
from defectlab.metrics.image import auprc, auroc, f1_at, threshold_metrics
from defectlab.metrics.pixel import aupro, pixel_auroc
from defectlab.shift.family import corrupted_copies
from defectlab.workflows.results import EvaluationResult, Example

THRESHOLD_METHODS = ("auto", "f1", "mean_std", "quantile")
AUTO_THRESHOLDS = {"cae": "mean_std"}  # detectors whose "auto" threshold ignores validation anomalies


@dataclass
class FitOptions:
    """How to fit and calibrate one detector."""

    detector: str = "patchcore"
    detector_params: dict[str, Any] = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    threshold: str = "auto"  # AUTO_THRESHOLDS for the detector, else f1 when validation anomalies exist, else mean_std
    holdout: float = 0.1  # share of training normals kept for calibration when there is no validation set
    align: bool = False  # align every image to a template of the training normals before inspecting it
    augment: str | None = None  # a corruption family (shift.family.FAMILIES): corrupted copies join the fit
    augment_copies: int = 1
    seed: int = 42
    num_threads: int | None = None


def make_model(options: FitOptions, cache: FeatureCache | None = None) -> AnomalyModel:
    """The unfitted model `options` describe: detector, features, threads, aligner, and an optional feature cache."""
    return AnomalyModel(
        detector=make_detector(options.detector, options.detector_params),
        features=options.features,
        num_threads=options.num_threads,
        cache=cache,
        aligner=Aligner() if options.align else None,
    )


def split_holdout(samples: Sequence[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded split of normal training samples into (fit, calibration)."""
    n = len(samples)
    n_hold = int(round(fraction * n))
    if n_hold < 2 or n - n_hold < 1:
        raise DataError(f"too few training images ({n}) to hold out {fraction:.0%} for calibration")
    order = np.random.default_rng(seed).permutation(n)
    hold = set(order[:n_hold].tolist())
    return [s for i, s in enumerate(samples) if i not in hold], [s for i, s in enumerate(samples) if i in hold]


def calibration_split(
    train: Sequence[Sample], val: Sequence[Sample], options: FitOptions, category: str = ""
) -> tuple[list[Sample], list[Sample]]:
    """(normal images the detector is fitted on, calibration images): `val` when it holds normal
    images, else a seeded holdout of `options.holdout` of the training normals (the rest are fitted)."""
    normals = [s for s in train if s.label == 0]
    if not normals:
        raise DataError(f"category {category or '?'} has no normal training images")
    if any(s.label == 0 for s in val):
        return normals, list(val)
    return split_holdout(normals, options.holdout, options.seed)


def fit_bundle(
    train: Sequence[Sample],
    val: Sequence[Sample],
    options: FitOptions,
    model: AnomalyModel | None = None,
    category: str = "",
    dataset: str = "",
    progress: bool = False,
    extra: Sequence[Sample] = (),
) -> tuple[Bundle, float]:
    """Fit a detector on the normal training samples, calibrate thresholds; returns (bundle, fit seconds).

    Calibration uses `val` when it holds normal images, otherwise a seeded holdout of the
    training normals (the detector is then fitted on the rest). `extra` normal images (e.g. further
    augmented copies of the training normals) join the fit only, never the calibration holdout.
    The bundle keeps the calibration images' scores and labels.
    """
    if options.threshold not in THRESHOLD_METHODS:
        raise ConfigError(f"unknown threshold method {options.threshold!r}; choose one of {', '.join(THRESHOLD_METHODS)}")
    normals, calibration = calibration_split(train, val, options, category)
    if model is None:
        model = make_model(options)
    if options.augment:
        extra = [*extra, *corrupted_copies(normals, options.augment, options.augment_copies, options.seed)]
    images = [s.image for s in normals] + [s.image for s in extra if s.label == 0]
    start = time.perf_counter()
    model.fit(images, progress=progress)
    fit_seconds = time.perf_counter() - start
    cal_scores = model.predict([s.image for s in calibration], progress=progress).scores
    cal_labels = np.array([s.label for s in calibration])
    thresholds = _thresholds(cal_labels, cal_scores)
    default = options.threshold if options.threshold != "auto" else _auto_threshold(model.detector.kind, thresholds)
    if default not in thresholds:
        raise ConfigError(f"threshold method {default!r} needs anomalous validation images, and there are none")
    normal_cal = cal_scores[cal_labels == 0]
    bundle = Bundle(
        model=model,
        thresholds=thresholds,
        default_threshold=default,
        training={
            "dataset": dataset,
            "category": category,
            "n_train": len(images),
            "n_calibration": len(calibration),
            "calibration": "validation set"
            if val and any(s.label == 0 for s in val)
            else f"holdout {options.holdout:.0%} of training normals",
            "fingerprint": training_fingerprint(images),
            "seed": options.seed,
            "fit_seconds": round(fit_seconds, 3),
        },
        score_stats={"normal_mean": float(normal_cal.mean()), "normal_std": float(normal_cal.std())},
        calibration=CalibrationScores.of(cal_scores, cal_labels),
    )
    return bundle, fit_seconds


def _auto_threshold(kind: str, thresholds: dict[str, Threshold]) -> str:
    """The method "auto" stands for: the detector's own default, else f1 when anomalies were seen."""
    return AUTO_THRESHOLDS.get(kind, "f1" if "f1" in thresholds else "mean_std")


def _thresholds(labels: np.ndarray, scores: np.ndarray) -> dict[str, Threshold]:
    normal = scores[labels == 0]
    out = {"mean_std": calibrate("mean_std", normal), "quantile": calibrate("quantile", normal, accept=0.95)}
    if np.any(labels == 1):
        out["f1"] = calibrate("f1", labels=labels, scores=scores)
    return out


def resized_masks(samples: Sequence[Sample], size: int) -> np.ndarray | None:
    """(N, size, size) uint8 masks of `samples` as the model sees them (nearest neighbour; zeros where a
    sample has none), or None when no anomalous sample has a mask."""
    if not any(s.label == 1 and s.mask is not None for s in samples):
        return None
    masks = []
    for s in samples:
        mask = s.mask if s.mask is not None else np.zeros(s.image.shape[:2], np.uint8)
        t = torch.from_numpy(np.ascontiguousarray(mask)).float()[None, None]
        masks.append(F.interpolate(t, size=(size, size), mode="nearest")[0, 0].numpy().astype(np.uint8))
    return np.stack(masks)


def resized_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 image resized (antialiased bilinear) to size x size, as the model sees it."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def evaluate_bundle(
    bundle: Bundle,
    test: Sequence[Sample],
    n_examples: int = 6,
    n_bootstrap: int = 1000,
    seed: int = 42,
    progress: bool = False,
) -> EvaluationResult:
    """Score `test` with the bundle and compute image and (where masks exist) pixel metrics."""
    if not test:
        raise DataError("the test set is empty")
    masks = resized_masks(test, bundle.model.features.image_size)
    start = time.perf_counter()
    with_maps = masks is not None or n_examples > 0  # maps cost more than the scores; skip them when unused
    prediction: Prediction = bundle.model.predict([s.image for s in test], progress=progress, with_maps=with_maps)
    ms_per_image = 1000.0 * (time.perf_counter() - start) / len(test)
    labels = np.array([s.label for s in test])
    scores = prediction.scores
    threshold = bundle.threshold
    at = threshold_metrics(labels, scores, threshold.value)
    metrics: dict[str, float | None] = {
        "image_auroc": auroc(labels, scores),
        "image_auprc": auprc(labels, scores),
        "image_f1": at.f1,
        "image_precision": at.precision,
        "image_recall": at.recall,
        "image_false_alarm_rate": at.fp / (at.fp + at.tn) if at.fp + at.tn else float("nan"),
        "image_accuracy": at.accuracy,
        "pixel_auroc": None,
        "aupro": None,
    }
    if masks is not None:
        metrics["pixel_auroc"] = pixel_auroc(masks, prediction.maps)
        metrics["aupro"] = aupro(masks, prediction.maps)
    intervals = {}

    def f1_at_threshold(y: np.ndarray, s: np.ndarray) -> float:
        return f1_at(y, s, threshold.value)

    for name, fn in (("image_auroc", auroc), ("image_auprc", auprc), ("image_f1", f1_at_threshold)):
        ci = bootstrap_ci(fn, labels, scores, n_resamples=n_bootstrap, seed=seed, stratify=True)
        intervals[name] = (ci.low, ci.high)
    order = np.argsort(-scores, kind="stable")
    size = bundle.model.features.image_size

    def example(i: int) -> Example:
        s = test[i]
        return Example(s.id, resized_image(s.image, size), prediction.maps[i], float(scores[i]), int(s.label))

    n = min(n_examples, len(test))
    return EvaluationResult(
        detector=bundle.model.detector.kind,
        category=bundle.training.get("category", ""),
        metrics={k: (None if v is None else float(v)) for k, v in metrics.items()},
        intervals=intervals,
        threshold=threshold.value,
        threshold_method=threshold.method,
        labels=labels,
        scores=scores,
        ids=[s.id for s in test],
        most_anomalous=[example(i) for i in order[:n]],
        least_anomalous=[example(i) for i in order[::-1][:n]],
        timings={"fit_seconds": float(bundle.training.get("fit_seconds", float("nan"))), "ms_per_image": ms_per_image},
        info={k: bundle.training.get(k) for k in ("n_train", "n_calibration", "calibration", "fingerprint")},
    )
