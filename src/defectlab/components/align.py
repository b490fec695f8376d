"""Align, then inspect: each image's rigid (or affine) transform to a template of the training normals.

Images are compared by their edges: the gradient magnitude of the blurred gray image at a working
resolution, so that the outline and the fixed structures of a part (edges, bus bars, holes) guide
the fit rather than its surface texture. The template is the mean edge image of the training
normals, sharpened by aligning each of them to it and averaging again. An image's transform is the
one maximizing OpenCV's enhanced correlation coefficient (`findTransformECC`); the image is warped
into the template's frame before feature extraction, and anomaly maps are warped back to the image's
own frame. An image that cannot be aligned keeps the identity and is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from defectlab.errors import ConfigError, DataError, NotFittedError

MOTIONS = {"translation": cv2.MOTION_TRANSLATION, "euclidean": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}


@dataclass(frozen=True)
class Alignment:
    """One image's transform: `matrix` (2x3) maps template coordinates to the image's, both at the
    working resolution; `aligned` is False when ECC did not converge or matched poorly."""

    matrix: np.ndarray
    correlation: float
    aligned: bool

    @property
    def angle(self) -> float:
        """Rotation in degrees (counter-clockwise in image coordinates, y down)."""
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    def matrix_at(self, height: int, width: int, working: int) -> np.ndarray:
        """The matrix for images of `height` x `width` pixels (template and image both at that size)."""
        scale = np.diag([width / working, height / working, 1.0])
        full = np.vstack([self.matrix, [0.0, 0.0, 1.0]])
        return (scale @ full @ np.linalg.inv(scale))[:2]


def edges(image: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Gradient magnitude (float32, size x size) of the gray image blurred with `sigma` pixels at that size."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"alignment needs uint8 HxWx3 images, got {image.dtype} {image.shape}")
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    smooth = cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))


@dataclass
class Aligner:
    """Estimates and applies each image's transform to the template of the training normals."""

    motion: str = "euclidean"
    working_size: int = 128
    sigma: float = 3.0  # edge scale, in working-resolution pixels
    iterations: int = 200
    min_correlation: float = 0.5
    refinements: int = 2
    template_: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def params(self) -> dict[str, float | int | str]:
        """Constructor parameters (JSON-serializable), for a bundle's manifest."""
        return {
            "motion": self.motion,
            "working_size": self.working_size,
            "sigma": self.sigma,
            "iterations": self.iterations,
            "min_correlation": self.min_correlation,
            "refinements": self.refinements,
        }

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise ConfigError(f"unknown alignment motion {self.motion!r}; choose one of {', '.join(MOTIONS)}")
        if self.working_size < 16:
            raise ConfigError(f"alignment working size must be at least 16 pixels, got {self.working_size}")

    def fit(self, images: list[np.ndarray]) -> Aligner:
        """Build the template from normal training images."""
        if len(images) == 0:
            raise DataError("an alignment template needs at least one training image")
        grays = [edges(img, self.working_size, self.sigma) for img in images]
        self.template_ = np.mean(grays, axis=0).astype(np.float32)
        for _ in range(self.refinements):
            warped = [self._warp_gray(g, self._estimate(g)) for g in grays]
            self.template_ = np.mean(warped, axis=0).astype(np.float32)
        return self

    def _check(self) -> None:
        if self.template_ is None:
            raise NotFittedError("Aligner is not fitted: call fit() with the training images first")

    def _warp_gray(self, gray: np.ndarray, alignment: Alignment) -> np.ndarray:
        size = (self.working_size, self.working_size)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(gray, alignment.matrix, size, flags=flags, borderMode=cv2.BORDER_REFLECT_101)

    def _estimate(self, gray: np.ndarray) -> Alignment:
        start = np.eye(2, 3, dtype=np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, self.iterations, 1e-6)
        try:
            correlation, matrix = cv2.findTransformECC(self.template_, gray, start, MOTIONS[self.motion], criteria, None, 1)
        except cv2.error:
            return Alignment(np.eye(2, 3), 0.0, False)
        return Alignment(matrix.astype(np.float64), float(correlation), bool(correlation >= self.min_correlation))

    def estimate(self, image: np.ndarray) -> Alignment:
        """The image's transform to the template (the identity, flagged, when it cannot be aligned)."""
        self._check()
        alignment = self._estimate(edges(image, self.working_size, self.sigma))
        return alignment if alignment.aligned else Alignment(np.eye(2, 3), alignment.correlation, False)

    def align(self, image: np.ndarray) -> tuple[np.ndarray, Alignment]:
        """The image warped into the template's frame (same size as the image) and its alignment."""
        alignment = self.estimate(image)
        h, w = image.shape[:2]
        matrix = alignment.matrix_at(h, w, self.working_size)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(image, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT_101), alignment

    def to_image_frame(self, anomaly_map: np.ndarray, alignment: Alignment) -> np.ndarray:
        """A map computed on the aligned image, warped back to the image's own frame (same size)."""
        h, w = anomaly_map.shape[:2]
        matrix = alignment.matrix_at(h, w, self.working_size)
        return cv2.warpAffine(
            anomaly_map.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
