"""Severstal steel reader: CSV labels, run-length masks, defect-free images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defectlab.data.rle import rle_encode
from defectlab.data.severstal import read_severstal
from defectlab.errors import DataError

SHAPE = (6, 10)


def _region(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[rows, cols] = 1
    return mask


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "train_images").mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        Image.fromarray(np.full((*SHAPE, 3), 100, np.uint8)).save(tmp_path / "train_images" / name, "JPEG")
    first, third, other = (
        _region(slice(0, 2), slice(0, 3)),
        _region(slice(4, 6), slice(5, 9)),
        _region(slice(2, 3), slice(0, 10)),
    )
    lines = [
        "ImageId,ClassId,EncodedPixels",
        f"a.jpg,1,{rle_encode(first)}",
        f"a.jpg,3,{rle_encode(third)}",
        f"c.jpg,2,{rle_encode(other)}",
        "c.jpg,4,",
    ]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_labels_masks_and_types(root: Path) -> None:
    samples = read_severstal(root)
    assert [s.id for s in samples] == ["a.jpg", "b.jpg", "c.jpg"]
    a, b, c = samples
    assert (a.label, a.defect_type, a.metadata["class_ids"]) == (1, "1+3", [1, 3])
    assert a.mask is not None
    np.testing.assert_array_equal(a.mask, _region(slice(0, 2), slice(0, 3)) | _region(slice(4, 6), slice(5, 9)))
    assert (b.label, b.defect_type, b.mask, b.metadata["class_ids"]) == (0, "good", None, [])
    assert (c.label, c.defect_type) == (1, "2")
    assert c.mask is not None and c.mask.sum() == 10
    assert {s.category for s in samples} == {"severstal"}


def test_image_listed_but_absent(root: Path) -> None:
    (root / "train_images" / "c.jpg").unlink()
    with pytest.raises(DataError, match="absent from.*c.jpg"):
        read_severstal(root)


def test_missing_csv_and_folders(root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_severstal(tmp_path / "none")
    (root / "train.csv").unlink()
    with pytest.raises(DataError, match="label file not found.*train.csv"):
        read_severstal(root)


def test_missing_or_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("ImageId,ClassId,EncodedPixels\n")
    with pytest.raises(DataError, match="image folder not found"):
        read_severstal(tmp_path)
    (tmp_path / "train_images").mkdir()
    with pytest.raises(DataError, match="no images in"):
        read_severstal(tmp_path)


def test_wrong_columns(root: Path) -> None:
    (root / "train.csv").write_text("ImageId_ClassId,EncodedPixels\na.jpg_1,1 2\n")
    with pytest.raises(DataError, match="must have the columns ImageId, ClassId, EncodedPixels"):
        read_severstal(root)


def test_bad_class_id(root: Path) -> None:
    (root / "train.csv").write_text("ImageId,ClassId,EncodedPixels\na.jpg,one,1 2\n")
    with pytest.raises(DataError, match="line 2: ClassId must be an integer"):
        read_severstal(root)


def test_bad_run_length(root: Path) -> None:
    (root / "train.csv").write_text("ImageId,ClassId,EncodedPixels\nb.jpg,2,1 999\n")
    with pytest.raises(DataError, match="b.jpg class 2: .*outside a 6x10 mask"):
        read_severstal(root)
