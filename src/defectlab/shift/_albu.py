"""Run one albumentations transform on an image (and mask) with a fixed seed."""

from __future__ import annotations

import os

# albumentations checks PyPI for a newer version at import; defectlab never goes online.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["A", "run"]


def run(
    transform: A.BasicTransform, image: np.ndarray, mask: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply ``transform`` (built with ``p=1``) seeded by ``seed``; returns (image, mask)."""
    compose = A.Compose([transform], seed=seed)
    data = {"image": image} if mask is None else {"image": image, "mask": mask}
    out = compose(**data)
    new_mask = None if mask is None else np.ascontiguousarray(out["mask"], dtype=np.uint8)
    return np.ascontiguousarray(out["image"], dtype=np.uint8), new_mask
