"""Plain folder-tree reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defectlab.data.folder import read_folder
from defectlab.data.imageio import save_image, save_mask
from defectlab.errors import DataError

SHAPE = (5, 7)


def _image(value: int) -> np.ndarray:
    return np.full((*SHAPE, 3), value, dtype=np.uint8)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "parts"
    save_image(root / "good" / "a.png", _image(1))
    save_image(root / "good" / "b.png", _image(2))
    save_image(root / "scratch" / "s1.png", _image(3))
    save_image(root / "scratch" / "s2.png", _image(4))
    save_image(root / "dent" / "d1.png", _image(5))
    first, second = np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8)
    first[0, 0] = 1
    second[4, 6] = 1
    save_mask(root / "masks" / "scratch" / "s1_mask.png", first)
    save_mask(root / "masks" / "scratch" / "s2.png", second)
    (root / "good" / "nested").mkdir()
    save_image(root / "good" / "nested" / "ignored.png", _image(9))
    return root


def test_reads_tree_with_masks(tree: Path) -> None:
    samples = read_folder(tree)
    assert [s.id for s in samples] == ["dent/d1.png", "good/a.png", "good/b.png", "scratch/s1.png", "scratch/s2.png"]
    assert [s.label for s in samples] == [1, 0, 0, 1, 1]
    assert [s.defect_type for s in samples] == ["dent", "good", "good", "scratch", "scratch"]
    assert {s.category for s in samples} == {"parts"}
    assert samples[0].mask is None and samples[1].mask is None
    assert samples[3].mask is not None and samples[3].mask[0, 0] == 1 and samples[3].mask.sum() == 1
    assert samples[4].mask is not None and samples[4].mask[4, 6] == 1 and samples[4].mask.sum() == 1
    assert all("subset" not in s.metadata for s in samples)


def test_category_selects_a_sub_tree(tree: Path) -> None:
    samples = read_folder(tree.parent, "parts")
    assert len(samples) == 5 and {s.category for s in samples} == {"parts"}


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found.*nope"):
        read_folder(tmp_path / "nope")


def test_empty_root(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=f"no images in {tmp_path}"):
        read_folder(tmp_path)


def test_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not a directory"):
        read_folder(tmp_path / "file.png")


def test_partial_masks_are_an_error(tree: Path) -> None:
    (tree / "masks" / "scratch" / "s2.png").unlink()
    with pytest.raises(DataError, match="mask not found.*s2_mask.png"):
        read_folder(tree)


def test_mask_of_wrong_size(tree: Path) -> None:
    save_mask(tree / "masks" / "scratch" / "s2.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="s2.png is 2x2"):
        read_folder(tree)
