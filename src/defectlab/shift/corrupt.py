"""Apply a named corruption or preset to an image and its mask, deterministically."""

from __future__ import annotations

import copy
import zlib

import numpy as np

from defectlab.errors import ConfigError, DataError
from defectlab.shift import appearance, geometric, imagenet_c, photometric  # noqa: F401  (register corruptions)
from defectlab.shift.registry import REGISTRY, SEVERITIES, Corruption, Table

CORRUPTIONS: tuple[str, ...] = tuple(
    name for kind in ("geometric", "photometric") for name, c in REGISTRY.items() if c.kind == kind
)
"""Every corruption name, geometric first."""

_GEOMETRIC_RECIPE: tuple[tuple[str, int], ...] = (("rotation", 3), ("resized_crop", 3))
_PHOTOMETRIC_RECIPE: tuple[tuple[str, int], ...] = (
    ("brightness", 3),
    ("contrast", 3),
    ("saturation", 3),
    ("gaussian_blur", 3),
    ("gaussian_noise", 3),
)
_PRESETS: dict[str, tuple[tuple[str, int], ...]] = {
    "mvtec-shift": _GEOMETRIC_RECIPE + _PHOTOMETRIC_RECIPE,
    "mvtec-shift-geometric": _GEOMETRIC_RECIPE,
    "mvtec-shift-photometric": _PHOTOMETRIC_RECIPE,
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)
"""Every preset name."""


def _corruption(name: str) -> Corruption:
    if name not in REGISTRY:
        raise ConfigError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    return REGISTRY[name]


def _check_severity(severity: int) -> None:
    is_int = isinstance(severity, int | np.integer) and not isinstance(severity, bool)
    if not is_int or severity not in SEVERITIES:
        raise ConfigError(f"severity must be an integer in 1..5, got {severity!r}")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")


def _check_inputs(image: np.ndarray, mask: np.ndarray | None) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        found = getattr(image, "dtype", type(image).__name__)
        raise DataError(f"image must be a uint8 numpy array, got {found}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise DataError(f"image must be HxWx3, got shape {image.shape}")
    if mask is None:
        return
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
        found = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise DataError(f"mask must be uint8 of shape {image.shape[:2]}, got {found}")
    if mask.max() > 1:
        raise DataError("mask values must be 0 or 1")


def _stream(seed: int, name: str) -> int:
    """A 32-bit seed for one corruption; independent of severity, so severities share draws."""
    state = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0]
    return int(state)


def apply_corruption(
    image: np.ndarray, mask: np.ndarray | None, name: str, severity: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Corrupt ``image`` (uint8 HxWx3) and, for geometric corruptions, move ``mask`` with it.

    Returns new arrays of the same shape and dtype; the mask stays in {0, 1} (``None`` stays
    ``None``). The result depends only on the image and mask content, name, severity and seed.
    Raises ConfigError for an unknown name, a severity outside 1..5 or a negative seed, and
    DataError for an image or mask of the wrong type or shape.
    """
    corruption = _corruption(name)
    _check_severity(severity)
    _check_seed(seed)
    _check_inputs(image, mask)
    image = np.ascontiguousarray(image)
    mask = None if mask is None else np.ascontiguousarray(mask)
    params = corruption.table[int(severity)]
    out_image, out_mask = corruption.apply(image, mask, params, _stream(seed, name))
    return out_image, (None if out_mask is None else out_mask.copy())


def apply_preset(image: np.ndarray, mask: np.ndarray | None, preset: str, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply every step of ``preset`` in order with the same seed.

    ``mvtec-shift``: rotation, resized_crop, brightness, contrast, saturation, gaussian_blur and
    gaussian_noise, all at severity 3 (rotation +-10 degrees, crop scale 0.9-1.0, colour jitter
    0.7-1.3, blur kernel 3-5, noise sigma 0.01-0.05 of 255).
    """
    if preset not in _PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    for name, severity in _PRESETS[preset]:
        image, mask = apply_corruption(image, mask, name, severity, seed)
    return image, mask


def corruption_table(name: str) -> Table:
    """A copy of the severity -> parameters table of ``name``."""
    return copy.deepcopy(dict(_corruption(name).table))


def corruption_kind(name: str) -> str:
    """``"geometric"`` (moves the mask) or ``"photometric"`` (leaves it alone)."""
    return _corruption(name).kind
