"""Nuisance measurements against simple references: brightness, contrast, sharpness, noise."""

import numpy as np
import pytest
from scipy import ndimage

from defectlab.analysis.nuisance import NUISANCE_COLUMNS, measure_nuisances, noise_sigma
from defectlab.errors import DataError


def texture(seed=42, size=64):
    """Smooth random texture, uint8, mid-gray with no clipping."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(size, size)), 2.0)
    return np.round(128 + 60 * field / np.abs(field).max()).astype(np.uint8)


def noisy_gray(sigma, seed=42, size=128):
    """A horizontal ramp from 0.3 to 0.7 plus white Gaussian noise of `sigma` (gray in [0, 1]), as uint8."""
    ramp = np.tile(np.linspace(0.3, 0.7, size), (size, 1))
    noisy = ramp + np.random.default_rng(seed).normal(0, sigma, ramp.shape)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def laplacian_variance(gray):
    """Reference: 5-point Laplacian with half-sample symmetric borders, then its variance."""
    p = np.pad(gray, 1, mode="symmetric")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    return lap.var()


def test_columns_rows_and_reference_values():
    image = texture()
    frame = measure_nuisances([image, image[:40, :50]])
    assert list(frame.columns) == list(NUISANCE_COLUMNS) and len(frame) == 2
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    gray = image / 255.0
    assert frame.loc[0, "brightness"] == pytest.approx(gray.mean())
    assert frame.loc[0, "contrast"] == pytest.approx(gray.std())
    assert frame.loc[0, "sharpness"] == pytest.approx(laplacian_variance(gray))


def test_darker_image_has_lower_brightness_and_contrast():
    image = texture()
    frame = measure_nuisances([image, image // 2])
    assert frame.loc[1, "brightness"] == pytest.approx(frame.loc[0, "brightness"] / 2, abs=2 / 255)
    assert frame.loc[1, "contrast"] < frame.loc[0, "contrast"]


def test_blurred_image_has_lower_sharpness():
    image = np.random.default_rng(42).integers(0, 256, (64, 64)).astype(np.uint8)
    blurred = [np.round(ndimage.gaussian_filter(image.astype(float), s)).astype(np.uint8) for s in (0.7, 1.5, 3.0)]
    sharpness = measure_nuisances([image, *blurred])["sharpness"].to_numpy()
    assert np.all(np.diff(sharpness) < 0)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_added_gaussian_noise_is_recovered(sigma):
    assert measure_nuisances([noisy_gray(sigma)]).loc[0, "noise"] == pytest.approx(sigma, rel=0.1)


def test_smooth_image_has_almost_no_noise():
    assert measure_nuisances([noisy_gray(0.0), texture()])["noise"].max() < 0.005
    assert noise_sigma(np.full((8, 8), 0.5)) == pytest.approx(0.0, abs=1e-12)


def test_rgb_uses_luminance_and_gray_rgb_equals_gray():
    image = texture()
    gray_rgb = measure_nuisances([np.stack([image] * 3, axis=-1)])
    assert gray_rgb.to_numpy() == pytest.approx(measure_nuisances([image]).to_numpy())
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert measure_nuisances([red]).loc[0, "brightness"] == pytest.approx(0.2125)


@pytest.mark.parametrize(
    "images",
    [
        [],
        [np.zeros((8, 8), dtype=np.float32)],
        [np.zeros((8, 8, 4), dtype=np.uint8)],
        [np.zeros((3, 8), dtype=np.uint8)],
    ],
)
def test_invalid_input_raises_data_error(images):
    with pytest.raises(DataError):
        measure_nuisances(images)
