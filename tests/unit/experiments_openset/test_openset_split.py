"""The stored open-set split: reused as saved, refused when the data has images it does not name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defectlab.data.sample import Sample
from defectlab.errors import DataError
from defectlab.workflows.openset.config import OpenSetConfig
from defectlab.workflows.openset.data import load_or_create_split

CONFIG = OpenSetConfig(name="T", known=("a", "b"), unknown=("c",))


def _samples(per_class: int) -> tuple[list[Sample], list[Sample]]:
    image = np.zeros((4, 4, 3), np.uint8)
    defects = [Sample(image, 1, f"{k}/{i}", defect_type=k) for k in "abc" for i in range(per_class)]
    normals = [Sample(image, 0, f"good/{i}") for i in range(per_class)]
    return defects, normals


def test_split_is_saved_and_reused(tmp_path: Path) -> None:
    defects, normals = _samples(10)
    first = load_or_create_split(tmp_path / "split.json", defects, normals, CONFIG)
    again = load_or_create_split(tmp_path / "split.json", defects, normals, CONFIG)
    assert first == again and set(first.test) >= {f"c/{i}" for i in range(10)}


def test_split_of_other_data_is_refused(tmp_path: Path) -> None:
    load_or_create_split(tmp_path / "split.json", *_samples(10), CONFIG)
    with pytest.raises(DataError, match=r"does not name 80 images .* delete it to redraw"):
        load_or_create_split(tmp_path / "split.json", *_samples(30), CONFIG)  # the data grew: a stale split
