"""The CES factors (image interventions) and factor_ces with a toy predictor on tiny images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from defectlab.experiments.classification.interventions import FACTORS, factor_ces, intervene, paste_crack


def random_image(seed: int = 0, size: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def textured(level: int, seed: int = 0, size: int = 32) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-15, 16, (size, size, 3))
    return np.clip(level + noise, 0, 255).astype(np.uint8)


def test_factor_table():
    assert list(FACTORS) == ["darker", "low_contrast", "blur", "noise", "defect"]
    assert {n: (f.column, f.above_median) for n, f in FACTORS.items()} == {
        "darker": ("brightness", False),
        "low_contrast": ("contrast", False),
        "blur": ("sharpness", False),
        "noise": ("noise", True),
        "defect": ("label", True),
    }
    assert FACTORS["defect"].apply is paste_crack


def test_darker_scales_by_0_7():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)  # every grey level
    before = image.copy()
    out, mask = FACTORS["darker"].apply(image, 0)
    reference = np.clip(np.round(image.astype(np.int64) * 7 / 10), 0, 255).astype(np.uint8)  # halves are exact
    assert mask is None and out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out, reference)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 178  # 255 * 0.7 = 178.5 -> 178 (round half to even)
    np.testing.assert_array_equal(image, before)


def test_low_contrast_keeps_mean_and_scales_deviations():
    image = random_image(1)
    out, mask = FACTORS["low_contrast"].apply(image, 0)
    x, y = image.astype(np.float64), out.astype(np.float64)
    assert mask is None and out.dtype == np.uint8 and out.shape == image.shape
    assert abs(y.mean() - x.mean()) <= 0.5
    np.testing.assert_allclose(y - x.mean(), 0.6 * (x - x.mean()), atol=0.5 + 1e-3)
    assert y.std() == pytest.approx(0.6 * x.std(), rel=0.02)


def test_low_contrast_of_flat_image_is_unchanged():
    image = np.full((8, 8, 3), 77, np.uint8)
    np.testing.assert_array_equal(FACTORS["low_contrast"].apply(image, 0)[0], image)


@pytest.mark.parametrize("name", ["blur", "noise"])
def test_blur_and_noise_are_seeded_and_change_the_image(name):
    image = random_image(2)
    before = image.copy()
    a, mask_a = FACTORS[name].apply(image, 5)
    b, _ = FACTORS[name].apply(image, 5)
    assert mask_a is None and a.dtype == np.uint8 and a.shape == image.shape
    np.testing.assert_array_equal(a, b)
    assert (a != image).any()
    np.testing.assert_array_equal(image, before)


def test_noise_depends_on_seed():
    image = random_image(3)
    assert (FACTORS["noise"].apply(image, 5)[0] != FACTORS["noise"].apply(image, 6)[0]).any()


def test_blur_smooths():
    image = random_image(4)
    out = FACTORS["blur"].apply(image, 0)[0].astype(np.float64)
    assert np.abs(np.diff(out, axis=1)).mean() < np.abs(np.diff(image.astype(np.float64), axis=1)).mean()


@pytest.mark.parametrize("level", [0, 120, 250])
def test_paste_crack_mask_is_exactly_the_changed_pixels(level):
    image = textured(level, seed=level)
    before = image.copy()
    pasted, mask = paste_crack(image, 3)
    assert pasted.dtype == np.uint8 and pasted.shape == image.shape
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) == {0, 1}
    assert 0 < mask.mean() <= 0.06
    # synth_defects' guarantee: mask == (defective != normal).any(axis=2), exactly
    np.testing.assert_array_equal((pasted != image).any(axis=2), mask.astype(bool))
    # every crack pixel differs by at least MIN_DELTA (20) grey levels in some channel
    diff = np.abs(pasted.astype(int) - image.astype(int)).max(axis=2)
    assert diff[mask == 1].min() >= 20
    np.testing.assert_array_equal(image, before)


def test_paste_crack_darkens_a_bright_cell():
    image = textured(180)
    pasted, mask = paste_crack(image, 0)
    assert pasted[mask == 1].astype(int).mean() < image[mask == 1].astype(int).mean() - 50


def test_paste_crack_is_seeded():
    image = textured(140, size=48)
    a, mask_a = paste_crack(image, 8)
    b, mask_b = paste_crack(image, 8)
    c, mask_c = paste_crack(image, 9)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert (mask_a != mask_c).any()


def test_intervene_uses_seed_plus_index():
    images = [textured(100, seed=i) for i in range(3)]
    changed, masks = intervene(FACTORS["defect"], images, seed=10)
    for i, (image, out, mask) in enumerate(zip(images, changed, masks, strict=True)):
        expected, expected_mask = paste_crack(image, 10 + i)
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(mask, expected_mask)
    changed, masks = intervene(FACTORS["darker"], images, seed=10)
    assert masks == [None, None, None]


# ---- factor_ces with a toy model: P(defective) = 1 - mean brightness ----

LEVELS = [40, 80, 120, 160, 200, 240]


class Toy:
    """P(defective) = 1 - mean intensity / 255; remembers what it was asked about."""

    def __init__(self) -> None:
        self.calls: list[list[np.ndarray]] = []

    def __call__(self, images):
        images = list(images)
        self.calls.append(images)
        p = np.array([1.0 - im.astype(np.float64).mean() / 255.0 for im in images])
        return np.stack([1.0 - p, p], axis=1)


@pytest.fixture
def flat_images():
    return [np.full((32, 32, 3), v, np.uint8) for v in LEVELS]


def test_factor_ces_darker_by_hand(flat_images):
    predict = Toy()
    p_clean = predict(flat_images)[:, 1]
    predict.calls.clear()
    # measured brightness deliberately not the images' own: the observational side must come from the table
    measurements = pd.DataFrame({"brightness": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7]})
    labels = np.array([0, 1, 0, 1, 0, 0])
    result = factor_ces(FACTORS["darker"], predict, flat_images, labels, measurements, p_clean, seed=1, n_boot=50)

    darker = np.round(np.array(LEVELS) * 7 / 10)  # all exact: 28, 56, 84, 112, 140, 168
    interventional = np.mean((1 - darker / 255) - (1 - np.array(LEVELS) / 255))
    dark = np.array([True, False, True, False, True, False])  # brightness below the median 0.5
    observational = p_clean[dark].mean() - p_clean[~dark].mean()
    assert result["factor"] == "darker" and result["description"] == FACTORS["darker"].description
    assert result["units"] == 6 and len(predict.calls) == 1 and len(predict.calls[0]) == 6
    assert result["interventional"] == pytest.approx(interventional)
    assert result["interventional"] == pytest.approx(0.3 * np.mean(LEVELS) / 255)
    assert result["observational"] == pytest.approx(observational)
    assert result["ces"] == pytest.approx(interventional - observational)
    assert result["ces_low"] <= result["ces_high"]
    assert np.isfinite([result["ces_low"], result["ces_high"]]).all()


def test_factor_ces_noise_uses_above_median(flat_images):
    predict = Toy()
    p_clean = predict(flat_images)[:, 1]
    measurements = pd.DataFrame({"noise": [5.0, 1.0, 4.0, 2.0, 6.0, 0.5]})  # median 3.0
    result = factor_ces(FACTORS["noise"], predict, flat_images, np.zeros(6, int), measurements, p_clean, n_boot=20)
    noisy = np.array([True, False, True, False, True, False])
    assert result["observational"] == pytest.approx(p_clean[noisy].mean() - p_clean[~noisy].mean())
    assert result["units"] == 6


def test_factor_ces_defect_units_are_the_functional_images(flat_images):
    predict = Toy()
    p_clean = predict(flat_images)[:, 1]
    predict.calls.clear()
    labels = np.array([0, 1, 0, 1, 0, 0])
    functional = np.flatnonzero(labels == 0)
    result = factor_ces(FACTORS["defect"], predict, flat_images, labels, pd.DataFrame(), p_clean, seed=3, n_boot=50)

    assert result["factor"] == "defect" and result["units"] == 4
    assert len(predict.calls) == 1
    asked = predict.calls[0]
    pasted = [paste_crack(flat_images[i], 3 + j)[0] for j, i in enumerate(functional)]
    assert len(asked) == 4
    for got, want in zip(asked, pasted, strict=True):
        np.testing.assert_array_equal(got, want)
    p_do = np.array([1 - im.astype(np.float64).mean() / 255 for im in pasted])
    interventional = np.mean(p_do - p_clean[functional])
    observational = p_clean[labels == 1].mean() - p_clean[labels == 0].mean()
    assert interventional > 0  # a dark crack raises the toy P(defective)
    assert result["interventional"] == pytest.approx(interventional)
    assert result["observational"] == pytest.approx(observational)
    assert result["ces"] == pytest.approx(interventional - observational)


def test_factor_ces_is_deterministic(flat_images):
    predict = Toy()
    p_clean = predict(flat_images)[:, 1]
    labels = np.array([0, 1, 0, 1, 0, 0])
    a = factor_ces(FACTORS["defect"], predict, flat_images, labels, pd.DataFrame(), p_clean, seed=2, n_boot=30)
    b = factor_ces(FACTORS["defect"], predict, flat_images, labels, pd.DataFrame(), p_clean, seed=2, n_boot=30)
    assert a == b
