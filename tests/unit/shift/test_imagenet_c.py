"""ImageNet-C corruptions through the registry equal the `imagecorruptions` package's own output."""

from __future__ import annotations

import numpy as np
import pytest
from imagecorruptions import corrupt

from defectlab.shift import CORRUPTIONS, apply_corruption, corruption_kind
from defectlab.shift.imagenet_c import NAMES, PREFIX


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return (np.random.default_rng(3).random((48, 56, 3)) * 255).astype(np.uint8)


def test_every_name_is_registered_as_photometric() -> None:
    for name in NAMES:
        assert f"{PREFIX}{name}" in CORRUPTIONS
        assert corruption_kind(f"{PREFIX}{name}") == "photometric"


@pytest.mark.parametrize("name", ["brightness", "contrast", "defocus_blur", "pixelate"])
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_deterministic_corruptions_match_the_package(image: np.ndarray, name: str, severity: int) -> None:
    ours, _ = apply_corruption(image, None, f"{PREFIX}{name}", severity, seed=0)
    reference = np.clip(np.round(np.asarray(corrupt(image, corruption_name=name, severity=severity), float)), 0, 255)
    np.testing.assert_array_equal(ours, reference.astype(np.uint8))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "motion_blur"])
def test_random_corruptions_are_seeded_and_leave_the_global_generator_alone(image: np.ndarray, name: str) -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, _ = apply_corruption(image, None, f"{PREFIX}{name}", 3, seed=7)
    b, _ = apply_corruption(image, None, f"{PREFIX}{name}", 3, seed=7)
    c, _ = apply_corruption(image, None, f"{PREFIX}{name}", 3, seed=8)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_noise_strength_grows_with_severity(image: np.ndarray) -> None:
    gray = np.full_like(image, 128)
    spread = [apply_corruption(gray, None, f"{PREFIX}gaussian_noise", s, seed=1)[0].std() for s in (1, 3, 5)]
    assert spread[0] < spread[1] < spread[2]


def test_mask_is_passed_through(image: np.ndarray) -> None:
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[5:9, 10:20] = 1
    out, out_mask = apply_corruption(image, mask, f"{PREFIX}defocus_blur", 3, seed=0)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out_mask, mask)
