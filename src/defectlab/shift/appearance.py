"""Photometric corruptions in plain numpy/skimage: vignetting and a style shift."""

from __future__ import annotations

from functools import cache

import numpy as np
from skimage import data as skdata
from skimage.exposure import match_histograms

from defectlab.shift.registry import Params, photometric

VIGNETTING = {
    1: {"strength": (0.1, 0.2), "centre_jitter": 0.1},
    2: {"strength": (0.2, 0.3), "centre_jitter": 0.1},
    3: {"strength": (0.3, 0.45), "centre_jitter": 0.1},
    4: {"strength": (0.45, 0.6), "centre_jitter": 0.1},
    5: {"strength": (0.6, 0.8), "centre_jitter": 0.1},
}
STYLE = {s: {"blend": s / 5, "reference": "skimage.data.coffee()"} for s in range(1, 6)}


@photometric("vignetting", VIGNETTING)
def vignetting(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Darken towards the corners: gain ``1 - strength * r**2``, r = distance / half-diagonal.

    The centre moves by up to ``centre_jitter`` of the height and width.
    """
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=3)
    low, high = params["strength"]
    strength = low + u[0] * (high - low)
    h, w = image.shape[:2]
    cy = h / 2 + params["centre_jitter"] * h * (2 * u[1] - 1)
    cx = w / 2 + params["centre_jitter"] * w * (2 * u[2] - 1)
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    gain = np.clip(1.0 - strength * r2, 0.0, 1.0)[..., None]
    return np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)


@cache
def _reference() -> np.ndarray:
    image = skdata.coffee()
    image.setflags(write=False)
    return image


def match_style(image: np.ndarray, reference: np.ndarray, blend: float) -> np.ndarray:
    """Blend ``image`` with its per-channel histogram match to ``reference`` (0 = unchanged)."""
    matched = match_histograms(image, reference, channel_axis=-1)
    out = (1.0 - blend) * image + blend * matched
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@photometric("style", STYLE)
def style(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Style shift: histogram matching towards a bundled photograph, blended by severity."""
    return match_style(image, _reference(), params["blend"])
