"""Anomaly-detector bundles: manifest.json, detector tensors (safetensors), thresholds.json and
calibration.json (the calibration images' scores and labels; the manifest's ``calibration_scores``
names it, and bundles written before it existed have none).

The detector's payload of the shared manifest (:mod:`defectlab.bundle.manifest`): backbone,
normalization, detector kind and parameters, anomaly-map smoothing, thresholds and score
statistics. Loading needs no training data and no pickle; writing is atomic (temp dir + rename),
and so is :func:`save_threshold`, which sets a new decision threshold in a saved bundle.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from defectlab.backbones.cache import image_digest
from defectlab.backbones.extractor import FeatureConfig
from defectlab.backbones.registry import get_spec
from defectlab.bundle.manifest import DETECTOR_KIND, KIND_NAMES, MANIFEST, new_manifest, read_manifest
from defectlab.calibration.scores import CalibrationScores
from defectlab.calibration.thresholds import MANUAL, Threshold
from defectlab.calibration.thresholds_io import write_thresholds_json
from defectlab.components.align import Aligner
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ConfigError, ModelError
from defectlab.fileio import atomic_write_directory

TENSORS = "detector.safetensors"
THRESHOLDS = "thresholds.json"
ALIGNMENT_TEMPLATE = "alignment.template"  # the aligner's template, beside the detector's tensors
CALIBRATION = "calibration.json"


@dataclass
class Bundle:
    """A fitted model with its thresholds and provenance."""

    model: AnomalyModel
    thresholds: dict[str, Threshold]
    default_threshold: str
    training: dict[str, Any] = field(default_factory=dict)
    score_stats: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    calibration: CalibrationScores | None = None

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
        calibration_scores=CALIBRATION if bundle.calibration is not None else None,
    )

    def write(folder: Path) -> None:
        tensors = {k: v.contiguous() for k, v in model.detector.state_tensors().items()}
        if model.aligner is not None:
            tensors[ALIGNMENT_TEMPLATE] = torch.from_numpy(np.ascontiguousarray(model.aligner.template_))
        save_file(tensors, str(folder / TENSORS))
        if bundle.calibration is not None:
            (folder / CALIBRATION).write_text(json.dumps(bundle.calibration.to_dict(), allow_nan=False))
        _write_decision(folder, bundle, manifest)

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


def _write_decision(folder: Path, bundle: Bundle, manifest: dict[str, Any]) -> None:
    """thresholds.json (the default threshold, by category) and the manifest."""
    write_thresholds_json(folder / THRESHOLDS, {bundle.training.get("category") or "default": bundle.threshold})
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))


def save_threshold(path: str | Path, bundle: Bundle, value: float, by: str) -> Bundle:
    """Make ``value`` the decision threshold (method "manual") of the saved ``bundle`` at ``path``.

    The folder is replaced atomically (its other files and folders, exports included, copied unchanged), so a failed write leaves
    the old bundle; the manifest's ``threshold_history`` records the value, the previous threshold,
    ``by`` (who set it) and when. Returns the updated bundle (sharing the model); ConfigError
    unless ``value`` is a positive finite number.
    """
    path = Path(path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"a threshold must be a positive finite number, got {value!r}")
    manifest = read_manifest(path)
    if manifest.get("kind", DETECTOR_KIND) != DETECTOR_KIND:
        raise ModelError(f"{path} is not an anomaly-detector bundle: only those have one threshold to set")
    threshold = Threshold(float(value), MANUAL)
    thresholds = {**bundle.thresholds, MANUAL: threshold}
    change = {
        "value": threshold.value,
        "previous": bundle.threshold.to_dict(),
        "by": by,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    manifest = {
        **manifest,
        "thresholds": {name: t.to_dict() for name, t in thresholds.items()},
        "default_threshold": MANUAL,
        "threshold_history": [*manifest.get("threshold_history", []), change],
    }
    updated = replace(bundle, thresholds=thresholds, default_threshold=MANUAL, manifest=manifest)

    def write(folder: Path) -> None:
        for entry in path.iterdir():
            if entry.is_dir():  # exports (export/) stay: a threshold does not change the scores
                shutil.copytree(entry, folder / entry.name)
            elif entry.name not in (MANIFEST, THRESHOLDS):
                shutil.copy2(entry, folder / entry.name)
        _write_decision(folder, updated, manifest)

    atomic_write_directory(path, write)
    return updated


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
    calibration = _read_calibration(path, manifest.get("calibration_scores"))
    model = AnomalyModel(detector=detector, features=features, sigma=sigma, num_threads=num_threads, aligner=aligner)
    return Bundle(
        model=model,
        thresholds=thresholds,
        default_threshold=default,
        training=manifest.get("training", {}),
        score_stats=manifest.get("score_stats", {}),
        manifest=manifest,
        calibration=calibration,
    )


def _read_calibration(path: Path, name: str | None) -> CalibrationScores | None:
    """The stored calibration scores the manifest names (None when it names none)."""
    if name is None:
        return None
    file = path / Path(str(name)).name  # a file inside the bundle, whatever the manifest says
    try:
        return CalibrationScores.from_dict(json.loads(file.read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ConfigError) as exc:
        raise ModelError(f"cannot read the calibration scores {file}: {exc}") from exc
