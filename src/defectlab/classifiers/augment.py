"""Image pipelines for classifier training (heavy, seeded augmentation) and evaluation (resize only).

Both take and return ``uint8`` HxWx3 arrays; the output is ``image_size`` x ``image_size``.
The training pipeline resizes first, then applies, each with its own probability: rotation by
up to 180 degrees (reflected borders), one of elastic or optical distortion, CLAHE, Gaussian
noise, and one of motion, Gaussian or median blur. A training pipeline built with the same seed
and fed the same images in the same order gives the same outputs.
"""

from __future__ import annotations

import cv2
import numpy as np

from defectlab.errors import DataError
from defectlab.shift._albu import A


class ImagePipeline:
    """A callable albumentations pipeline on one uint8 HxWx3 image."""

    def __init__(self, compose: A.Compose) -> None:
        self.compose = compose

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise DataError(f"image must be uint8 HxWx3, got {image.dtype} {image.shape}")
        out = self.compose(image=np.ascontiguousarray(image))["image"]
        return np.ascontiguousarray(out, dtype=np.uint8)


def train_pipeline(image_size: int, seed: int = 42) -> ImagePipeline:
    """The augmenting training pipeline, seeded."""
    border = cv2.BORDER_REFLECT_101
    return ImagePipeline(
        A.Compose(
            [
                A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA),
                A.Rotate(limit=180, border_mode=border, p=0.7),
                A.OneOf(
                    [
                        A.ElasticTransform(alpha=30, sigma=6, border_mode=border),
                        A.OpticalDistortion(distort_limit=0.3, border_mode=border),
                    ],
                    p=0.3,
                ),
                A.CLAHE(clip_limit=2.0, p=0.3),
                A.GaussNoise(std_range=(0.02, 0.08), p=0.3),
                A.OneOf(
                    [A.MotionBlur(blur_limit=5), A.GaussianBlur(blur_limit=(3, 5)), A.MedianBlur(blur_limit=5)],
                    p=0.3,
                ),
            ],
            seed=seed,
        )
    )


def eval_pipeline(image_size: int) -> ImagePipeline:
    """Resize only (area interpolation, as the training pipeline's first step)."""
    return ImagePipeline(A.Compose([A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA)]))
