"""The bundled ELPV data and the published split protocol."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from defectlab.data.elpv import load_elpv_arrays, read_elpv
from defectlab.data.splits import apply, make_split

pytestmark = pytest.mark.elpv


def test_dataset_shape_and_counts() -> None:
    images, _, _ = load_elpv_arrays()
    assert images.shape == (2624, 300, 300) and images.dtype == np.uint8
    samples = read_elpv()
    assert len(samples) == 2624
    counts = Counter((s.category, s.defect_type) for s in samples)
    assert counts == {
        ("mono", "good"): 588, ("mono", "p33"): 117, ("mono", "p67"): 56, ("mono", "p100"): 313,
        ("poly", "good"): 920, ("poly", "p33"): 178, ("poly", "p67"): 50, ("poly", "p100"): 402,
    }  # fmt: skip
    assert samples[17].id == "elpv/00017" and samples[17].metadata["index"] == 17
    assert samples[17].image.shape == (300, 300, 3)


@pytest.mark.parametrize("cell_type, n_train, n_test", [("mono", 411, 546), ("poly", 644, 728)])
def test_published_split_counts(cell_type: str, n_train: int, n_test: int) -> None:
    samples = read_elpv(cell_type)
    split = make_split(samples, "elpv", seed=42)
    assert (len(split.train), len(split.val), len(split.test)) == (n_train, 0, n_test)
    train, _, test = apply(split, samples)
    assert all(s.metadata["proba"] == 0 for s in train)
    assert sum(s.label for s in test) == sum(s.label for s in samples)

    _, proba, types = load_elpv_arrays()
    normal = np.flatnonzero((types == cell_type) & (proba == 0))
    permuted = np.random.default_rng(42).permutation(normal)
    assert [s.metadata["index"] for s in train] == list(permuted[: int(0.7 * len(normal))])


def test_split_of_both_types_is_the_union() -> None:
    split = make_split(read_elpv(), "elpv", seed=42)
    mono, poly = (make_split(read_elpv(t), "elpv", seed=42) for t in ("mono", "poly"))
    assert split.train == mono.train + poly.train
    assert sorted(split.test) == sorted(mono.test + poly.test)
