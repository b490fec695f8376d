"""Shift suite: contracts of every corruption, determinism, masks, severities, bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest

from defectlab.errors import ConfigError, DataError
from defectlab.shift import CORRUPTIONS, apply_corruption, corruption_kind, corruption_table

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
MASK = np.zeros((48, 64), dtype=np.uint8)
MASK[10:20, 30:45] = 1
MASK[35:40, 5:9] = 1
GEOMETRIC = [n for n in CORRUPTIONS if corruption_kind(n) == "geometric"]
PHOTOMETRIC = [n for n in CORRUPTIONS if corruption_kind(n) == "photometric"]
EXPECTED = {
    "rotation", "resized_crop", "translation", "hflip", "vflip",
    "brightness", "contrast", "saturation", "gamma", "gaussian_blur", "motion_blur",
    "defocus_blur", "gaussian_noise", "salt_and_pepper", "jpeg", "vignetting", "style",
    "imagenet_c_brightness", "imagenet_c_contrast", "imagenet_c_defocus_blur", "imagenet_c_gaussian_noise",
    "imagenet_c_shot_noise", "imagenet_c_motion_blur", "imagenet_c_pixelate",
}  # fmt: skip


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _square() -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), dtype=np.uint8)
    image[20:44, 22:40] = 255
    mask[20:44, 22:40] = 1
    return image, mask


def test_registry_names_and_kinds() -> None:
    assert set(CORRUPTIONS) == EXPECTED
    assert len(CORRUPTIONS) == len(EXPECTED)
    assert set(GEOMETRIC) == {"rotation", "resized_crop", "translation", "hflip", "vflip"}
    assert CORRUPTIONS[: len(GEOMETRIC)] == tuple(GEOMETRIC)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_has_five_severities_and_is_documented(name: str) -> None:
    table = corruption_table(name)
    assert sorted(table) == [1, 2, 3, 4, 5]
    assert len({tuple(sorted(p)) for p in table.values()}) == 1
    table[1] = {}
    assert corruption_table(name)[1]  # a copy: the registry is not mutated


def test_documented_defaults_at_severity_3() -> None:
    assert corruption_table("rotation")[3] == {"degrees": (-10.0, 10.0)}
    assert corruption_table("resized_crop")[3]["scale"] == (0.9, 1.0)
    for name in ("brightness", "contrast", "saturation"):
        assert corruption_table(name)[3] == {"factor": (0.7, 1.3)}
    assert corruption_table("gaussian_blur")[3]["kernel"] == (3, 5)
    assert corruption_table("gaussian_noise")[3] == {"sigma_of_255": (0.01, 0.05)}


def test_docstrings_show_the_table() -> None:
    from defectlab.shift import appearance, geometric, photometric

    assert "| 3 | (-10.0, 10.0) |" in (geometric.rotation.__doc__ or "")
    assert "| 3 | (0.01, 0.05) |" in (photometric.gaussian_noise.__doc__ or "")
    assert "Severity table" in (appearance.style.__doc__ or "")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_severity_keeps_dtype_shape_and_binary_mask(name: str) -> None:
    for severity in range(1, 6):
        image, mask = apply_corruption(IMAGE, MASK, name, severity, seed=7)
        assert image.dtype == np.uint8 and image.shape == IMAGE.shape
        assert mask is not None and mask.dtype == np.uint8 and mask.shape == MASK.shape
        assert set(np.unique(mask)) <= {0, 1}
        only_image, no_mask = apply_corruption(IMAGE, None, name, severity, seed=7)
        assert no_mask is None
        np.testing.assert_array_equal(only_image, image)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_deterministic_and_seed_sensitive(name: str) -> None:
    random.seed(1)
    np.random.seed(1)
    first = apply_corruption(IMAGE.copy(), MASK.copy(), name, 4, seed=3)
    random.seed(2)  # global random state must not matter
    np.random.seed(2)
    second = apply_corruption(IMAGE.copy(), MASK.copy(), name, 4, seed=3)
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1] is not None and second[1] is not None
    assert first[1].tobytes() == second[1].tobytes()
    no_random = {"hflip", "vflip", "style"} | {f"imagenet_c_{n}" for n in ("brightness", "contrast", "defocus_blur", "pixelate")}
    if name not in no_random:
        others = [apply_corruption(IMAGE, MASK, name, 4, seed=s)[0] for s in (4, 5, 6)]
        assert any(o.tobytes() != first[0].tobytes() for o in others)


def test_inputs_are_not_modified() -> None:
    image, mask = IMAGE.copy(), MASK.copy()
    for name in CORRUPTIONS:
        apply_corruption(image, mask, name, 5, seed=1)
    np.testing.assert_array_equal(image, IMAGE)
    np.testing.assert_array_equal(mask, MASK)


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_leaves_mask_identical(name: str) -> None:
    for severity in (1, 3, 5):
        image, mask = apply_corruption(IMAGE, MASK, name, severity, seed=2)
        np.testing.assert_array_equal(mask, MASK)
        assert not np.array_equal(image, IMAGE)


def test_flips_flip_image_and_mask_exactly() -> None:
    image, mask = apply_corruption(IMAGE, MASK, "hflip", 2, seed=0)
    np.testing.assert_array_equal(image, IMAGE[:, ::-1])
    np.testing.assert_array_equal(mask, MASK[:, ::-1])
    image, mask = apply_corruption(IMAGE, MASK, "vflip", 5, seed=0)
    np.testing.assert_array_equal(image, IMAGE[::-1])
    np.testing.assert_array_equal(mask, MASK[::-1])


@pytest.mark.parametrize("name", ["rotation", "resized_crop", "translation"])
def test_geometric_mask_follows_bright_square(name: str) -> None:
    clean, clean_mask = _square()
    moved_any = False
    for severity in range(1, 6):
        for seed in range(3):
            image, mask = apply_corruption(clean, clean_mask, name, severity, seed)
            assert mask is not None
            bright = image[..., 0] > 127
            iou = (bright & (mask == 1)).sum() / (bright | (mask == 1)).sum()
            assert iou > 0.9, (severity, seed, iou)
            moved_any |= not np.array_equal(mask, clean_mask)
    assert moved_any


def test_rotation_angle_grows_with_severity() -> None:
    clean, clean_mask = _square()
    masks = [apply_corruption(clean, clean_mask, "rotation", s, seed=11)[1] for s in range(1, 6)]
    changed = [int((m != clean_mask).sum()) for m in masks]
    assert changed == sorted(changed) and changed[-1] > changed[0]


@pytest.mark.parametrize("name", ["gaussian_noise", "gaussian_blur", "brightness", "salt_and_pepper", "jpeg"])
def test_damage_grows_with_severity(name: str) -> None:
    rng = np.random.default_rng(1)
    smooth = np.repeat(np.repeat(rng.integers(60, 190, (12, 16, 3)), 4, axis=0), 4, axis=1)
    clean = (smooth + rng.integers(-20, 21, smooth.shape)).astype(np.uint8)
    for seed in (0, 1):
        mads = [_mad(apply_corruption(clean, None, name, s, seed)[0], clean) for s in range(1, 6)]
        assert all(a < b for a, b in zip(mads, mads[1:], strict=False)), (seed, mads)


def test_style_blend_grows_with_severity() -> None:
    mads = [_mad(apply_corruption(IMAGE, None, "style", s, 0)[0], IMAGE) for s in range(1, 6)]
    assert all(a < b for a, b in zip(mads, mads[1:], strict=False))


def test_vignetting_darkens_corners_not_centre() -> None:
    flat = np.full((40, 40, 3), 200, dtype=np.uint8)
    image, _ = apply_corruption(flat, None, "vignetting", 5, seed=0)
    assert image[0, 0, 0] < 120 and image[20, 20, 0] > 180


@pytest.mark.parametrize("name", ["nope", "Rotation", ""])
def test_unknown_name_is_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="unknown corruption"):
        apply_corruption(IMAGE, MASK, name, 3, seed=0)
    with pytest.raises(ConfigError):
        corruption_table(name)


@pytest.mark.parametrize("severity", [0, 6, -1, 3.0, True, "3"])
def test_bad_severity_is_config_error(severity: object) -> None:
    with pytest.raises(ConfigError, match="severity"):
        apply_corruption(IMAGE, MASK, "gaussian_noise", severity, seed=0)  # type: ignore[arg-type]


def test_numpy_integer_severity_and_seed_accepted() -> None:
    severity, seed = np.int64(3), np.int64(4)
    a = apply_corruption(IMAGE, MASK, "gaussian_noise", severity, seed)  # type: ignore[arg-type]
    b = apply_corruption(IMAGE, MASK, "gaussian_noise", 3, seed=4)
    assert a[0].tobytes() == b[0].tobytes()


def test_negative_seed_is_config_error() -> None:
    with pytest.raises(ConfigError, match="seed"):
        apply_corruption(IMAGE, MASK, "rotation", 3, seed=-1)


@pytest.mark.parametrize(
    "image",
    [
        IMAGE.astype(np.float32),
        IMAGE.astype(np.uint16),
        IMAGE[..., 0],
        IMAGE[..., :1],
        np.concatenate([IMAGE, IMAGE[..., :1]], axis=2),
        np.zeros((0, 5, 3), dtype=np.uint8),
        IMAGE.tolist(),
    ],
    ids=["float32", "uint16", "gray2d", "one-channel", "rgba", "empty", "list"],
)
def test_bad_image_is_data_error(image: object) -> None:
    with pytest.raises(DataError, match="image"):
        apply_corruption(image, None, "rotation", 3, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "mask",
    [MASK[:-1], MASK.astype(bool), MASK * 255, MASK[..., None]],
    ids=["wrong-size", "bool", "0-255", "3d"],
)
def test_bad_mask_is_data_error(mask: np.ndarray) -> None:
    with pytest.raises(DataError, match="mask"):
        apply_corruption(IMAGE, mask, "hflip", 3, seed=0)


def test_non_contiguous_input_matches_contiguous() -> None:
    wide = np.zeros((48, 128, 3), dtype=np.uint8)
    wide[:, ::2] = IMAGE
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    for name in ("rotation", "gaussian_noise", "style"):
        a = apply_corruption(strided, MASK, name, 3, seed=0)
        b = apply_corruption(IMAGE, MASK, name, 3, seed=0)
        assert a[0].tobytes() == b[0].tobytes()
