"""Synthetic MVTec-layout generator: determinism, exact masks, readable by the MVTec reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defectlab.data.mvtec import list_mvtec_categories, read_mvtec
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.data.synth_defects import DEFECT_TYPES, MAX_AREA, MIN_AREA, MIN_DELTA, add_defect
from defectlab.data.synth_normals import KINDS, draw_scene, draw_style, to_uint8
from defectlab.errors import ConfigError, DataError

SMALL = {"n_train": 3, "n_test_good": 2, "n_test_defect_per_type": 2, "size": 64}


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_layout_and_reader(tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path / "synth", **SMALL)
    assert root == tmp_path / "synth"
    assert list_mvtec_categories(root) == ["object", "texture"]
    for category in KINDS:
        samples = read_mvtec(root, category)
        assert len(samples) == 3 + 2 + 2 * len(DEFECT_TYPES)
        assert {s.defect_type for s in samples} == {"good", *DEFECT_TYPES}
        assert all(s.image.shape == (64, 64, 3) for s in samples)
        for sample in samples:
            if sample.label:
                assert sample.mask is not None
                area = sample.mask.sum() / sample.mask.size
                assert MIN_AREA <= area <= MAX_AREA
            else:
                assert sample.mask is None
    mask_file = root / "texture" / "ground_truth" / "crack" / "000_mask.png"
    assert mask_file.is_file()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = _files(generate_synthetic_dataset(tmp_path / "a", seed=3, **SMALL))
    second = _files(generate_synthetic_dataset(tmp_path / "b", seed=3, **SMALL))
    other = _files(generate_synthetic_dataset(tmp_path / "c", seed=4, **SMALL))
    assert first == second
    assert first.keys() == other.keys() and first != other


def test_categories_do_not_depend_on_each_other(tmp_path: Path) -> None:
    both = _files(generate_synthetic_dataset(tmp_path / "a", ("texture", "object"), **SMALL) / "object")
    alone = _files(generate_synthetic_dataset(tmp_path / "b", ("object",), **SMALL) / "object")
    assert both == alone


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("defect_type", DEFECT_TYPES)
def test_mask_is_exactly_the_changed_pixels(kind: str, defect_type: str) -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        scene = draw_scene(draw_style(kind, rng), 96, rng)
        image, mask = add_defect(scene, defect_type, rng)
        good = to_uint8(scene.image)
        changed = (image != good).any(axis=2)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
        np.testing.assert_array_equal(mask.astype(bool), changed)
        delta = np.abs(image.astype(int) - good.astype(int)).max(axis=2)
        assert delta[changed].min() >= MIN_DELTA
        assert not (mask.astype(bool) & ~scene.support).any()
        assert MIN_AREA <= mask.mean() <= MAX_AREA


def test_normal_images_vary_but_share_a_style() -> None:
    rng = np.random.default_rng(0)
    style = draw_style("object", rng)
    first, second = (to_uint8(draw_scene(style, 64, rng).image) for _ in range(2))
    assert not np.array_equal(first, second)
    assert abs(first.astype(float).mean() - second.astype(float).mean()) < 10


def test_named_categories_of_one_kind_look_different(tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path, {"tile": "texture", "carpet": "texture"}, **SMALL)
    tile, carpet = (read_mvtec(root, name)[0].image for name in ("tile", "carpet"))
    assert not np.array_equal(tile, carpet)


def test_subset_of_defect_types(tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path, ("texture",), defect_types=("hole",), **SMALL)
    assert sorted(p.name for p in (root / "texture" / "test").iterdir()) == ["good", "hole"]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    generate_synthetic_dataset(tmp_path, ("texture",), **SMALL)
    (tmp_path / "texture" / "stale.txt").write_text("old")
    with pytest.raises(DataError, match="already exists"):
        generate_synthetic_dataset(tmp_path, ("texture",), **SMALL)
    generate_synthetic_dataset(tmp_path, ("texture",), overwrite=True, **SMALL)
    assert not (tmp_path / "texture" / "stale.txt").exists()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"categories": ("wood",)}, "'wood' is not a kind"),
        ({"categories": {"wood": "plank"}}, "unknown kind 'plank'"),
        ({"categories": {"a/b": "texture"}}, "not a valid folder name"),
        ({"categories": ()}, "no synthetic categories"),
        ({"n_train": 0}, "n_train >= 1"),
        ({"size": 16}, "at least 32"),
        ({"defect_types": ("dent",)}, "'dent'"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        generate_synthetic_dataset(tmp_path, **options)  # type: ignore[arg-type]
