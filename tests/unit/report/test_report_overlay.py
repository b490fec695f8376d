"""Heatmaps and overlays: shapes, dtypes, normalization, resizing, bad input."""

import numpy as np
import pytest
from PIL import Image

from defectlab.errors import ConfigError, DataError
from defectlab.explain.overlay import heatmap_rgb, normalize_map, overlay, resize_map, save_png


def test_heatmap_shape_dtype_and_ends_of_the_colormap():
    amap = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    heat = heatmap_rgb(amap, cmap="gray")
    assert heat.shape == (3, 4, 3) and heat.dtype == np.uint8
    assert heat[0, 0].tolist() == [0, 0, 0] and heat[-1, -1].tolist() == [255, 255, 255]


def test_constant_map_is_all_low_colour_without_warnings():
    with np.errstate(all="raise"):
        heat = heatmap_rgb(np.full((5, 6), 3.0))
    low = heatmap_rgb(np.array([[0.0, 1.0]]))[0, 0]
    assert (heat == low).all()


def test_vmin_vmax_fix_the_scale_and_clip():
    amap = np.array([[0.5, 1.0, 5.0]])
    assert normalize_map(amap, vmin=0.0, vmax=2.0).tolist() == [[0.25, 0.5, 1.0]]
    assert (normalize_map(amap, vmin=1.0, vmax=1.0) == 0).all()


def test_non_finite_pixels_map_low():
    norm = normalize_map(np.array([[0.0, np.nan, 2.0, np.inf]]))
    assert norm.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_overlay_resizes_the_map_to_the_image():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    out = overlay(image, np.random.default_rng(0).random((10, 15)))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8


def test_resize_is_bilinear_and_keeps_range():
    amap = np.array([[0.0, 1.0], [1.0, 2.0]], dtype=np.float32)
    big = resize_map(amap, 8, 8)
    assert big.shape == (8, 8) and big.min() >= 0.0 and big.max() <= 2.0
    assert 0.0 < big[3, 3] < 2.0  # interpolated, not nearest


def test_alpha_extremes():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    amap = np.random.default_rng(1).random((4, 4))
    assert (overlay(image, amap, alpha=0.0) == image).all()
    assert (overlay(image, amap, alpha=1.0) == heatmap_rgb(amap)).all()


def test_grayscale_image_is_accepted():
    assert overlay(np.zeros((8, 8), dtype=np.uint8), np.ones((8, 8))).shape == (8, 8, 3)


@pytest.mark.parametrize(
    "image, amap",
    [
        (np.zeros((8, 8, 3), dtype=np.float32), np.ones((8, 8))),
        (np.zeros((8, 8, 4), dtype=np.uint8), np.ones((8, 8))),
        (np.zeros((8, 8, 3), dtype=np.uint8), np.ones((2, 8, 8))),
        (np.zeros((8, 8, 3), dtype=np.uint8), np.ones((0, 8))),
    ],
)
def test_bad_shapes_are_data_errors(image, amap):
    with pytest.raises(DataError):
        overlay(image, amap)


def test_bad_alpha_and_colormap_are_config_errors():
    with pytest.raises(ConfigError):
        overlay(np.zeros((4, 4, 3), dtype=np.uint8), np.ones((4, 4)), alpha=1.5)
    with pytest.raises(ConfigError, match="colormap"):
        heatmap_rgb(np.ones((4, 4)), cmap="no-such-map")


def test_save_png_round_trips(tmp_path):
    array = np.random.default_rng(2).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    save_png(tmp_path / "o.png", array)
    assert (np.asarray(Image.open(tmp_path / "o.png")) == array).all()
    with pytest.raises(DataError):
        save_png(tmp_path / "bad.png", array.astype(np.float32))
