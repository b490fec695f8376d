"""MVTec AD reader on a tiny hand-built tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defectlab.data.imageio import save_image, save_mask
from defectlab.data.mvtec import list_mvtec_categories, read_mvtec
from defectlab.errors import DataError

SHAPE = (8, 6)


def _image(value: int) -> np.ndarray:
    return np.full((*SHAPE, 3), value, dtype=np.uint8)


def _mask(row: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[row, 1:3] = 1
    return mask


@pytest.fixture
def mvtec_root(tmp_path: Path) -> Path:
    base = tmp_path / "mvtec" / "widget"
    for index in range(3):
        save_image(base / "train" / "good" / f"{index:03d}.png", _image(10 + index))
    save_image(base / "test" / "good" / "000.png", _image(50))
    for index in range(2):
        save_image(base / "test" / "crack" / f"{index:03d}.png", _image(100 + index))
        save_mask(base / "ground_truth" / "crack" / f"{index:03d}_mask.png", _mask(index))
    save_image(base / "test" / "dent" / "000.png", _image(150))
    (base / "train" / "good" / ".DS_Store").write_bytes(b"junk")
    (base / "train" / "good" / "readme.txt").write_text("not an image")
    save_image(tmp_path / "mvtec" / "other" / "train" / "good" / "000.png", _image(1))
    (tmp_path / "mvtec" / "not_a_category").mkdir()
    return tmp_path / "mvtec"


def test_reads_train_and_test(mvtec_root: Path) -> None:
    samples = read_mvtec(mvtec_root, "widget")
    assert [s.id for s in samples] == [
        "train/good/000.png",
        "train/good/001.png",
        "train/good/002.png",
        "test/crack/000.png",
        "test/crack/001.png",
        "test/dent/000.png",
        "test/good/000.png",
    ]
    assert [s.label for s in samples] == [0, 0, 0, 1, 1, 1, 0]
    assert [s.metadata["subset"] for s in samples] == ["train"] * 3 + ["test"] * 4
    assert {s.category for s in samples} == {"widget"}
    assert [s.defect_type for s in samples][3:] == ["crack", "crack", "dent", "good"]
    assert samples[1].image[0, 0, 0] == 11 and samples[1].image.shape == (*SHAPE, 3)
    assert samples[0].path is not None and Path(samples[0].path).is_file()


def test_masks(mvtec_root: Path) -> None:
    by_id = {s.id: s for s in read_mvtec(mvtec_root, "widget")}
    crack = by_id["test/crack/001.png"].mask
    assert crack is not None and crack.dtype == np.uint8
    np.testing.assert_array_equal(crack, _mask(1))
    assert by_id["test/good/000.png"].mask is None
    assert by_id["train/good/000.png"].mask is None
    assert by_id["test/dent/000.png"].mask is None  # no ground_truth/dent folder


def test_list_categories(mvtec_root: Path) -> None:
    assert list_mvtec_categories(mvtec_root) == ["other", "widget"]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found.*nowhere"):
        read_mvtec(tmp_path / "nowhere", "widget")
    with pytest.raises(DataError, match="nowhere"):
        list_mvtec_categories(tmp_path / "nowhere")


def test_root_without_categories(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no MVTec categories"):
        list_mvtec_categories(tmp_path)


def test_missing_category_lists_what_is_there(mvtec_root: Path) -> None:
    with pytest.raises(DataError, match="'bottle' not found.*other, widget"):
        read_mvtec(mvtec_root, "bottle")


def test_category_without_training_images(mvtec_root: Path) -> None:
    with pytest.raises(DataError, match="no training images"):
        read_mvtec(mvtec_root, "not_a_category")
    empty = mvtec_root / "empty" / "train" / "good"
    empty.mkdir(parents=True)
    (empty / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=f"'empty' has no training images in {empty}"):
        read_mvtec(mvtec_root, "empty")


def test_missing_mask_in_existing_ground_truth_folder(mvtec_root: Path) -> None:
    (mvtec_root / "widget" / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(DataError, match="mask not found.*001_mask.png"):
        read_mvtec(mvtec_root, "widget")


def test_mask_of_wrong_size(mvtec_root: Path) -> None:
    save_mask(mvtec_root / "widget" / "ground_truth" / "crack" / "000_mask.png", np.ones((4, 4), np.uint8))
    with pytest.raises(DataError, match="000_mask.png is 4x4"):
        read_mvtec(mvtec_root, "widget")


def test_corrupt_image_is_named(mvtec_root: Path) -> None:
    bad = mvtec_root / "widget" / "test" / "dent" / "001.png"
    bad.write_bytes(b"")
    with pytest.raises(DataError, match=str(bad)):
        read_mvtec(mvtec_root, "widget")
