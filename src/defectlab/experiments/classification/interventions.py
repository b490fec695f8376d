"""Causal Effect Strength per factor: change the factor in the images, compare with the data.

For each factor X and a model's P(defective | image):

- interventional difference: the same test images with X applied (do(X = 1)) vs as they are
  (do(X = 0));
- observational difference: among the clean test images, those that naturally have X (a
  nuisance measurement beyond its median, or for ``defect`` the true label) vs those that do not;
- CES = interventional - observational (:func:`defectlab.metrics.causal_effect_strength`).

Factors: ``darker`` (intensities x 0.7; X = brightness below the median), ``low_contrast``
(deviations from the image mean x 0.6; X = contrast below the median), ``blur`` (the shift
suite's Gaussian blur at severity 3; X = sharpness below the median), ``noise`` (Gaussian noise
at severity 3; X = noise level above the median) and ``defect`` (a synthetic crack pasted onto
functional cells; X = the cell's true label). A robust classifier has an interventional
difference near 0 for the nuisances and a large one for the defect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from defectlab.data.synth_defects import add_defect
from defectlab.data.synth_normals import Scene
from defectlab.experiments.classification.predictors import Predict
from defectlab.metrics.classification import causal_effect_strength
from defectlab.shift.corrupt import apply_corruption


@dataclass(frozen=True)
class Factor:
    """A factor: how to set it in an image, and which measurement shows it in the data."""

    name: str
    column: str
    above_median: bool
    apply: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray | None]]
    description: str


def _scale(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.round(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def _contrast(image: np.ndarray, factor: float) -> np.ndarray:
    x = image.astype(np.float32)
    return np.clip(np.round(x.mean() + factor * (x - x.mean())), 0, 255).astype(np.uint8)


def paste_crack(image: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(image with a synthetic dark crack, its {0, 1} mask): the ``defect`` intervention."""
    scene = Scene(image=image.astype(np.float64) / 255.0, support=np.ones(image.shape[:2], bool), backdrop=np.zeros(image.shape))
    return add_defect(scene, "crack", np.random.default_rng(seed))


FACTORS: dict[str, Factor] = {
    f.name: f
    for f in (
        Factor("darker", "brightness", False, lambda im, s: (_scale(im, 0.7), None), "intensities x 0.7"),
        Factor("low_contrast", "contrast", False, lambda im, s: (_contrast(im, 0.6), None), "contrast x 0.6"),
        Factor(
            "blur",
            "sharpness",
            False,
            lambda im, s: (apply_corruption(im, None, "gaussian_blur", 3, s)[0], None),
            "Gaussian blur, severity 3",
        ),
        Factor(
            "noise",
            "noise",
            True,
            lambda im, s: (apply_corruption(im, None, "gaussian_noise", 3, s)[0], None),
            "Gaussian noise, severity 3",
        ),
        Factor("defect", "label", True, paste_crack, "synthetic crack pasted on functional cells"),
    )
}
"""The factors CES is computed for, by name."""


def intervene(factor: Factor, images: Sequence[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """do(X = 1) on every image (seed + index per image): the changed images and masks (or None)."""
    changed = [factor.apply(image, seed + i) for i, image in enumerate(images)]
    return [c[0] for c in changed], [c[1] for c in changed]


def factor_units(factor: Factor, labels: np.ndarray) -> np.ndarray:
    """Indices of the images the factor is applied to: the functional ones for ``defect``, else all."""
    return np.flatnonzero(labels == 0) if factor.name == "defect" else np.arange(len(labels))


def factor_ces(
    factor: Factor,
    predict: Predict,
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    measurements: pd.DataFrame,
    p_clean: np.ndarray,
    seed: int = 42,
    n_boot: int = 1000,
    changed: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """CES of one factor for one (binary) model; ``p_clean`` is its P(defective) on ``images``.

    ``changed``: the intervened images of :func:`factor_units`, when already made (e.g. shared by
    several models); made here otherwise.
    """
    units = factor_units(factor, labels)
    if changed is None:
        changed, _ = intervene(factor, [images[i] for i in units], seed)
    p_do = predict(changed)[:, 1]
    if factor.column == "label":
        x_obs = labels.astype(int)
    else:
        values = measurements[factor.column].to_numpy()
        median = np.median(values)
        x_obs = (values > median) if factor.above_median else (values < median)
    result = causal_effect_strength(p_do, p_clean[units], p_clean, x_obs.astype(int), n_boot=n_boot, seed=seed)
    return {"factor": factor.name, "description": factor.description, "units": int(len(units)), **result}
