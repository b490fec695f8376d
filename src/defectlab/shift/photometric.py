"""Photometric corruptions built on albumentations; the mask is never touched.

Random parameters are drawn uniformly from each range. The seed does not depend on the
severity, so at a fixed seed a higher severity stretches the same random draw further.
"""

from __future__ import annotations

import numpy as np

from defectlab.shift._albu import A, run
from defectlab.shift.registry import Params, photometric

_JITTER = {
    1: {"factor": (0.9, 1.1)},
    2: {"factor": (0.8, 1.2)},
    3: {"factor": (0.7, 1.3)},
    4: {"factor": (0.55, 1.45)},
    5: {"factor": (0.4, 1.6)},
}
BRIGHTNESS = _JITTER
CONTRAST = _JITTER
SATURATION = _JITTER
GAMMA = {
    1: {"gamma": (0.9, 1.1)},
    2: {"gamma": (0.8, 1.25)},
    3: {"gamma": (0.7, 1.4)},
    4: {"gamma": (0.55, 1.7)},
    5: {"gamma": (0.4, 2.0)},
}
GAUSSIAN_BLUR = {
    1: {"kernel": (3, 3), "sigma": (0.3, 0.6)},
    2: {"kernel": (3, 3), "sigma": (0.6, 0.9)},
    3: {"kernel": (3, 5), "sigma": (0.9, 1.3)},
    4: {"kernel": (5, 7), "sigma": (1.3, 2.0)},
    5: {"kernel": (7, 9), "sigma": (2.0, 3.0)},
}
MOTION_BLUR = {
    1: {"kernel": (3, 5)},
    2: {"kernel": (5, 7)},
    3: {"kernel": (7, 9)},
    4: {"kernel": (9, 13)},
    5: {"kernel": (13, 17)},
}
DEFOCUS_BLUR = {
    1: {"radius": (1, 2), "alias_blur": (0.1, 0.3)},
    2: {"radius": (2, 3), "alias_blur": (0.1, 0.3)},
    3: {"radius": (3, 4), "alias_blur": (0.1, 0.3)},
    4: {"radius": (4, 6), "alias_blur": (0.1, 0.3)},
    5: {"radius": (6, 8), "alias_blur": (0.1, 0.3)},
}
GAUSSIAN_NOISE = {
    1: {"sigma_of_255": (0.005, 0.01)},
    2: {"sigma_of_255": (0.01, 0.03)},
    3: {"sigma_of_255": (0.01, 0.05)},
    4: {"sigma_of_255": (0.05, 0.08)},
    5: {"sigma_of_255": (0.08, 0.12)},
}
SALT_AND_PEPPER = {
    1: {"amount": (0.002, 0.005)},
    2: {"amount": (0.005, 0.01)},
    3: {"amount": (0.01, 0.02)},
    4: {"amount": (0.02, 0.04)},
    5: {"amount": (0.04, 0.08)},
}
JPEG = {
    1: {"quality": (75, 90)},
    2: {"quality": (55, 75)},
    3: {"quality": (35, 55)},
    4: {"quality": (20, 35)},
    5: {"quality": (8, 20)},
}

_STILL = (1.0, 1.0)


def _jitter(
    image: np.ndarray,
    seed: int,
    brightness: tuple[float, float] = _STILL,
    contrast: tuple[float, float] = _STILL,
    saturation: tuple[float, float] = _STILL,
) -> np.ndarray:
    """Colour jitter with one factor range active and hue fixed."""
    transform = A.ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=(0.0, 0.0), p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("brightness", BRIGHTNESS)
def brightness(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Multiply intensities by ``factor`` (colour-jitter brightness)."""
    return _jitter(image, seed, brightness=params["factor"])


@photometric("contrast", CONTRAST)
def contrast(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Scale deviations from the mean grey level by ``factor`` (colour-jitter contrast)."""
    return _jitter(image, seed, contrast=params["factor"])


@photometric("saturation", SATURATION)
def saturation(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Scale colour saturation by ``factor`` (no effect on grey images)."""
    return _jitter(image, seed, saturation=params["factor"])


@photometric("gamma", GAMMA)
def gamma(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Apply ``(x / 255) ** gamma``."""
    low, high = params["gamma"]
    return run(A.RandomGamma(gamma_limit=(100 * low, 100 * high), p=1.0), image, None, seed)[0]


@photometric("gaussian_blur", GAUSSIAN_BLUR)
def gaussian_blur(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Gaussian blur with an odd ``kernel`` size and standard deviation ``sigma`` (pixels)."""
    transform = A.GaussianBlur(blur_limit=params["kernel"], sigma_limit=params["sigma"], p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("motion_blur", MOTION_BLUR)
def motion_blur(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Linear motion blur of odd length ``kernel`` at a random angle, centred."""
    transform = A.MotionBlur(blur_limit=params["kernel"], allow_shifted=False, p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("defocus_blur", DEFOCUS_BLUR)
def defocus_blur(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Disc (out-of-focus) blur of ``radius`` pixels, smoothed by ``alias_blur``."""
    transform = A.Defocus(radius=params["radius"], alias_blur=params["alias_blur"], p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("gaussian_noise", GAUSSIAN_NOISE)
def gaussian_noise(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Add zero-mean per-channel Gaussian noise with sigma ``sigma_of_255`` * 255."""
    transform = A.GaussNoise(std_range=params["sigma_of_255"], mean_range=(0.0, 0.0), p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("salt_and_pepper", SALT_AND_PEPPER)
def salt_and_pepper(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Set a fraction ``amount`` of pixels to 0 or 255 (half each on average)."""
    transform = A.SaltAndPepper(amount=params["amount"], salt_vs_pepper=(0.5, 0.5), p=1.0)
    return run(transform, image, None, seed)[0]


@photometric("jpeg", JPEG)
def jpeg(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (lower is worse)."""
    transform = A.ImageCompression(compression_type="jpeg", quality_range=params["quality"], p=1.0)
    return run(transform, image, None, seed)[0]
