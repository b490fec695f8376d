"""Stratified classification splits: every class in every part, seeded, stored and reused."""

from __future__ import annotations

import pytest
from _classifier_data import coloured_samples

from defectlab.classifiers.labels import label_samples
from defectlab.classifiers.splits import load_or_create_stratified_split, make_stratified_split
from defectlab.errors import ConfigError, DataError


def data(n: int = 30, classes=("red", "blue", "green")):
    return label_samples(coloured_samples(n, size=32, classes=classes), "defect_type")


def test_every_class_is_in_every_part_and_parts_are_disjoint():
    labelled = data()
    split = make_stratified_split(labelled, seed=3)
    assert split.rule == "stratified/defect_type" and split.seed == 3 and split.category == "toy"
    parts = labelled.split(split)
    assert sorted(len(p) for p in parts) == [6, 6, 18]  # 10 per class: 2 test, 2 val, 6 train
    for part in parts:
        assert sorted(set(part.labels.tolist())) == [0, 1, 2]
    ids = [*split.train, *split.val, *split.test]
    assert len(ids) == len(set(ids)) == len(labelled)


def test_seeded():
    labelled = data()
    assert make_stratified_split(labelled, 1).test == make_stratified_split(labelled, 1).test
    assert make_stratified_split(labelled, 1).test != make_stratified_split(labelled, 2).test


def test_three_samples_per_class_are_enough_two_are_not():
    split = make_stratified_split(data(6, ("red", "blue")))
    assert (len(split.train), len(split.val), len(split.test)) == (2, 2, 2)
    with pytest.raises(DataError, match="'blue' has 2 sample"):
        make_stratified_split(data(4, ("red", "blue")))


def test_bad_fractions():
    with pytest.raises(ConfigError, match="fractions"):
        make_stratified_split(data(), val_fraction=0.6, test_fraction=0.5)


def test_stored_split_is_reused_and_checked(tmp_path):
    labelled = data()
    path = tmp_path / "split.json"
    first = load_or_create_stratified_split(path, labelled, seed=5)
    assert path.is_file()
    again = load_or_create_stratified_split(path, labelled, seed=5)
    assert (again.train, again.val, again.test) == (first.train, first.val, first.test)
    with pytest.raises(ConfigError, match="seed=5"):
        load_or_create_stratified_split(path, labelled, seed=6)
