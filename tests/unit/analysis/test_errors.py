"""Error analysis: defect size/position, per-group detection, reliability curve, worst errors."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from defectlab.analysis.errors import (
    DEFAULT_SIZE_EDGES,
    GroupResult,
    Reliability,
    defect_area,
    defect_region,
    error_indices,
    group_detection,
    reliability_curve,
    size_bins,
)
from defectlab.errors import ConfigError, DataError


def mask_with(shape, rows, cols, value=255):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[rows, cols] = value
    return mask


# defect_area


def test_area_is_the_share_of_defect_pixels():
    assert defect_area(mask_with((10, 20), slice(0, 2), slice(0, 5))) == pytest.approx(10 / 200)
    assert defect_area(mask_with((4, 4), slice(None), slice(None), value=1)) == 1.0
    assert defect_area(np.zeros((8, 8), dtype=np.uint8)) == 0.0
    assert defect_area(np.array([[0.0, 0.2], [0.0, 0.0]])) == 0.25  # soft masks: anything > 0 counts


def test_area_of_a_missing_mask_is_nan():
    assert np.isnan(defect_area(None))


@pytest.mark.parametrize("mask", [np.zeros((2, 3, 3)), np.zeros(5), np.zeros((0, 4))])
def test_area_rejects_non_2d_or_empty_masks(mask):
    with pytest.raises(DataError, match="2-D"):
        defect_area(mask)


# defect_region


def test_region_of_a_centred_defect():
    assert defect_region(mask_with((100, 100), slice(40, 60), slice(45, 55))) == "centre"


@pytest.mark.parametrize(
    ("rows", "cols"),
    [(slice(0, 3), slice(40, 60)), (slice(40, 60), slice(97, 100)), (slice(95, 100), slice(0, 100))],
)
def test_region_of_defects_at_an_edge(rows, cols):
    assert defect_region(mask_with((100, 100), rows, cols)) == "border"


def test_region_boundary_is_exactly_the_margin_on_pixel_centres():
    shape = (100, 50)
    assert defect_region(mask_with(shape, 9, 25)) == "border"  # centre at 9.5 / 100 < 0.1
    assert defect_region(mask_with(shape, 10, 25)) == "centre"
    assert defect_region(mask_with(shape, 90, 25)) == "border"
    assert defect_region(mask_with(shape, 89, 25)) == "centre"
    assert defect_region(mask_with(shape, 50, 4)) == "border"  # columns use the width: 4.5 / 50 < 0.1
    assert defect_region(mask_with(shape, 50, 5)) == "centre"


def test_region_uses_the_centroid_not_the_extent():
    mask = mask_with((100, 100), slice(0, 100), slice(30, 70))  # touches two edges, centred
    assert defect_region(mask) == "centre"
    corners = mask_with((100, 100), slice(0, 5), slice(0, 5))
    two_blobs = corners | corners[::-1, ::-1]
    assert defect_region(two_blobs) == "centre"


def test_region_margin_is_a_parameter():
    mask = mask_with((100, 100), slice(20, 25), slice(50, 55))
    assert defect_region(mask) == "centre"
    assert defect_region(mask, margin=0.25) == "border"
    assert defect_region(mask_with((10, 10), 0, 0), margin=0.0) == "centre"


def test_region_is_empty_without_a_defect():
    assert defect_region(None) == ""
    assert defect_region(np.zeros((16, 16), dtype=np.uint8)) == ""


@pytest.mark.parametrize("margin", [-0.1, 0.6])
def test_region_rejects_bad_margins(margin):
    with pytest.raises(ConfigError, match="margin"):
        defect_region(np.ones((4, 4)), margin=margin)


# size_bins


def test_default_edges():
    assert DEFAULT_SIZE_EDGES == (0.01, 0.05)


def test_size_bins_at_and_around_the_edges():
    areas = np.array([0.0001, 0.0099, 0.01, 0.049, 0.05, 0.5, 1.0, np.nan, 0.0])
    expected = ["small", "small", "medium", "medium", "large", "large", "large", "", ""]
    assert size_bins(areas).tolist() == expected


def test_size_bins_from_masks():
    masks = [None, np.zeros((10, 10)), mask_with((10, 10), 0, 0), mask_with((10, 10), slice(0, 2), 0)]
    masks.append(mask_with((10, 10), slice(0, 5), slice(0, 5)))
    areas = np.array([defect_area(mask) for mask in masks])  # nan, 0, 0.01, 0.02, 0.25
    assert size_bins(areas).tolist() == ["", "", "medium", "medium", "large"]
    assert size_bins(areas, edges=(0.015, 0.3)).tolist() == ["", "", "small", "medium", "medium"]


def test_size_bins_of_nothing():
    assert size_bins(np.array([])).shape == (0,)


@pytest.mark.parametrize("edges", [(0.05, 0.01), (0.0, 0.1), (0.01, 1.5), (0.01,), (0.01, 0.02, 0.05)])
def test_size_bins_rejects_bad_edges(edges):
    with pytest.raises(ConfigError, match="edges"):
        size_bins(np.array([0.1]), edges=edges)


@pytest.mark.parametrize("areas", [np.array([0.1, -0.1]), np.array([1.5]), np.array([np.inf])])
def test_size_bins_rejects_areas_outside_the_unit_interval(areas):
    with pytest.raises(DataError, match="fractions"):
        size_bins(areas)


# group_detection


def test_group_detection_by_hand():
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.6, 0.9, 0.4, 0.25, 0.7, 0.8]
    groups = ["", "x", "", "", "small", "small", "large", "large", "large"]
    results = group_detection(labels, scores, threshold=0.5, groups=groups)
    assert [r.group for r in results] == ["large", "small"]  # sorted; normals' groups ignored
    large, small = results
    assert isinstance(large, GroupResult)
    assert (large.n, large.recall) == (3, pytest.approx(2 / 3))
    # large: 0.25 beats 2 of 4 normals, 0.7 and 0.8 beat all four -> (2 + 4 + 4) / 12
    assert large.auroc == pytest.approx(10 / 12)
    assert (small.n, small.recall) == (2, 0.5)
    assert small.auroc == pytest.approx((4 + 3) / 8)


def test_group_auroc_matches_sklearn_on_the_group_plus_all_normals():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    groups = np.where(labels == 1, rng.choice(["small", "medium", "large", ""], 300), "")
    scores = np.round(rng.normal(size=300) + labels * (groups == "large"), 1)  # ties included
    results = group_detection(labels, scores, threshold=0.5, groups=groups)
    assert [r.group for r in results] == ["large", "medium", "small"]
    for result in results:
        keep = (labels == 0) | (groups == result.group)
        assert result.auroc == pytest.approx(roc_auc_score(labels[keep], scores[keep]))
        in_group = (labels == 1) & (groups == result.group)
        assert result.n == in_group.sum()
        assert result.recall == pytest.approx((scores[in_group] >= 0.5).mean())


def test_group_auroc_is_none_without_normal_images():
    results = group_detection([1, 1, 1], [0.2, 0.6, 0.9], 0.5, ["a", "b", "a"])
    assert results == [GroupResult("a", 2, 0.5, None), GroupResult("b", 1, 1.0, None)]


def test_group_detection_without_grouped_anomalies_is_empty():
    assert group_detection([0, 0, 1], [0.1, 0.2, 0.3], 0.5, ["a", "b", ""]) == []


def test_group_detection_rejects_bad_input():
    with pytest.raises(DataError, match="groups"):
        group_detection([0, 1], [0.1, 0.9], 0.5, ["a"])
    with pytest.raises(DataError, match="differ in length"):
        group_detection([0, 1], [0.1], 0.5, ["a", "b"])
    with pytest.raises(DataError, match="NaN"):
        group_detection([0, 1], [0.1, np.nan], 0.5, ["a", "b"])
    with pytest.raises(ConfigError, match="threshold"):
        group_detection([0, 1], [0.1, 0.9], float("nan"), ["a", "b"])


# reliability_curve


def test_reliability_by_hand():
    labels = [0, 0, 1, 1, 1, 0]
    probabilities = [0.1, 0.2, 0.3, 0.8, 1.0, 0.9]
    result = reliability_curve(labels, probabilities, n_bins=2)
    assert isinstance(result, Reliability)
    np.testing.assert_allclose(result.bin_edges, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(result.mean_predicted, [0.2, 0.9])
    np.testing.assert_allclose(result.fraction_positive, [1 / 3, 2 / 3])
    assert result.counts.tolist() == [3, 3] and result.counts.dtype == np.int64
    assert result.ece == pytest.approx((3 * (1 / 3 - 0.2) + 3 * (0.9 - 2 / 3)) / 6)


def test_reliability_bins_are_closed_on_the_left_and_one_goes_last():
    result = reliability_curve([0, 1, 1, 0], [0.0, 0.5, 1.0, 0.49], n_bins=4)
    assert result.counts.tolist() == [1, 1, 1, 1]
    np.testing.assert_allclose(result.mean_predicted, [0.0, 0.49, 0.5, 1.0])


def test_reliability_matches_sklearn_on_non_empty_bins():
    rng = np.random.default_rng(1)
    probabilities = rng.beta(0.5, 2.0, 500)  # skewed so some high bins stay empty
    labels = (rng.random(500) < probabilities**0.7).astype(int)
    result = reliability_curve(labels, probabilities, n_bins=20)
    filled = result.counts > 0
    assert not filled.all()
    fraction, mean = calibration_curve(labels, probabilities, n_bins=20)
    np.testing.assert_allclose(result.fraction_positive[filled], fraction)
    np.testing.assert_allclose(result.mean_predicted[filled], mean)
    assert result.counts.sum() == 500
    gaps = np.abs(fraction - mean)
    assert result.ece == pytest.approx(np.sum(result.counts[filled] * gaps) / 500)


def test_reliability_empty_bins_are_nan_and_skipped():
    result = reliability_curve([0, 1], [0.05, 0.95], n_bins=5)
    assert result.counts.tolist() == [1, 0, 0, 0, 1]
    assert np.isnan(result.mean_predicted[1:4]).all() and np.isnan(result.fraction_positive[1:4]).all()
    assert result.ece == pytest.approx(0.05)


def test_perfectly_calibrated_bins_have_zero_ece():
    probabilities = np.repeat([0.25, 0.75], 4)
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    assert reliability_curve(labels, probabilities, n_bins=2).ece == pytest.approx(0.0)


def test_reliability_rejects_bad_input():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        reliability_curve([0, 1], [0.5, 1.1])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        reliability_curve([0, 1], [-0.01, 0.5])
    with pytest.raises(DataError, match="probabilities contains NaN"):
        reliability_curve([0, 1], [np.nan, 0.5])
    with pytest.raises(DataError, match="differ in length"):
        reliability_curve([0, 1, 1], [0.2, 0.5])
    with pytest.raises(DataError, match="empty"):
        reliability_curve([], [])
    with pytest.raises(ConfigError, match="n_bins"):
        reliability_curve([0, 1], [0.2, 0.5], n_bins=0)


# error_indices


def test_error_indices_by_hand():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.6, 0.9, 0.1, 0.5, 0.2, 0.45, 0.05, 0.8])
    false_positives, false_negatives = error_indices(labels, scores, threshold=0.5)
    assert false_positives.tolist() == [1, 0, 3]  # score >= threshold is anomalous; highest first
    assert false_negatives.tolist() == [6, 4, 5]  # lowest first
    assert false_positives.dtype == false_negatives.dtype == np.int64


def test_error_indices_are_capped_and_ties_keep_input_order():
    labels = np.array([0] * 5 + [1] * 5)
    scores = np.array([0.7, 0.9, 0.7, 0.9, 0.1, 0.3, 0.1, 0.3, 0.1, 0.8])
    false_positives, false_negatives = error_indices(labels, scores, threshold=0.5, n=3)
    assert false_positives.tolist() == [1, 3, 0]
    assert false_negatives.tolist() == [6, 8, 5]
    assert [a.size for a in error_indices(labels, scores, 0.5, n=0)] == [0, 0]


def test_no_errors_give_empty_arrays():
    false_positives, false_negatives = error_indices([0, 1], [0.1, 0.9], threshold=0.5)
    assert false_positives.shape == false_negatives.shape == (0,)
    assert false_positives.dtype == np.int64


def test_error_indices_reject_bad_input():
    with pytest.raises(ConfigError, match="n must be"):
        error_indices([0, 1], [0.1, 0.9], 0.5, n=-1)
    with pytest.raises(ConfigError, match="threshold"):
        error_indices([0, 1], [0.1, 0.9], float("nan"))
    with pytest.raises(DataError, match="differ in length"):
        error_indices([0, 1], [0.1], 0.5)
