"""Shift presets: the mvtec-shift recipe."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.errors import ConfigError, DataError
from defectlab.shift import PRESETS, apply_corruption, apply_preset

RNG = np.random.default_rng(3)
IMAGE = RNG.integers(0, 256, (40, 56, 3), dtype=np.uint8)
MASK = np.zeros((40, 56), dtype=np.uint8)
MASK[8:20, 10:30] = 1


def test_presets_listed() -> None:
    assert PRESETS == ("mvtec-shift", "mvtec-shift-geometric", "mvtec-shift-photometric")


@pytest.mark.parametrize("half", ["mvtec-shift-geometric", "mvtec-shift-photometric"])
def test_halves_compose_to_the_full_recipe(half: str) -> None:
    geometric, geo_mask = apply_preset(IMAGE, MASK, "mvtec-shift-geometric", seed=4)
    full, full_mask = apply_preset(IMAGE, MASK, "mvtec-shift", seed=4)
    both, both_mask = apply_preset(geometric, geo_mask, "mvtec-shift-photometric", seed=4)
    assert both.tobytes() == full.tobytes()
    assert both_mask is not None and full_mask is not None and both_mask.tobytes() == full_mask.tobytes()
    out, out_mask = apply_preset(IMAGE, MASK, half, seed=4)
    assert out_mask is not None
    # only the geometric half moves the mask
    assert (out_mask.tobytes() == MASK.tobytes()) == (half == "mvtec-shift-photometric")


def test_mvtec_shift_contract_and_determinism() -> None:
    image, mask = apply_preset(IMAGE, MASK, "mvtec-shift", seed=5)
    again, mask_again = apply_preset(IMAGE, MASK, "mvtec-shift", seed=5)
    assert image.dtype == np.uint8 and image.shape == IMAGE.shape
    assert mask is not None and mask_again is not None
    assert mask.shape == MASK.shape and set(np.unique(mask)) <= {0, 1}
    assert image.tobytes() == again.tobytes() and mask.tobytes() == mask_again.tobytes()
    assert image.tobytes() != apply_preset(IMAGE, MASK, "mvtec-shift", seed=6)[0].tobytes()


def test_mvtec_shift_is_the_documented_steps() -> None:
    image, mask = IMAGE, MASK
    steps = ("rotation", "resized_crop", "brightness", "contrast", "saturation")
    for name in (*steps, "gaussian_blur", "gaussian_noise"):
        image, mask = apply_corruption(image, mask, name, 3, seed=9)
    preset_image, preset_mask = apply_preset(IMAGE, MASK, "mvtec-shift", seed=9)
    assert preset_image.tobytes() == image.tobytes()
    assert preset_mask is not None and mask is not None and preset_mask.tobytes() == mask.tobytes()


def test_mvtec_shift_mask_tracks_bright_square() -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), dtype=np.uint8)
    image[18:46, 20:44] = 255
    mask[18:46, 20:44] = 1
    for seed in range(5):
        out, out_mask = apply_preset(image, mask, "mvtec-shift", seed)
        assert out_mask is not None
        bright = out.mean(axis=2) > 127
        assert (bright & (out_mask == 1)).sum() / (bright | (out_mask == 1)).sum() > 0.85


def test_unknown_preset_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        apply_preset(IMAGE, MASK, "imagenet-c", seed=0)


def test_bad_image_in_preset_is_data_error() -> None:
    with pytest.raises(DataError):
        apply_preset(IMAGE.astype(np.float64), MASK, "mvtec-shift", seed=0)
