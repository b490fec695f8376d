"""Materialized shifted datasets: same layout, masks moved with images, determinism, mirrored splits."""

import numpy as np
import pytest

from defectlab.data.imageio import load_image, load_mask
from defectlab.data.mvtec import read_mvtec
from defectlab.data.splits import Split, make_split
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.errors import ConfigError, DataError
from defectlab.shift.materialize import image_seed, materialize_shift, shifted_id


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    generate_synthetic_dataset(root, ("texture",), n_train=4, n_test_good=2, n_test_defect_per_type=1, size=64, seed=5)
    return root


def test_flip_moves_images_and_masks_exactly(clean, tmp_path):
    out = materialize_shift(clean, tmp_path / "flip", corruption="hflip", seed=3)
    for sample in read_mvtec(clean, "texture"):
        shifted = load_image(out / "texture" / shifted_id(sample.id))
        np.testing.assert_array_equal(shifted, sample.image[:, ::-1])
        if sample.label == 1:
            defect, stem = sample.id.split("/")[1], sample.id.split("/")[2].rsplit(".", 1)[0]
            mask = load_mask(out / "texture" / "ground_truth" / defect / f"{stem}_mask.png", shifted.shape[:2])
            np.testing.assert_array_equal(mask, sample.mask[:, ::-1])
    assert (out / "shift.json").is_file()


def test_same_seed_same_bytes_and_layout(clean, tmp_path, tree_digest):
    a = materialize_shift(clean, tmp_path / "a", preset="mvtec-shift", seed=7)
    b = materialize_shift(clean, tmp_path / "b", preset="mvtec-shift", seed=7)
    c = materialize_shift(clean, tmp_path / "c", preset="mvtec-shift", seed=8)
    assert tree_digest(a) == tree_digest(b) != tree_digest(c)
    shifted = {s.id for s in read_mvtec(a, "texture")}
    assert shifted == {shifted_id(s.id) for s in read_mvtec(clean, "texture")}


def test_split_is_mirrored_one_to_one(clean, tmp_path):
    split = make_split(read_mvtec(clean, "texture"), "mvtec", 42)
    split.save(tmp_path / "clean.split.json")
    out = materialize_shift(
        clean,
        tmp_path / "s",
        corruption="gaussian_noise",
        severity=2,
        categories=["texture"],
        splits={"texture": tmp_path / "clean.split.json"},
    )
    mirrored = Split.load(out / "texture.split.json")
    assert mirrored.train == [shifted_id(i) for i in split.train]
    assert mirrored.test == [shifted_id(i) for i in split.test]
    assert (mirrored.seed, mirrored.rule) == (split.seed, split.rule)


def test_image_seed_depends_on_identity_only():
    assert image_seed(1, "a", "x.png") == image_seed(1, "a", "x.png")
    assert (
        len({image_seed(1, "a", "x.png"), image_seed(2, "a", "x.png"), image_seed(1, "b", "x.png"), image_seed(1, "a", "y.png")})
        == 4
    )


def test_bad_requests(clean, tmp_path):
    with pytest.raises(ConfigError, match="exactly one"):
        materialize_shift(clean, tmp_path / "x", corruption="hflip", preset="mvtec-shift")
    with pytest.raises(ConfigError, match="exactly one"):
        materialize_shift(clean, tmp_path / "x")
    with pytest.raises(ConfigError):
        materialize_shift(clean, tmp_path / "y", corruption="nope")
    assert not (tmp_path / "y" / "texture").exists()
    assert not list((tmp_path / "y").glob(".*partial"))
    (tmp_path / "z" / "texture").mkdir(parents=True)
    (tmp_path / "z" / "texture" / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        materialize_shift(clean, tmp_path / "z", corruption="hflip")
