"""Explanation panels render to PNG: one row per image, one column per method plus the image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from defectlab.errors import ConfigError, DataError
from defectlab.explain.panels import explanation_panel_png


def _images(count: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def _maps(count: int, size: int = 32) -> np.ndarray:
    ramp = np.linspace(-0.5, 1.0, size * size, dtype=np.float32).reshape(size, size)
    return np.stack([ramp] * count)


def _open(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_panel_is_a_png_shaped_rows_by_columns():
    wide = _open(explanation_panel_png(_images(1), {"a": _maps(1), "b": _maps(1), "c": _maps(1)}, ["one"]))
    tall = _open(explanation_panel_png(_images(3), {"gradcam": _maps(3)}, ["x", "y", "z"]))
    assert wide.format == "PNG" and tall.format == "PNG"
    assert wide.width / wide.height == pytest.approx(4 / 1, rel=0.25)
    assert tall.width / tall.height == pytest.approx(2 / 3, rel=0.25)


def test_masks_are_drawn_and_maps_may_have_another_size():
    images = _images(2)
    maps = {"gradcam": _maps(2), "intervention": _maps(2, size=8)}
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 10:24] = 1
    plain = explanation_panel_png(images, maps, ["a", "b"])
    masked = explanation_panel_png(images, maps, ["a", "b"], masks=[mask, np.zeros_like(mask)])
    assert _open(masked).size == _open(plain).size
    assert masked != plain


def test_bad_inputs():
    maps = {"gradcam": _maps(1)}
    with pytest.raises(DataError, match="no images"):
        explanation_panel_png([], {"gradcam": []}, [])
    with pytest.raises(ConfigError, match="at least one method"):
        explanation_panel_png(_images(1), {}, ["a"])
    with pytest.raises(DataError, match="titles"):
        explanation_panel_png(_images(1), maps, ["a", "b"])
    with pytest.raises(DataError, match="2 maps for 1 images"):
        explanation_panel_png(_images(1), {"gradcam": _maps(2)}, ["a"])
    with pytest.raises(DataError, match="masks"):
        explanation_panel_png(_images(1), maps, ["a"], masks=[])
    with pytest.raises(DataError, match="mask shape"):
        explanation_panel_png(_images(1), maps, ["a"], masks=[np.ones((16, 32), np.uint8)])
