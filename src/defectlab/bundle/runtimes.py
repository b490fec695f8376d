"""Exported graphs of a detector bundle run by ONNX Runtime or OpenVINO.

An export lives in the bundle's ``export/<format>-<precision>/`` folder (written by
``defectlab export``): ``export.json`` (format, precision, runtime versions, the fingerprint of the
bundle it was made from) and two graphs, ``scores`` (resized images -> image and patch scores) and
``map`` (patch scores -> smoothed pixel maps). :func:`load_runtime` checks that the export belongs
to the bundle as it is now and opens it as a :class:`~defectlab.detectors.model.GraphRuntime`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from defectlab.bundle.manifest import MANIFEST
from defectlab.errors import ModelError

EXPORT_DIR = "export"
EXPORT_MANIFEST = "export.json"
TORCH = "torch"
FORMATS = ("onnx", "openvino")
RUNTIMES = (TORCH, *FORMATS)
PRECISIONS = {"onnx": ("f32",), "openvino": ("f32", "bf16", "f16", "int8")}
"""The precisions each format exports at."""
PREFERENCE = (("openvino", "int8"), ("openvino", "bf16"), ("openvino", "f16"), ("openvino", "f32"), ("onnx", "f32"))
"""Exports tried in this order when no runtime is asked for: fastest first (see docs/export.md)."""
PACKAGES = {"onnx": "onnxruntime==1.31.1", "openvino": "openvino==2026.4.1"}
"""The runtime package of each format, as pip installs it."""
FINGERPRINTED = ("kind", "backbone", "image_size", "normalization", "detector", "anomaly_map", "alignment")
"""The manifest sections that shape a detector's scores (thresholds do not)."""


def bundle_fingerprint(path: str | os.PathLike[str]) -> str:
    """A hash of what makes the bundle's scores: its tensors and the scoring sections of its manifest."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    digest = hashlib.sha256(json.dumps({k: manifest.get(k) for k in FINGERPRINTED}, sort_keys=True).encode())
    for tensors in sorted(path.glob("*.safetensors")):
        with tensors.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


def export_name(format: str, precision: str) -> str:
    """The folder name of an export inside ``export/``."""
    return f"{format}-{precision}"


def available_exports(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(format, precision) of every export in the bundle at ``path``, in PREFERENCE order."""
    root = Path(path) / EXPORT_DIR
    return [(f, p) for f, p in PREFERENCE if (root / export_name(f, p) / EXPORT_MANIFEST).is_file()]


def choose_export(path: str | os.PathLike[str], runtime: str | None) -> tuple[str, str] | None:
    """The export to score with: for ``runtime`` None the fastest present (None: torch), for a format
    the fastest of its precisions present (ModelError when there is none), None for ``torch``."""
    if runtime == TORCH:
        return None
    if runtime is not None and runtime not in FORMATS:
        raise ModelError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    present = [(f, p) for f, p in available_exports(path) if runtime in (None, f)]
    if runtime is not None and not present:
        raise ModelError(f"{path} has no {runtime} export: run `defectlab export {path} --format {runtime}` first")
    return present[0] if present else None


def load_runtime(path: str | os.PathLike[str], format: str, precision: str, num_threads: int | None = None) -> ExportedGraphs:
    """The export ``format``-``precision`` of the bundle at ``path``, checked against the bundle's fingerprint."""
    folder = Path(path) / EXPORT_DIR / export_name(format, precision)
    graphs = open_export(folder, format, precision, num_threads)
    if graphs.info.get("bundle_fingerprint") != bundle_fingerprint(path):
        raise ModelError(
            f"the {graphs.name} export of {path} was made from another version of the bundle "
            f"(refit or changed since): export again with `defectlab export {path} --format {format} --precision {precision}`"
        )
    return graphs


def open_export(folder: Path, format: str, precision: str, num_threads: int | None = None) -> ExportedGraphs:
    """The graphs in export folder ``folder`` in their runtime (no check of which bundle they belong to)."""
    try:
        info = json.loads((folder / EXPORT_MANIFEST).read_text())
        files = info["files"]
        score_file, map_file = folder / files["scores"], folder / files["map"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read the export manifest {folder / EXPORT_MANIFEST}: {exc}") from exc
    graph = _GRAPHS[format]
    return ExportedGraphs(
        export_name(format, precision),
        graph(score_file, precision, num_threads),
        graph(map_file, precision, num_threads),
        info,
    )


@dataclass
class ExportedGraphs:
    """The two graphs of one export; see :class:`defectlab.detectors.model.GraphRuntime`."""

    name: str
    score_graph: _Graph
    map_graph: _Graph
    info: dict[str, Any]

    def scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, patch_scores = self.score_graph(np.ascontiguousarray(images, dtype=np.float32))
        return scores, patch_scores

    def maps(self, patch_scores: np.ndarray) -> np.ndarray:
        return self.map_graph(np.ascontiguousarray(patch_scores, dtype=np.float32))[0]


class _Graph(Protocol):
    """One graph file opened in its runtime: called with the input array, returns the output arrays."""

    def __call__(self, inputs: np.ndarray) -> list[np.ndarray]: ...


def _import(format: str) -> Any:
    module = {"onnx": "onnxruntime", "openvino": "openvino"}[format]
    try:
        return __import__(module)
    except ImportError as exc:
        raise ModelError(f"the {format} runtime is not installed: pip install {PACKAGES[format]}") from exc


class _OnnxGraph:
    """An ONNX file in an ONNX Runtime session (``run`` is thread-safe)."""

    def __init__(self, file: Path, precision: str, num_threads: int | None) -> None:
        ort = _import("onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or 0
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types for unreadable graphs
            raise ModelError(f"cannot load the exported graph {file}: {str(exc).splitlines()[0]}") from exc
        self.input = self.session.get_inputs()[0].name

    def __call__(self, inputs: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input: inputs})


class _OpenVinoGraph:
    """An OpenVINO IR compiled for the CPU; each thread gets its own infer request."""

    HINTS = {"f32": "f32", "bf16": "bf16", "f16": "f32", "int8": "f32"}
    """Inference precision per export precision (f16 stores weights in float16; int8 is in the graph)."""

    def __init__(self, file: Path, precision: str, num_threads: int | None) -> None:
        ov = _import("openvino")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = num_threads
        try:
            self.compiled = ov.Core().compile_model(str(file), "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError with multi-line reports
            raise ModelError(f"cannot load the exported graph {file}: {str(exc).splitlines()[0]}") from exc
        self._local = threading.local()

    def __call__(self, inputs: np.ndarray) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: inputs})
        return [np.array(request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]


_GRAPHS: dict[str, Any] = {"onnx": _OnnxGraph, "openvino": _OpenVinoGraph}
