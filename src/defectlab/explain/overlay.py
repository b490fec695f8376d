"""Anomaly-map heatmaps and image overlays as plain uint8 RGB arrays.

Kept light on purpose (numpy, Pillow and a matplotlib colormap lookup table, no pyplot):
the CLI writes one overlay per scored image and the web UI calls these per request.
"""

from __future__ import annotations

import os
from functools import lru_cache

import matplotlib
import numpy as np
from PIL import Image

from defectlab.errors import ConfigError, DataError


@lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray:
    """256x3 uint8 colour table of a matplotlib colormap."""
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ConfigError(f"unknown colormap {cmap!r}") from None
    table = colormap(np.linspace(0.0, 1.0, 256), bytes=True)[:, :3]
    table.flags.writeable = False
    return table


def _as_map(anomaly_map: np.ndarray) -> np.ndarray:
    array = np.asarray(anomaly_map, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.size == 0:
        raise DataError(f"anomaly map must be a non-empty HxW array, got shape {np.shape(anomaly_map)}")
    return array


def resize_map(anomaly_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxW float map to (height, width); unchanged if already that size."""
    array = _as_map(anomaly_map)
    if array.shape == (height, width):
        return array
    resized = Image.fromarray(np.ascontiguousarray(array)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def normalize_map(anomaly_map: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Scale to [0, 1] by vmin/vmax (default: the map's finite min/max), clipped.

    A constant map (vmax <= vmin) and non-finite pixels map to 0.
    """
    array = _as_map(anomaly_map)
    finite = array[np.isfinite(array)]
    low = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 0.0)
    if not high > low:
        return np.zeros(array.shape, dtype=np.float32)
    scaled = (array - low) / (high - low)
    return np.clip(np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def heatmap_rgb(anomaly_map: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "jet") -> np.ndarray:
    """Colour an HxW anomaly map: uint8 HxWx3, low values at the colormap's low end."""
    levels = np.round(normalize_map(anomaly_map, vmin, vmax) * 255.0).astype(np.uint8)
    return _lut(cmap)[levels]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or array.size == 0:
        raise DataError(f"image must be uint8 HxWx3 (or HxW), got {array.dtype} {array.shape}")
    return array


def overlay(
    image: np.ndarray,
    anomaly_map: np.ndarray,
    alpha: float = 0.5,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "jet",
) -> np.ndarray:
    """Blend the map's heatmap over `image` (uint8 HxWx3); the map is resized to the image."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"overlay alpha must be in [0, 1], got {alpha}")
    rgb = _as_rgb(image)
    heat = heatmap_rgb(resize_map(anomaly_map, rgb.shape[0], rgb.shape[1]), vmin, vmax, cmap)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * heat.astype(np.float32)
    return np.round(blended).astype(np.uint8)


def save_png(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write a uint8 HxW or HxWx3 array as a PNG file."""
    data = np.asarray(array)
    if data.dtype != np.uint8 or data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] != 3):
        raise DataError(f"save_png needs uint8 HxW or HxWx3, got {data.dtype} {data.shape}")
    Image.fromarray(data).save(path, format="PNG")
