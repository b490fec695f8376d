"""Anomaly-detector bundles: manifest.json, detector tensors (safetensors) and thresholds.json.

The detector's payload of the shared manifest (:mod:`defectlab.bundle.manifest`): backbone,
normalization, detector kind and parameters, anomaly-map smoothing, thresholds and score
statistics. Loading needs no training data and no pickle; writing is atomic (temp dir + rename).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from defectlab.backbones.cache import image_digest
from defectlab.backbones.extractor import FeatureConfig
from defectlab.backbones.registry import get_spec
from defectlab.bundle.manifest import DETECTOR_KIND, KIND_NAMES, MANIFEST, new_manifest, read_manifest
from defectlab.calibration.thresholds import Threshold
from defectlab.calibration.thresholds_io import write_thresholds_json
from defectlab.components.align import Aligner
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ModelError
from defectlab.fileio import atomic_write_directory

TENSORS = "detector.safetensors"
THRESHOLDS = "thresholds.json"
ALIGNMENT_TEMPLATE = "alignment.template"  # the aligner's template, beside the detector's tensors


@dataclass
class Bundle:
    """A fitted model with its thresholds and provenance."""

    model: AnomalyModel
    thresholds: dict[str, Threshold]
    default_threshold: str
    training: dict[str, Any] = field(default_factory=dict)
    score_stats: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> Threshold:
        """The threshold used for decisions."""
        return self.thresholds[self.default_threshold]

    def normalized(self, scores: np.ndarray) -> np.ndarray:
        """Scores rescaled so the decision threshold maps to 0.5 and the normal mean to 0 (clipped to [0, 1])."""
        mean = self.score_stats.get("normal_mean", 0.0)
        span = max(self.threshold.value - mean, 1e-12)
        return np.clip(0.5 * (np.asarray(scores) - mean) / span, 0.0, 1.0)


def training_fingerprint(images: Sequence[np.ndarray]) -> str:
    """Order-independent hash of the training images' content."""
    h = hashlib.sha256()
    for digest in sorted(image_digest(img) for img in images):
        h.update(digest.encode())
    return h.hexdigest()[:32]


def save_bundle(path: str | Path, bundle: Bundle) -> Path:
    """Write `bundle` to directory `path` atomically (replacing an existing bundle)."""
    path = Path(path)
    model = bundle.model
    spec = get_spec(model.features.backbone)
    manifest = new_manifest(
        DETECTOR_KIND,
        backbone=model.features.to_dict(),
        image_size=model.features.image_size,
        normalization={"mean": list(spec.mean), "std": list(spec.std)},
        detector={"kind": model.detector.kind, "params": model.detector.get_params()},
        anomaly_map={"sigma": model.sigma, "upsample": "bilinear"},
        thresholds={name: t.to_dict() for name, t in bundle.thresholds.items()},
        default_threshold=bundle.default_threshold,
        score_stats=bundle.score_stats,
        training=bundle.training,
        **({"alignment": model.aligner.params()} if model.aligner is not None else {}),
    )

    def write(folder: Path) -> None:
        tensors = {k: v.contiguous() for k, v in model.detector.state_tensors().items()}
        if model.aligner is not None:
            tensors[ALIGNMENT_TEMPLATE] = torch.from_numpy(np.ascontiguousarray(model.aligner.template_))
        save_file(tensors, str(folder / TENSORS))
        write_thresholds_json(folder / THRESHOLDS, {bundle.training.get("category") or "default": bundle.threshold})
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))

    atomic_write_directory(path, write)
    bundle.manifest = manifest
    return path


def _aligner(params: dict[str, Any] | None, template: torch.Tensor | None) -> Aligner | None:
    """The stored aligner (None for a bundle fitted without alignment)."""
    if params is None:
        return None
    if template is None:
        raise KeyError(ALIGNMENT_TEMPLATE)
    aligner = Aligner(**params)
    aligner.template_ = template.float().numpy()
    return aligner


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def load_bundle(path: str | Path, num_threads: int | None = None) -> Bundle:
    """Load an anomaly-detector bundle written by `save_bundle`."""
    path = Path(path)
    manifest = read_manifest(path)
    kind = manifest.get("kind", DETECTOR_KIND)
    if kind != DETECTOR_KIND:
        raise ModelError(f"{path} is {KIND_NAMES.get(kind, f'a {kind!r}')} bundle, not an anomaly-detector bundle")
    try:
        backbone = manifest["backbone"]
        features = FeatureConfig(
            backbone=backbone["backbone"],
            layers=tuple(backbone["layers"]),
            image_size=int(backbone["image_size"]),
            pool_size=int(backbone["pool_size"]),
            weights=backbone["weights"],
        )
        detector = make_detector(manifest["detector"]["kind"], manifest["detector"]["params"])
        thresholds = {k: Threshold.from_dict(v) for k, v in manifest["thresholds"].items()}
        default = manifest["default_threshold"]
        sigma = float(manifest["anomaly_map"]["sigma"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path / MANIFEST} is incomplete or malformed: {exc!r}") from exc
    if features.weights not in ("default", "random") and not Path(features.weights).is_file():
        raise ModelError(
            f"{path} was trained with the backbone weights file {features.weights}, which is not there: "
            "put the same file at that path"
        )
    try:
        tensors = load_file(str(path / TENSORS))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"cannot read {path / TENSORS}: {exc}") from exc
    try:
        aligner = _aligner(manifest.get("alignment"), tensors.pop(ALIGNMENT_TEMPLATE, None))
        detector.load_state_tensors(tensors)
    except KeyError as exc:
        raise ModelError(f"{path / TENSORS} lacks tensor {exc} needed by a {detector.kind} detector") from exc
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path / MANIFEST} has a malformed alignment section: {exc}") from exc
    model = AnomalyModel(detector=detector, features=features, sigma=sigma, num_threads=num_threads, aligner=aligner)
    return Bundle(
        model=model,
        thresholds=thresholds,
        default_threshold=default,
        training=manifest.get("training", {}),
        score_stats=manifest.get("score_stats", {}),
        manifest=manifest,
    )
