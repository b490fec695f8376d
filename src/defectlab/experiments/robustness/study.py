"""The robustness study's engine: data per condition, cached fits, evaluations written to disk.

Everything heavy is cached: feature maps on disk by (feature config, image content) through
`FeatureCache`, fitted models in `<output>/models/<key>` by (detector, parameters, features,
training and calibration images, seed). A re-run only recomputes what changed.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from defectlab.analysis.errors import defect_area, defect_region, error_indices
from defectlab.backbones.cache import FeatureCache, image_digest
from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor
from defectlab.bundle.io import Bundle, load_bundle, save_bundle
from defectlab.data.formats import read_dataset
from defectlab.data.sample import Sample
from defectlab.data.splits import apply, load_or_create_split
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ModelError
from defectlab.experiments.robustness.config import RobustnessConfig, ShiftSpec
from defectlab.experiments.steps import StepTimer
from defectlab.fileio import atomic_write_bytes
from defectlab.report.plots import example_grid_png
from defectlab.shift.materialize import shift_sample
from defectlab.workflows.detection import FitOptions, evaluate_bundle, fit_bundle, resized_image
from defectlab.workflows.results import EvaluationResult, Example

HEADLINE = ("image_auroc", "image_auprc", "image_f1", "pixel_auroc", "aupro")
CLEAN = "none"


@dataclass
class Parts:
    """One category's train / val / test samples under one condition."""

    train: list[Sample]
    val: list[Sample]
    test: list[Sample]

    @property
    def train_normals(self) -> list[Sample]:
        return [s for s in self.train if s.label == 0]


@dataclass
class Evaluation:
    """One evaluation's record (JSON-ready) and its score arrays."""

    record: dict[str, Any]
    labels: np.ndarray
    scores: np.ndarray
    ids: list[str]


def slug(*parts: Any) -> str:
    """File-name-safe id from parts."""
    text = "__".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "-", text)


def robustness_index(shifted: float | None, reference: float | None) -> float | None:
    """Shifted / clean (None when either is missing or clean is 0)."""
    if shifted is None or reference is None or reference == 0:
        return None
    return shifted / reference


@dataclass
class Study:
    """Shared state of one robustness run."""

    config: RobustnessConfig
    log: Callable[[str], None] = print
    cache: FeatureCache | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    timer: StepTimer | None = None  # the run's step timer (set by run_robustness_job)

    def __post_init__(self) -> None:
        self.output = Path(self.config.output)
        self._clean: dict[str, Parts] = {}
        self._shifted: dict[tuple[str, str], Parts] = {}
        self._extractors: dict[FeatureConfig, FeatureExtractor] = {}
        self._references: dict[tuple[str, str, str], dict[str, float | None]] = {}

    # ---- data -------------------------------------------------------------------------------
    def clean(self, category: str | None) -> Parts:
        """The category's clean parts, split by the saved (or newly made) split file."""
        label = category or "all"
        if label not in self._clean:
            samples = read_dataset(self.config.dataset.root, self.config.dataset.format, category)
            split = load_or_create_split(
                self.output / "splits" / f"{label}.json", samples, self.config.dataset.split_rule, self.config.seed
            )
            self._clean[label] = Parts(*apply(split, samples))
        return self._clean[label]

    def shifted(self, category: str | None, spec: ShiftSpec, parts: Sequence[str] = ("train", "val", "test")) -> Parts:
        """The category's parts with `spec` applied to each image (the same image always gets the same shift)."""
        label = category or "all"
        key = (label, spec.name)
        clean = self.clean(category)
        have = self._shifted.get(key, Parts([], [], []))
        for part in parts:
            if not getattr(have, part) and getattr(clean, part):
                setattr(
                    have,
                    part,
                    [
                        shift_sample(s, spec.corruption, spec.preset, spec.severity, self.config.seed)
                        for s in getattr(clean, part)
                    ],
                )
        self._shifted[key] = have
        return have

    def extra_draws(self, category: str | None, spec: ShiftSpec) -> list[Sample]:
        """Further shifted copies of the training normals (draws 2..N of `adapt_draws`, each from its own
        seed) for refits that should see more of the shift's variety than one copy per image."""
        out = []
        for draw in range(2, self.config.adapt_draws + 1):
            for s in self.clean(category).train_normals:
                shifted = shift_sample(s, spec.corruption, spec.preset, spec.severity, self.config.seed + draw - 1)
                out.append(replace(shifted, id=f"{shifted.id}#draw{draw}"))
        return out

    def forget_shifts(self) -> None:
        """Free the shifted images held in memory (features stay cached on disk)."""
        self._shifted.clear()

    # ---- models -----------------------------------------------------------------------------
    def options(self, kind: str, params: dict[str, Any] | None = None, features: FeatureConfig | None = None) -> FitOptions:
        merged = {**self.config.detector_params.get(kind, {}), **(params or {})}
        return FitOptions(detector=kind, detector_params=merged, features=features or self.config.features, seed=self.config.seed)

    def new_model(self, options: FitOptions) -> AnomalyModel:
        model = AnomalyModel(
            detector=make_detector(options.detector, options.detector_params), features=options.features, cache=self.cache
        )
        return self._share(model)

    def _share(self, model: AnomalyModel) -> AnomalyModel:
        """One feature extractor per feature config for the whole study (building one costs a backbone)."""
        if model.features not in self._extractors:
            self._extractors[model.features] = model.extractor
        return model.share_extractor(self._extractors[model.features])

    def fit(
        self,
        train: Sequence[Sample],
        val: Sequence[Sample],
        options: FitOptions,
        category: str,
        extra: Sequence[Sample] = (),
    ) -> Bundle:
        """A fitted, calibrated bundle; loaded from the model cache when the same fit was done before.
        `extra` normals join the fit only (never the calibration holdout)."""
        key = _fit_key([*train, *extra], val, options)
        path = self.output / "models" / key
        if path.is_dir():
            try:
                bundle = load_bundle(path)
                bundle.model.cache = self.cache
                self._share(bundle.model)
                return bundle
            except ModelError:
                pass  # unreadable cache entry: refit and overwrite
        bundle, _ = fit_bundle(train, val, options, model=self.new_model(options), category=category, extra=extra)
        save_bundle(path, bundle)
        return bundle

    def features(self, samples: Sequence[Sample], config: FeatureConfig | None = None) -> torch.Tensor:
        """Feature maps of `samples` (through the cache)."""
        model = self.new_model(self.options(self.config.detectors[0], features=config))
        return model.extract([s.image for s in samples], progress=True)

    def adapted(self, bundle: Bundle, shots: Sequence[Sample]) -> Bundle:
        """The bundle with its detector adapted to `shots` (normal images of the new domain); same thresholds."""
        model = copy.copy(bundle.model)
        model.detector = bundle.model.detector.adapt(bundle.model.extract([s.image for s in shots]))
        return replace(bundle, model=model, training={**bundle.training, "adapted_with": len(shots)})

    # ---- evaluation -------------------------------------------------------------------------
    def set_reference(self, category: str, detector: str, variant: str, metrics: dict[str, float | None]) -> None:
        """Metrics that Robustness Indices of this (category, detector, variant) are taken against."""
        self._references[(category, detector, variant)] = metrics

    def evaluate(
        self,
        bundle: Bundle,
        test: Sequence[Sample],
        *,
        category: str,
        phase: str,
        shift: str,
        train: str,
        variant: dict[str, Any] | None = None,
        reference: str = "",
        gallery: bool = False,
    ) -> Evaluation:
        """Evaluate and record: metrics, CIs, RI against the reference, arrays and (optionally) a gallery."""
        variant = variant or {}
        detector = bundle.model.detector.kind
        result = evaluate_bundle(bundle, test, n_examples=0, n_bootstrap=self.config.bootstrap, seed=self.config.seed)
        eval_id = slug(category, detector, phase, shift, *[f"{k}={v}" for k, v in variant.items()])
        ref = self._references.get((category, detector, reference))
        record: dict[str, Any] = {
            "id": eval_id,
            "category": category,
            "detector": detector,
            "phase": phase,
            "shift": shift,
            "train": train,
            "variant": variant,
            "metrics": {m: result.metrics.get(m) for m in HEADLINE},
            "intervals": {k: list(v) for k, v in result.intervals.items()},
            "ri": {m: robustness_index(result.metrics.get(m), (ref or {}).get(m)) for m in HEADLINE},
            "threshold": result.threshold,
            "n_test": len(test),
            "n_anomalous": int(result.labels.sum()),
            "timings": result.timings,
            "arrays": f"arrays/{eval_id}.npz",
            "gallery": self._gallery(bundle, test, result, eval_id) if gallery and self.config.gallery else None,
        }
        self._write_arrays(record["arrays"], bundle, test, result)
        evaluation = Evaluation(record, result.labels, result.scores, result.ids)
        self.evaluations.append(evaluation)
        return evaluation

    def _write_arrays(self, relative: str, bundle: Bundle, test: Sequence[Sample], result: EvaluationResult) -> None:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            labels=result.labels.astype(np.int64),
            scores=result.scores.astype(np.float64),
            normalized=bundle.normalized(result.scores).astype(np.float64),
            threshold=np.float64(result.threshold),
            ids=np.array(result.ids, dtype=str),
            defect_type=np.array([s.defect_type for s in test], dtype=str),
            defect_area=np.array([defect_area(s.mask) if s.label == 1 else np.nan for s in test], dtype=np.float64),
            defect_region=np.array([defect_region(s.mask) if s.label == 1 else "" for s in test], dtype=str),
        )
        atomic_write_bytes(self.output / relative, buffer.getvalue())

    def _gallery(self, bundle: Bundle, test: Sequence[Sample], result: EvaluationResult, eval_id: str) -> dict[str, str] | None:
        fp, fn = error_indices(result.labels, result.scores, result.threshold, self.config.gallery)
        out: dict[str, str] = {}
        size = bundle.model.features.image_size
        for name, indices, title in (
            ("false_positives", fp, "false positives (normal, flagged)"),
            ("false_negatives", fn, "false negatives (defective, passed)"),
        ):
            if len(indices) == 0:
                continue
            chosen = [test[i] for i in indices]
            maps = bundle.model.predict([s.image for s in chosen]).maps
            examples = [
                Example(s.id, resized_image(s.image, size), m, float(result.scores[i]), int(s.label))
                for s, m, i in zip(chosen, maps, indices)
            ]
            relative = f"galleries/{eval_id}_{'fp' if name == 'false_positives' else 'fn'}.png"
            atomic_write_bytes(self.output / relative, example_grid_png(f"{eval_id}: {title}", [(title, examples)]))
            out[name] = relative
        return out or None


def _fit_key(train: Sequence[Sample], val: Sequence[Sample], options: FitOptions) -> str:
    """Cache key of a fit: everything that changes the fitted model or its thresholds."""
    description = {
        "detector": options.detector,
        "params": make_detector(options.detector, options.detector_params).get_params(),
        "features": options.features.to_dict(),
        "threshold": options.threshold,
        "holdout": options.holdout,
        "seed": options.seed,
        "train": [(image_digest(s.image), s.label) for s in train],
        "val": [(image_digest(s.image), s.label) for s in val],
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]
    return f"{options.detector}-{digest}"
