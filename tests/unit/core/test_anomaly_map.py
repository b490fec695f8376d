"""Anomaly-map post-processing against scipy / scikit-image / numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from skimage.transform import resize

from defectlab.components.anomaly_map import gaussian_blur, gaussian_kernel1d, image_scores, to_anomaly_map, top_k_mean, upsample
from defectlab.errors import ConfigError


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 2.5, 4.0])
def test_gaussian_blur_matches_scipy_mirror(sigma: float) -> None:
    rng = np.random.default_rng(int(sigma * 10))
    maps = rng.random((3, 40, 37)).astype(np.float32)
    maps[1, 10:14, 20:25] += 5.0  # a sharp blob near nothing in particular
    maps[2, 0, :] += 3.0  # a hot border row: exercises the mirrored edges
    got = gaussian_blur(torch.from_numpy(maps), sigma).numpy()
    want = np.stack([gaussian_filter(m.astype(np.float64), sigma, mode="mirror", truncate=4.0) for m in maps])
    assert got.shape == maps.shape
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.2, 4.0])
def test_kernel_matches_scipy_impulse_response(sigma: float) -> None:
    kernel = gaussian_kernel1d(sigma).numpy()
    radius = int(4.0 * sigma + 0.5)
    assert len(kernel) == 2 * radius + 1
    impulse = np.zeros(4 * radius + 1)
    impulse[2 * radius] = 1.0
    want = gaussian_filter1d(impulse, sigma, mode="constant", truncate=4.0)[radius : 3 * radius + 1]
    np.testing.assert_allclose(kernel, want, atol=1e-7)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)


def test_blur_preserves_constants_and_sigma_zero_is_identity() -> None:
    const = torch.full((2, 20, 20), 3.5)
    assert torch.allclose(gaussian_blur(const, 2.0), const)
    x = torch.rand(1, 10, 10)
    assert gaussian_blur(x, 0.0) is x


def test_blur_radius_larger_than_map_is_config_error() -> None:
    with pytest.raises(ConfigError, match="radius"):
        gaussian_blur(torch.rand(1, 16, 40), 4.0)  # radius 16 vs height 16


@pytest.mark.parametrize(("shape", "size"), [((5, 7), 28), ((8, 8), (64, 48)), ((3, 4), (3, 9))])
def test_upsample_matches_skimage_bilinear(shape, size) -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((2, *shape))
    target = (size, size) if isinstance(size, int) else size
    got = upsample(torch.from_numpy(maps).float(), size).numpy()
    want = np.stack([resize(m, target, order=1, mode="edge", anti_aliasing=False) for m in maps])
    assert got.shape == (2, *target)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_upsample_same_size_is_identity() -> None:
    x = torch.rand(2, 9, 9)
    assert upsample(x, 9) is x
    assert upsample(x, (9, 9)) is x


def test_to_anomaly_map_is_upsample_then_blur() -> None:
    rng = np.random.default_rng(1)
    patches = rng.random((2, 8, 8))
    got = to_anomaly_map(torch.from_numpy(patches), 64, sigma=4.0).numpy()
    up = np.stack([resize(m, (64, 64), order=1, mode="edge", anti_aliasing=False) for m in patches])
    want = np.stack([gaussian_filter(m, 4.0, mode="mirror", truncate=4.0) for m in up])
    assert got.dtype == np.float32 and got.shape == (2, 64, 64)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 10, 63, 1000])
def test_top_k_mean_matches_numpy_sort(k: int) -> None:
    values = np.random.default_rng(k).normal(size=(5, 7, 9))
    flat = values.reshape(5, -1)
    want = np.sort(flat, axis=1)[:, ::-1][:, : min(k, flat.shape[1])].mean(1)
    got = top_k_mean(torch.from_numpy(values), k).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    if k == 1:
        np.testing.assert_array_equal(got, flat.max(1))


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_smoothed_max_is_the_peak_of_scipys_gaussian_filter(sigma: float) -> None:
    from scipy import ndimage

    maps = np.random.default_rng(5).random((3, 12, 14)).astype(np.float32)
    want = [ndimage.gaussian_filter(m.astype(np.float64), sigma, mode="mirror", truncate=4.0).max() for m in maps]
    got = image_scores(torch.from_numpy(maps), "smoothed_max", smoothing=sigma).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_smoothed_max_prefers_a_broad_peak_to_a_single_hot_patch() -> None:
    single = torch.zeros(1, 10, 10)
    single[0, 5, 5] = 1.0
    broad = torch.zeros(1, 10, 10)
    broad[0, 4:7, 4:7] = 0.8
    both = torch.cat([single, broad])
    raw, smoothed = image_scores(both, "max"), image_scores(both, "smoothed_max", smoothing=1.0)
    assert raw[0] > raw[1] and smoothed[0] < smoothed[1]


def test_max_and_topk_aggregations() -> None:
    maps = torch.from_numpy(np.random.default_rng(6).random((4, 5, 6)).astype(np.float32))
    flat = maps.reshape(4, -1).numpy()
    np.testing.assert_allclose(image_scores(maps, "max").numpy(), flat.max(1))
    np.testing.assert_allclose(image_scores(maps, "topk", top_k=3).numpy(), np.sort(flat, 1)[:, -3:].mean(1), rtol=1e-6)


def test_smoothed_max_on_tiny_maps_keeps_the_blur_inside() -> None:
    for h, w in ((1, 1), (2, 3), (3, 3)):
        maps = torch.rand(2, h, w)
        got = image_scores(maps, "smoothed_max", smoothing=2.0)
        assert got.shape == (2,) and bool(torch.isfinite(got).all())
        assert bool((got <= maps.reshape(2, -1).max(1).values + 1e-6).all())


def test_unknown_aggregation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="smoothed_max"):
        image_scores(torch.zeros(1, 2, 2), "median")
