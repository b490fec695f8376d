"""Small images and model bundles for the service tests.

The detector bundle is PatchCore on a random-init EfficientNet-Lite0 at 64 px (fast, no weights
file); the classifier bundle an untrained small CNN (its answers are arbitrary but well formed);
the ELPV bundle a real 224-px PatchCore on 24 functional mono cells, for the browser test.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import Bundle, save_bundle
from defectlab.calibration.scores import CalibrationScores
from defectlab.calibration.thresholds import Threshold
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.patchcore import PatchCore

SIZE = 64


def textured(seed: int, size: int = SIZE, spot: bool = False) -> np.ndarray:
    """A smooth gray texture with mild noise; ``spot`` paints a bright square (an anomaly)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    image = 110 + 30 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    image = np.repeat(image[..., None], 3, axis=2) + rng.normal(0, 4, (size, size, 3))
    if spot:
        image[size // 3 : size // 2, size // 3 : size // 2] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


def striped(seed: int, size: int = SIZE) -> np.ndarray:
    """Another product: dark diagonal stripes with mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    image = 60 + 50 * (((xx + yy) // 6) % 2) + rng.normal(0, 4, (size, size))
    return np.clip(np.repeat(image[..., None], 3, axis=2), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray, mode: str | None = None) -> bytes:
    """``image`` encoded as PNG (optionally converted to a PIL mode first)."""
    pil = Image.fromarray(image)
    if mode is not None:
        pil = pil.convert(mode)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def fit_detector_bundle(
    path: Path,
    config: FeatureConfig,
    images: list[np.ndarray],
    held_out: list[np.ndarray],
    training: dict,
    anomalies: list[np.ndarray] = (),
) -> Path:
    """Fit PatchCore on ``images``; the threshold is mean + 3 std of the ``held_out`` normals' scores.
    The bundle keeps the scores of ``held_out`` and ``anomalies`` as its calibration scores."""
    model = AnomalyModel(PatchCore(coreset_ratio=0.5), config, sigma=2.0).fit(images)
    scored = model.predict([*held_out, *anomalies], with_maps=False).scores
    scores = scored[: len(held_out)]
    value = float(scores.mean() + 3 * scores.std())
    bundle = Bundle(
        model=model,
        thresholds={"mean_std": Threshold(value, "mean_std", {"k": 3.0})},
        default_threshold="mean_std",
        training={**training, "n_train": len(images), "fingerprint": "test"},
        score_stats={"normal_mean": float(scores.mean()), "normal_std": float(scores.std())},
        calibration=CalibrationScores.of(scored, [0] * len(held_out) + [1] * len(anomalies)),
    )
    return save_bundle(path, bundle)
