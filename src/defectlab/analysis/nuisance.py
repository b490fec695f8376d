"""Image nuisance measurements: brightness, contrast, sharpness and noise level per image.

Each uint8 image (H x W gray or H x W x 3 RGB) is turned into a gray image in [0, 1]
(RGB through `skimage.color.rgb2gray`'s luminance weights) and measured:

- brightness: mean gray level;
- contrast: RMS contrast, the standard deviation of the gray levels;
- sharpness: variance of the Laplacian (`scipy.ndimage.laplace`, 4-neighbour kernel);
- noise: the Gaussian noise sigma from `skimage.restoration.estimate_sigma` (Donoho-Johnstone
  wavelet estimate, median(|d|) / 0.6745 over the finest diagonal db2 coefficients).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.restoration import estimate_sigma

from defectlab.errors import DataError

NUISANCE_COLUMNS = ("brightness", "contrast", "sharpness", "noise")


def _gray(image: np.ndarray, index: int) -> np.ndarray:
    """uint8 H x W or H x W x 3 image -> float64 gray image in [0, 1]."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise DataError(f"image {index} must be uint8, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise DataError(f"image {index} must have shape (H, W) or (H, W, 3), got {array.shape}")
    if array.shape[0] < 4 or array.shape[1] < 4:
        raise DataError(f"image {index} must be at least 4 x 4 pixels, got {array.shape}")
    return rgb2gray(array) if array.ndim == 3 else array / 255.0


def noise_sigma(gray: np.ndarray) -> float:
    """Gaussian noise sigma of a float gray image (``skimage.restoration.estimate_sigma``)."""
    return float(estimate_sigma(gray))


def measure_nuisances(images: Sequence[np.ndarray]) -> pd.DataFrame:
    """One row per image with columns brightness, contrast, sharpness, noise (gray in [0, 1])."""
    if len(images) == 0:
        raise DataError("no images to measure")
    rows = []
    for index, image in enumerate(images):
        gray = _gray(image, index)
        rows.append((gray.mean(), gray.std(), ndimage.laplace(gray).var(), noise_sigma(gray)))
    return pd.DataFrame(rows, columns=list(NUISANCE_COLUMNS), dtype=np.float64)
