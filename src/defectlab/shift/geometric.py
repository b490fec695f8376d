"""Geometric corruptions: the mask moves with the image (nearest-neighbour for masks).

Borders are filled by reflection (``BORDER_REFLECT_101``) for image and mask alike, so no
black corners appear and every defect pixel in the output image is also marked in the mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from defectlab.shift._albu import A, run
from defectlab.shift.registry import Params, geometric

_BORDER = cv2.BORDER_REFLECT_101

ROTATION = {
    1: {"degrees": (-2.0, 2.0)},
    2: {"degrees": (-5.0, 5.0)},
    3: {"degrees": (-10.0, 10.0)},
    4: {"degrees": (-20.0, 20.0)},
    5: {"degrees": (-30.0, 30.0)},
}
RESIZED_CROP = {
    1: {"scale": (0.97, 1.0), "ratio": (0.97, 1.03)},
    2: {"scale": (0.94, 1.0), "ratio": (0.94, 1.06)},
    3: {"scale": (0.9, 1.0), "ratio": (0.9, 1.1)},
    4: {"scale": (0.8, 1.0), "ratio": (0.85, 1.15)},
    5: {"scale": (0.65, 1.0), "ratio": (0.8, 1.2)},
}
TRANSLATION = {
    1: {"fraction": (-0.02, 0.02)},
    2: {"fraction": (-0.04, 0.04)},
    3: {"fraction": (-0.06, 0.06)},
    4: {"fraction": (-0.1, 0.1)},
    5: {"fraction": (-0.15, 0.15)},
}
HFLIP = {s: {"axis": "horizontal (every severity flips)"} for s in range(1, 6)}
VFLIP = {s: {"axis": "vertical (every severity flips)"} for s in range(1, 6)}

Result = tuple[np.ndarray, np.ndarray | None]


@geometric("rotation", ROTATION)
def rotation(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
    """Rotate about the centre by an angle drawn uniformly from ``degrees``; size is kept."""
    transform = A.Rotate(
        limit=params["degrees"],
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        border_mode=_BORDER,
        p=1.0,
    )
    return run(transform, image, mask, seed)


@geometric("resized_crop", RESIZED_CROP)
def resized_crop(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
    """Crop ``scale`` of the area at aspect ``ratio`` and resize back to the original size."""
    transform = A.RandomResizedCrop(
        size=image.shape[:2],
        scale=params["scale"],
        ratio=params["ratio"],
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST_EXACT,  # pixel-centre aligned, unlike INTER_NEAREST
        p=1.0,
    )
    return run(transform, image, mask, seed)


@geometric("translation", TRANSLATION)
def translation(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
    """Shift by ``fraction`` of the width and (independently) of the height."""
    transform = A.Affine(
        translate_percent={"x": params["fraction"], "y": params["fraction"]},
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        border_mode=_BORDER,
        p=1.0,
    )
    return run(transform, image, mask, seed)


@geometric("hflip", HFLIP)
def hflip(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
    """Mirror left-right."""
    return run(A.HorizontalFlip(p=1.0), image, mask, seed)


@geometric("vflip", VFLIP)
def vflip(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
    """Mirror top-bottom."""
    return run(A.VerticalFlip(p=1.0), image, mask, seed)
