"""Synthetic steel generator: determinism, the three layouts through their readers, exact masks, bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from defectlab.data.folder import read_folder
from defectlab.data.neu import NEU_CLASSES, read_neu
from defectlab.data.severstal import read_severstal
from defectlab.data.synth_steel import (
    LAYOUTS,
    MIN_SIDE,
    STEEL_DEFECTS,
    draw_steel_scene,
    generate_steel_dataset,
    steel_sample,
    steel_strip,
    write_folder_layout,
    write_neu_layout,
    write_severstal_layout,
)
from defectlab.data.synth_steel_defects import MIN_PIXELS, add_steel_defect
from defectlab.errors import ConfigError, DataError

SIZE = 64


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def test_class_order_is_neu_order() -> None:
    assert STEEL_DEFECTS == tuple(NEU_CLASSES)
    assert STEEL_DEFECTS[0] == "crazing" and STEEL_DEFECTS[5] == "scratches"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, layout: str) -> None:
    options = {"layout": layout, "n_per_class": 1, "n_good": 1, "size": SIZE, "width": 2 * SIZE, "height": SIZE}
    first = _files(generate_steel_dataset(tmp_path / "a" / "data", seed=3, **options).parent)
    second = _files(generate_steel_dataset(tmp_path / "b" / "data", seed=3, **options).parent)
    other = _files(generate_steel_dataset(tmp_path / "c" / "data", seed=4, **options).parent)
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first if name.endswith(".png"))


def test_neu_layout_round_trips_through_read_neu(tmp_path: Path) -> None:
    root = write_neu_layout(tmp_path / "neu", n_per_class=2, size=SIZE, seed=5, n_good=3)
    samples = read_neu(root)
    assert Counter(s.defect_type for s in samples) == {name: 2 for name in NEU_CLASSES}
    assert all(s.label == 1 and s.image.shape == (SIZE, SIZE, 3) for s in samples)
    assert (root / "crazing" / "Cr_1.png").is_file() and (root / "rolled-in_scale" / "RS_2.png").is_file()
    for sample in samples:
        name, index = sample.defect_type, int(Path(sample.id).stem.split("_")[-1])
        np.testing.assert_array_equal(sample.image, _rgb(steel_sample(name, index, SIZE, seed=5)[0]))
    good = sorted(path.name for path in (tmp_path / "neu_good").iterdir())
    assert good == ["good_1.png", "good_2.png", "good_3.png"]


def test_folder_layout_round_trips_through_read_folder(tmp_path: Path) -> None:
    root = write_folder_layout(tmp_path / "steel", n_per_class=2, n_good=3, size=SIZE, seed=5)
    samples = read_folder(root)
    assert Counter(s.defect_type for s in samples) == {"good": 3} | {name: 2 for name in STEEL_DEFECTS}
    for sample in samples:
        index = int(Path(sample.id).stem.split("_")[-1])
        image, mask = steel_sample(sample.defect_type, index, SIZE, seed=5)
        np.testing.assert_array_equal(sample.image, _rgb(image))
        if sample.defect_type == "good":
            assert sample.label == 0 and sample.mask is None and not mask.any()
        else:
            assert sample.label == 1 and sample.mask is not None
            assert sample.mask.sum() >= MIN_PIXELS
            np.testing.assert_array_equal(sample.mask, mask)


def test_severstal_layout_round_trips_through_read_severstal(tmp_path: Path) -> None:
    width, height = 3 * SIZE, SIZE
    root = write_severstal_layout(tmp_path / "sev", n_per_class=1, n_good=2, width=width, height=height, seed=5)
    with (root / "train.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(row["ClassId"]) for row in rows) == [1, 2, 3, 4, 5, 6]
    class_of = {row["ImageId"]: STEEL_DEFECTS[int(row["ClassId"]) - 1] for row in rows}
    samples = read_severstal(root)
    assert len(samples) == 8
    for sample in (s for s in samples if s.id in class_of):
        name = class_of[sample.id]
        image, mask = steel_strip(name, 1, width, height, seed=5)
        np.testing.assert_array_equal(sample.image, _rgb(image))
        assert sample.label == 1 and sample.defect_type == str(STEEL_DEFECTS.index(name) + 1)
        assert sample.mask is not None and sample.mask.any()
        np.testing.assert_array_equal(sample.mask, mask)
    good = [s for s in samples if s.id not in class_of]
    assert all(s.label == 0 and s.mask is None and s.defect_type == "good" for s in good)
    expected = {_rgb(steel_strip("good", index, width, height, seed=5)[0]).tobytes() for index in (1, 2)}
    assert {s.image.tobytes() for s in good} == expected


@pytest.mark.parametrize("defect_type", STEEL_DEFECTS)
@pytest.mark.parametrize("shape", [(SIZE, SIZE), (96, 200)])
def test_defect_changes_pixels_only_inside_its_mask(defect_type: str, shape: tuple[int, int]) -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        scene = draw_steel_scene(*shape, rng)
        reflectance, mask = add_steel_defect(scene.reflectance, defect_type, rng)
        good, bad = scene.render().astype(int), scene.render(reflectance).astype(int)
        changed = good != bad
        assert mask.dtype == np.uint8 and mask.shape == shape and mask.sum() >= MIN_PIXELS
        assert not (changed & (mask == 0)).any()
        assert changed.sum() >= 0.7 * mask.sum()
        assert np.abs(bad - good)[mask == 1].mean() >= 2.0


def test_backgrounds_vary_and_masks_stay_small_enough() -> None:
    means = [steel_sample("good", index, SIZE)[0].mean() for index in range(1, 9)]
    assert np.ptp(means) > 20  # per-image brightness varies
    areas = [steel_sample(name, index, SIZE)[1].mean() for name in STEEL_DEFECTS for index in range(1, 4)]
    assert 0.0 < min(areas) and max(areas) < 0.6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_per_class": 0}, "at least 1 image per defect type"),
        ({"n_good": -1}, "n_good"),
        ({"size": MIN_SIDE - 1}, f"size must be at least {MIN_SIDE} pixels"),
        ({"layout": "severstal", "height": 32}, f"height must be at least {MIN_SIDE} pixels"),
        ({"layout": "severstal", "n_per_class": 0}, "at least 1 image per defect type"),
        ({"layout": "neu", "size": 16}, "size must be at least"),
        ({"layout": "mvtec"}, "unknown steel dataset layout 'mvtec'; valid: folder, neu, severstal"),
    ],
)
def test_bad_arguments_raise_config_error(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_steel_dataset(tmp_path / "out", **{"n_per_class": 1, "n_good": 1, **options})
    assert not (tmp_path / "out").exists()


def test_unknown_defect_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown steel defect type 'dent'; valid: crazing, inclusion"):
        steel_sample("dent", 1, SIZE)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    options = {"n_per_class": 1, "n_good": 0, "size": SIZE}
    root = generate_steel_dataset(tmp_path / "out", **options)
    with pytest.raises(DataError, match="already exists"):
        generate_steel_dataset(root, **options)
    generate_steel_dataset(root, n_per_class=1, n_good=1, size=SIZE, overwrite=True)
    assert (root / "good" / "good_1.png").is_file()
