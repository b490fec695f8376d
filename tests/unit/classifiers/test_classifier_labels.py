"""Class schemes: defect_type, elpv_binary (drops proba 1/3), elpv_4."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.classifiers.labels import ELPV_4_CLASSES, label_samples
from defectlab.data.sample import Sample
from defectlab.data.splits import Split
from defectlab.errors import ConfigError, DataError

IMAGE = np.zeros((8, 8, 3), np.uint8)


def sample(i: int, defect_type: str = "good", proba: float | None = None) -> Sample:
    metadata = {} if proba is None else {"proba": proba, "cell_type": "mono", "index": i}
    return Sample(IMAGE, int(proba is not None and proba >= 0.5), f"s{i}", "c", defect_type, metadata=metadata)


ELPV = [sample(i, proba=p) for i, p in enumerate([0.0, 1 / 3, 2 / 3, 1.0, 0.0, 1.0, 1 / 3])]


def test_defect_type_classes_are_sorted_folder_names():
    samples = [sample(0, "scratch"), sample(1, "good"), sample(2, "crack"), sample(3, "good")]
    data = label_samples(samples, "defect_type")
    assert data.class_names == ("crack", "good", "scratch")
    assert data.labels.tolist() == [2, 1, 0, 1]
    assert data.labels.dtype == np.int64


def test_elpv_binary_drops_the_uncertain_cells():
    data = label_samples(ELPV, "elpv_binary")
    assert data.class_names == ("functional", "defective")
    assert [s.id for s in data.samples] == ["s0", "s2", "s3", "s4", "s5"]
    assert data.labels.tolist() == [0, 1, 1, 0, 1]


def test_elpv_4_keeps_every_cell_in_probability_order():
    data = label_samples(ELPV, "elpv_4")
    assert data.class_names == ELPV_4_CLASSES
    assert data.labels.tolist() == [0, 1, 2, 3, 0, 3, 1]


def test_elpv_schemes_need_elpv_samples():
    with pytest.raises(DataError, match="'s0' has none"):
        label_samples([sample(0, "good"), sample(1, "crack")], "elpv_binary")


def test_unexpected_probability_is_a_data_error():
    with pytest.raises(DataError, match="0.5"):
        label_samples([sample(0, proba=0.0), sample(1, proba=0.5)], "elpv_4")


def test_unknown_scheme_single_class_and_no_samples():
    with pytest.raises(ConfigError, match="defect_type, elpv_binary, elpv_4"):
        label_samples([sample(0)], "colour")
    with pytest.raises(DataError, match="only good"):
        label_samples([sample(0), sample(1)], "defect_type")
    with pytest.raises(DataError, match="only functional"):
        label_samples([sample(0, proba=0.0), sample(1, proba=1 / 3)], "elpv_binary")
    with pytest.raises(DataError, match="no samples"):
        label_samples([], "defect_type")


def test_split_keeps_each_samples_label():
    data = label_samples(ELPV, "elpv_4")
    split = Split(train=["s3", "s0"], val=["s6"], test=["s2"], seed=1, rule="stratified/elpv_4", category="c")
    train, val, test = data.split(split)
    assert [s.id for s in train.samples] == ["s3", "s0"] and train.labels.tolist() == [3, 0]
    assert val.labels.tolist() == [1] and test.labels.tolist() == [2]
    assert train.class_names == ELPV_4_CLASSES and len(test) == 1
