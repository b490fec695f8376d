"""Write a detector bundle's export: ``BUNDLE/export/<format>-<precision>/`` with its graphs and
``export.json``, checked against the torch model before it is kept."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from defectlab.backbones.extractor import resize_batch
from defectlab.bundle.io import Bundle, load_bundle, training_fingerprint
from defectlab.bundle.manifest import DETECTOR_KIND, KIND_NAMES, bundle_kind
from defectlab.bundle.runtimes import (
    EXPORT_DIR,
    EXPORT_MANIFEST,
    PACKAGES,
    PRECISIONS,
    ExportedGraphs,
    bundle_fingerprint,
    export_name,
    open_export,
)
from defectlab.errors import ConfigError, ModelError
from defectlab.export.graphs import write_onnx, write_openvino
from defectlab.fileio import atomic_write_directory

SCORES, MAP = "scores", "map"
CHECK_IMAGES = 4
F32_TOLERANCE = 1e-3
"""Largest relative difference of an f32 export's scores or maps from torch's before the export is refused."""
CALIBRATION_BATCH = 8
VERSIONED = ("torch", "onnx", "onnxscript", "onnxruntime", "openvino", "nncf")


def export_bundle(
    path: str | os.PathLike[str],
    format: str,
    precision: str = "f32",
    calibration: Sequence[np.ndarray] | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """Export the detector bundle at ``path`` as ``format`` (onnx, openvino) at ``precision`` and return
    its export manifest. int8 needs ``calibration`` (normal images); ModelError when a detector has no
    graph form or an f32 export disagrees with torch."""
    path = Path(path)
    kind = bundle_kind(path)
    if kind != DETECTOR_KIND:
        raise ModelError(f"{path} is {KIND_NAMES[kind]} bundle: only anomaly-detector bundles export so far")
    if format not in PRECISIONS:
        raise ConfigError(f"unknown export format {format!r}; choose one of {', '.join(PRECISIONS)}")
    if precision not in PRECISIONS[format]:
        raise ConfigError(f"{format} exports at {', '.join(PRECISIONS[format])}, not {precision!r}")
    if precision == "int8" and not calibration:
        raise ConfigError("an int8 export needs --calibration: a folder of normal images to quantize on")
    bundle = load_bundle(path)
    scoring, anomaly_map = bundle.model.graphs()
    size = bundle.model.features.image_size
    example = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 255
    with torch.inference_mode():
        patch_example = scoring(example)[1]
    name = export_name(format, precision)
    files = _files(format)

    def write(folder: Path) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            onnx_dir = folder if format == "onnx" else Path(scratch)
            reused = _current_onnx_export(path) if format == "openvino" else None
            if reused is not None:  # the ONNX graphs of this very bundle: convert them, do not trace again
                score_onnx, map_onnx = reused / f"{SCORES}.onnx", reused / f"{MAP}.onnx"
            else:
                score_onnx = write_onnx(scoring, example, onnx_dir / f"{SCORES}.onnx", "images", ("scores", "patch_scores"))
                map_onnx = write_onnx(anomaly_map, patch_example, onnx_dir / f"{MAP}.onnx", "patch_scores", ("maps",))
            if format == "openvino":
                batches = _calibration_batches(calibration, size) if precision == "int8" else None
                write_openvino(score_onnx, folder / files[SCORES], precision == "f16", batches)
                write_openvino(map_onnx, folder / files[MAP], precision == "f16")
        info = _manifest(path, bundle, format, precision, files, size, calibration)
        (folder / EXPORT_MANIFEST).write_text(json.dumps(info, indent=2))
        info["parity_with_torch"] = _check_parity(open_export(folder, format, precision), bundle, format, precision, seed)
        (folder / EXPORT_MANIFEST).write_text(json.dumps(info, indent=2))
        written.update(info)

    written: dict[str, Any] = {}
    atomic_write_directory(path / EXPORT_DIR / name, write)
    return written


def _current_onnx_export(path: Path) -> Path | None:
    """The bundle's ONNX f32 export folder when it was made from the bundle as it is now."""
    folder = path / EXPORT_DIR / export_name("onnx", "f32")
    try:
        info = json.loads((folder / EXPORT_MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return folder if info.get("bundle_fingerprint") == bundle_fingerprint(path) else None


def _files(format: str) -> dict[str, str]:
    suffix = ".onnx" if format == "onnx" else ".xml"
    return {SCORES: SCORES + suffix, MAP: MAP + suffix}


def _calibration_batches(images: Sequence[np.ndarray] | None, size: int) -> list[np.ndarray]:
    images = list(images or [])
    return [
        resize_batch(images[i : i + CALIBRATION_BATCH], size).contiguous().numpy()
        for i in range(0, len(images), CALIBRATION_BATCH)
    ]


def _manifest(
    path: Path,
    bundle: Bundle,
    format: str,
    precision: str,
    files: dict[str, str],
    size: int,
    calibration: Sequence[np.ndarray] | None,
) -> dict[str, Any]:
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "format": format,
        "precision": precision,
        "runtime": PACKAGES[format],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle_fingerprint": bundle_fingerprint(path),
        "detector": bundle.model.detector.kind,
        "files": files,
        "inputs": {
            SCORES: {"name": "images", "shape": ["batch", 3, size, size], "dtype": "float32", "values": "RGB 0-255, resized"},
            MAP: {"name": "patch_scores", "shape": ["batch", "h", "w"], "dtype": "float32"},
        },
        "outputs": {SCORES: ["scores (batch,)", "patch_scores (batch, h, w)"], MAP: [f"maps (batch, {size}, {size})"]},
        "alignment": "outside the graph: align each image to bundle's template first" if bundle.model.aligner else None,
        "calibration": (
            {"images": len(calibration), "fingerprint": training_fingerprint(list(calibration))} if calibration else None
        ),
        "versions": versions,
    }


def _check_parity(graphs: ExportedGraphs, bundle: Bundle, format: str, precision: str, seed: int) -> dict[str, Any]:
    """Score seeded noise images with torch and with `graphs`: the largest relative differences of
    scores and maps (an f32 export beyond F32_TOLERANCE is refused, and nothing is written)."""
    size = bundle.model.features.image_size
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(CHECK_IMAGES)]
    reference = bundle.model.predict(images)
    bundle.model.runtime = graphs
    try:
        exported = bundle.model.predict(images)
    finally:
        bundle.model.runtime = None
    parity = {
        "images": CHECK_IMAGES,
        "scores_max_relative_difference": _relative(exported.scores, reference.scores),
        "maps_max_relative_difference": _relative(exported.maps, reference.maps),
    }
    worst = max(parity["scores_max_relative_difference"], parity["maps_max_relative_difference"])
    if precision == "f32" and worst > F32_TOLERANCE:
        raise ModelError(f"the {format} export disagrees with torch (largest relative difference {worst:.2g}): not written")
    return parity


def _relative(values: np.ndarray, reference: np.ndarray) -> float:
    scale = max(float(np.abs(reference).max()), 1e-12)
    return float(np.abs(np.asarray(values, np.float64) - reference).max() / scale)
