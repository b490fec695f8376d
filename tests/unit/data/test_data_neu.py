"""NEU surface-defect reader: class from folder or file-name prefix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defectlab.data.neu import NEU_CLASSES, neu_class, read_neu
from defectlab.errors import DataError


def _bmp(path: Path, value: int = 80) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6), value, np.uint8)).save(path, "BMP")


@pytest.mark.parametrize(
    "relative, expected",
    [
        ("Cr_12.bmp", "crazing"),
        ("In_1.bmp", "inclusion"),
        ("Pa_3.bmp", "patches"),
        ("PS_300.bmp", "pitted_surface"),
        ("RS_2.bmp", "rolled-in_scale"),
        ("Sc_9.bmp", "scratches"),
        ("IMAGES/rolled-in_scale_41.jpg", "rolled-in_scale"),
        ("IMAGES/pitted_surface_7.jpg", "pitted_surface"),
        ("train/images/scratches/anything.jpg", "scratches"),
        ("Rolled_In_Scale/x.bmp", "rolled-in_scale"),
        ("cr/1.bmp", "crazing"),
    ],
)
def test_class_from_folder_or_prefix(relative: str, expected: str) -> None:
    assert neu_class(Path("/data") / relative) == expected


def test_unknown_class_is_named() -> None:
    with pytest.raises(DataError, match="mystery_3.bmp.*crazing \\(Cr\\)"):
        neu_class(Path("/data/mystery_3.bmp"))


def test_reads_flat_and_nested_layouts(tmp_path: Path) -> None:
    _bmp(tmp_path / "NEU-CLS" / "Cr_1.bmp", 10)
    _bmp(tmp_path / "NEU-CLS" / "Sc_2.bmp")
    _bmp(tmp_path / "NEU-DET" / "IMAGES" / "patches_5.jpg")
    _bmp(tmp_path / "split" / "inclusion" / "0001.bmp")
    (tmp_path / "NEU-DET" / "ANNOTATIONS").mkdir(parents=True)
    (tmp_path / "NEU-DET" / "ANNOTATIONS" / "patches_5.xml").write_text("<annotation/>")
    samples = read_neu(tmp_path)
    assert [s.id for s in samples] == [
        "NEU-CLS/Cr_1.bmp",
        "NEU-CLS/Sc_2.bmp",
        "NEU-DET/IMAGES/patches_5.jpg",
        "split/inclusion/0001.bmp",
    ]
    assert [s.defect_type for s in samples] == ["crazing", "scratches", "patches", "inclusion"]
    assert all(s.label == 1 and s.category == "neu" and s.mask is None for s in samples)
    assert samples[0].image.shape == (6, 6, 3) and (samples[0].image == 10).all()
    assert set(s.defect_type for s in samples) <= set(NEU_CLASSES)


def test_unknown_file_in_tree(tmp_path: Path) -> None:
    _bmp(tmp_path / "Cr_1.bmp")
    _bmp(tmp_path / "holiday.bmp")
    with pytest.raises(DataError, match="holiday.bmp"):
        read_neu(tmp_path)


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_neu(tmp_path / "absent")
    (tmp_path / "IMAGES").mkdir()
    with pytest.raises(DataError, match=f"no images found under {tmp_path}"):
        read_neu(tmp_path)
