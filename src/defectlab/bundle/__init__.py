"""Model bundles: one manifest format, a payload per kind, and one :class:`Predictor` for any of them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from defectlab.bundle.prediction import Predictor


def load(path: str | os.PathLike[str], num_threads: int | None = None, runtime: str | None = None) -> Predictor:
    """The predictor of the bundle at ``path``, whatever its kind (``num_threads``: CPU threads of a detector;
    ``runtime``: torch, onnx or openvino, None for the fastest export present, else torch)."""
    from defectlab.bundle.loading import load_predictor  # the models' imports are heavy: only when loading

    return load_predictor(path, num_threads, runtime)
