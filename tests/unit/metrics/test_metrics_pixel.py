"""Pixel AUROC and AUPRO against slow explicit references."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from defectlab.errors import ConfigError, DataError
from defectlab.metrics.pixel import aupro, pixel_auroc


def reference_pixel_auroc(masks, maps):
    positives = maps[masks == 1]
    negatives = maps[masks == 0]
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return wins / (positives.size * negatives.size)


def reference_aupro(masks, maps, fpr_limit):
    """Per-threshold loops over every region of every image, then a clipped trapezoid."""
    regions = list(_regions_by_image(masks))
    normals = maps[masks == 0]
    points = [(0.0, 0.0)]
    for t in sorted(set(maps.ravel().tolist()), reverse=True):
        fpr = float((normals >= t).mean())
        pro = float(np.mean([(maps[image][region] >= t).mean() for image, region in regions]))
        points.append((fpr, pro))
    points.append((1.0, points[-1][1]))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def _regions_by_image(masks):
    for image, mask in enumerate(masks):
        labelled, count = ndimage.label(mask, structure=np.ones((3, 3)))
        for r in range(1, count + 1):
            yield image, labelled == r


def random_case(seed, n=3, size=12, levels=None):
    rng = np.random.default_rng(seed)
    masks = ndimage.binary_dilation(rng.random((n, size, size)) < 0.03, structure=np.ones((1, 2, 2)))
    masks = masks.astype(np.uint8)
    maps = rng.random(masks.shape) + 0.4 * masks
    if levels is not None:  # quantize to create many ties between normal and anomalous pixels
        maps = np.round(maps * levels) / levels
    return masks, maps.astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 4])
def test_pixel_auroc_matches_pair_count_and_sklearn(seed, levels):
    masks, maps = random_case(seed, levels=levels)
    expected = reference_pixel_auroc(masks, maps)
    assert pixel_auroc(masks, maps) == pytest.approx(expected, abs=1e-12)
    assert pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()), abs=1e-12)


def test_pixel_auroc_edge_cases():
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[0, 1:3, 1:3] = 1
    assert pixel_auroc(masks, masks.astype(np.float32)) == 1.0
    assert pixel_auroc(masks, 1.0 - masks) == 0.0
    assert pixel_auroc(masks, np.zeros(masks.shape)) == 0.5
    assert pixel_auroc(masks.astype(bool), masks.astype(np.int64)) == 1.0
    assert np.isnan(pixel_auroc(np.zeros((2, 4, 4)), np.random.default_rng(0).random((2, 4, 4))))
    assert np.isnan(pixel_auroc(np.ones((2, 4, 4)), np.random.default_rng(0).random((2, 4, 4))))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 3])
@pytest.mark.parametrize("fpr_limit", [0.05, 0.3, 1.0])
def test_aupro_matches_explicit_reference(seed, levels, fpr_limit):
    masks, maps = random_case(seed, levels=levels)
    expected = reference_aupro(masks, maps, fpr_limit)
    assert aupro(masks, maps, fpr_limit=fpr_limit) == pytest.approx(expected, abs=1e-9)


def test_aupro_perfect_inverted_and_constant_maps():
    masks, _ = random_case(0)
    assert aupro(masks, masks.astype(np.float32)) == pytest.approx(1.0)
    assert aupro(masks, 1.0 - masks) == pytest.approx(0.0)
    # constant map: the only vertex is (FPR 1, PRO 1), so the curve is the diagonal
    assert aupro(masks, np.zeros(masks.shape), fpr_limit=0.3) == pytest.approx(0.15)


def test_aupro_averages_regions_not_pixels():
    masks = np.zeros((1, 10, 10), dtype=np.uint8)
    masks[0, 0:4, 0:4] = 1  # large region, fully missed
    masks[0, 8, 8] = 1  # one-pixel region, perfectly detected
    maps = np.full(masks.shape, 0.5)
    maps[0, 0:4, 0:4] = 0.0
    maps[0, 8, 8] = 1.0
    # PRO is 0.5 from FPR 0 until the missed region is reached at FPR 1.
    assert aupro(masks, maps, fpr_limit=0.3) == pytest.approx(0.5)


def test_aupro_uses_8_connectivity_within_images_only():
    masks = np.zeros((2, 6, 6), dtype=np.uint8)
    masks[0, 0, 0] = masks[0, 1, 1] = 1  # diagonal neighbours: one region, half found
    masks[0, 4, 4] = 1  # a second region, found
    maps = np.full(masks.shape, 0.5)
    maps[0, 0, 0] = maps[0, 4, 4] = 1.0
    maps[0, 1, 1] = 0.0
    # 8-connectivity: PRO (0.5 + 1) / 2 = 0.75; 4-connectivity would give (1 + 0 + 1) / 3
    assert aupro(masks, maps, fpr_limit=0.3) == pytest.approx(0.75)
    stacked = np.zeros((2, 3, 3), dtype=np.uint8)
    stacked[0, 1, 1] = 1  # found
    stacked[1, 0:2, 0:2] = 1  # same place in the next image, missed: a region of its own
    maps = np.full(stacked.shape, 0.5)
    maps[0, 1, 1] = 1.0
    maps[1, 0:2, 0:2] = 0.0
    assert aupro(stacked, maps) == pytest.approx(0.5)  # one region across images: 0.2


def test_aupro_interpolates_at_the_fpr_limit():
    masks = np.zeros((1, 1, 11), dtype=np.uint8)
    masks[0, 0, 0] = 1
    # the anomalous pixel sits below 5 of the 10 normals: the curve jumps at FPR 0.5
    maps = np.array([[[0.55, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]]])
    assert aupro(masks, maps, fpr_limit=0.5) == pytest.approx(0.0)
    assert aupro(masks, maps, fpr_limit=1.0) == pytest.approx(0.5)
    # a tie between the anomalous pixel and a normal one gives a diagonal step
    maps[0, 0, 0] = 0.6
    # vertices (0.4, 0) -> (0.5, 1): area 0.05 up to 0.5, 0.0125 up to 0.45 (PRO 0.5 there)
    assert aupro(masks, maps, fpr_limit=0.5) == pytest.approx(0.05 / 0.5)
    assert aupro(masks, maps, fpr_limit=0.45) == pytest.approx(0.0125 / 0.45)


def test_aupro_is_nan_without_regions_or_normal_pixels():
    maps = np.random.default_rng(0).random((2, 5, 5))
    assert np.isnan(aupro(np.zeros((2, 5, 5)), maps))
    assert np.isnan(aupro(np.ones((2, 5, 5)), maps))


@pytest.mark.parametrize("metric", [pixel_auroc, aupro])
def test_bad_pixel_inputs(metric):
    good = np.zeros((2, 4, 4), dtype=np.uint8)
    good[0, 0, 0] = 1
    maps = np.random.default_rng(0).random(good.shape)
    with pytest.raises(DataError):
        metric(good, maps[:1])
    with pytest.raises(DataError):
        metric(good[0], maps[0])  # (H, W) is not (N, H, W)
    with pytest.raises(DataError):
        metric(good * 2, maps)
    with pytest.raises(DataError):
        metric(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    nan_maps = maps.copy()
    nan_maps[1, 2, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        metric(good, nan_maps)


@pytest.mark.parametrize("fpr_limit", [0.0, -0.1, 1.5])
def test_aupro_rejects_bad_fpr_limit(fpr_limit):
    masks, maps = random_case(0)
    with pytest.raises(ConfigError):
        aupro(masks, maps, fpr_limit=fpr_limit)


def test_pixel_metrics_leave_inputs_untouched():
    masks, maps = random_case(1)
    masks_before, maps_before = masks.copy(), maps.copy()
    pixel_auroc(masks, maps)
    aupro(masks, maps)
    np.testing.assert_array_equal(masks, masks_before)
    np.testing.assert_array_equal(maps, maps_before)
