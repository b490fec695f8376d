"""Format dispatch in read_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defectlab.data import elpv
from defectlab.data.formats import FORMATS, read_dataset
from defectlab.data.imageio import save_image
from defectlab.errors import ConfigError

IMAGE = np.full((4, 4, 3), 7, np.uint8)


def test_format_names() -> None:
    assert FORMATS == ("mvtec", "folder", "neu", "severstal", "elpv")


def test_unknown_format_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'coco'.*mvtec, folder, neu, severstal, elpv"):
        read_dataset(tmp_path, "coco")


def test_mvtec(tmp_path: Path) -> None:
    save_image(tmp_path / "cat" / "train" / "good" / "0.png", IMAGE)
    assert [s.id for s in read_dataset(tmp_path, "mvtec", "cat")] == ["train/good/0.png"]
    with pytest.raises(ConfigError, match="needs a category.*cat"):
        read_dataset(tmp_path, "mvtec")


def test_folder(tmp_path: Path) -> None:
    save_image(tmp_path / "line1" / "good" / "0.png", IMAGE)
    assert [s.category for s in read_dataset(tmp_path / "line1", "folder")] == ["line1"]
    assert [s.id for s in read_dataset(tmp_path, "folder", "line1")] == ["good/0.png"]


def test_neu_and_severstal(tmp_path: Path) -> None:
    save_image(tmp_path / "neu" / "Cr_1.png", IMAGE)
    assert [s.defect_type for s in read_dataset(tmp_path / "neu", "neu")] == ["crazing"]
    save_image(tmp_path / "steel" / "train_images" / "x.png", IMAGE)
    (tmp_path / "steel" / "train.csv").write_text("ImageId,ClassId,EncodedPixels\n")
    assert [s.label for s in read_dataset(tmp_path / "steel", "severstal")] == [0]
    with pytest.raises(ConfigError, match="'neu' has no categories"):
        read_dataset(tmp_path / "neu", "neu", "crazing")


def test_root_required_except_for_elpv(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="'folder' needs a dataset root"):
        read_dataset(None, "folder")
    images = np.zeros((2, 3, 3), np.uint8)
    monkeypatch.setattr(elpv, "load_elpv_arrays", lambda: (images, np.array([0.0, 1.0]), np.array(["mono", "poly"])))
    assert [s.id for s in read_dataset(None, "elpv", "poly")] == ["elpv/00001"]


def test_bmp_grayscale_through_dispatch(tmp_path: Path) -> None:
    Image.fromarray(np.full((3, 3), 9, np.uint8)).save(tmp_path / "Sc_1.bmp")
    (sample,) = read_dataset(tmp_path, "neu")
    assert sample.image.shape == (3, 3, 3)
