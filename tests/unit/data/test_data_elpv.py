"""ELPV reader on a small fake of the packaged arrays (the real data is an integration test)."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.data import elpv
from defectlab.data.elpv import read_elpv
from defectlab.errors import ConfigError

PROBA = np.array([0, 1 / 3, 2 / 3, 1, 0, 0, 1, 0])
TYPES = np.array(["mono", "mono", "mono", "mono", "poly", "poly", "poly", "mono"])


@pytest.fixture(autouse=True)
def fake_arrays(monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    images = np.arange(len(PROBA) * 4 * 4, dtype=np.uint8).reshape(len(PROBA), 4, 4)
    images.flags.writeable = False
    monkeypatch.setattr(elpv, "load_elpv_arrays", lambda: (images, PROBA, TYPES))
    return images


def test_all_samples(fake_arrays: np.ndarray) -> None:
    samples = read_elpv()
    assert [s.id for s in samples] == [f"elpv/{i:05d}" for i in range(8)]
    assert [s.label for s in samples] == [0, 0, 1, 1, 0, 0, 1, 0]
    assert [s.defect_type for s in samples] == ["good", "p33", "p67", "p100", "good", "good", "p100", "good"]
    assert [s.category for s in samples] == list(TYPES)
    assert samples[1].metadata == {"proba": pytest.approx(1 / 3), "cell_type": "mono", "index": 1}
    image = samples[3].image
    assert image.shape == (4, 4, 3) and image.dtype == np.uint8 and not image.flags.writeable
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], fake_arrays[3])


def test_one_cell_type_keeps_dataset_indices() -> None:
    samples = read_elpv("poly")
    assert [s.metadata["index"] for s in samples] == [4, 5, 6]
    assert [s.id for s in samples] == ["elpv/00004", "elpv/00005", "elpv/00006"]
    assert {s.category for s in samples} == {"poly"}


def test_unknown_cell_type() -> None:
    with pytest.raises(ConfigError, match="'cigs'.*mono, poly"):
        read_elpv("cigs")
