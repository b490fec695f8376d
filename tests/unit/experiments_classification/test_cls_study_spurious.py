"""The spurious-correlation split on a synthetic population (no images, no ELPV)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

import numpy as np
import pytest

from defectlab.data.sample import Sample
from defectlab.errors import DataError
from defectlab.experiments.classification.spurious import (
    APPLIED,
    RULE,
    WITHHELD,
    AppliedShift,
    SpuriousSplit,
    load_or_create_spurious_split,
    make_applied_split,
    make_spurious_split,
)

# (nuisance, class) -> size: uneven groups, 300 items; "mono" < "poly" so mono is z0 (tied to class 1).
SIZES = {("mono", 0): 100, ("mono", 1): 40, ("poly", 0): 100, ("poly", 1): 60}
TIED = {"mono": 1, "poly": 0}


def population(seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    """Ids, labels and nuisance values with the groups interleaved in a random order."""
    cells = [(z, y) for (z, y), n in SIZES.items() for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(cells))
    cells = [cells[i] for i in order]
    ids = [f"cell{i:03d}" for i in range(len(cells))]
    return ids, np.array([y for _, y in cells]), [z for z, _ in cells]


@pytest.fixture(scope="module")
def pop():
    return population()


def group_of(ids, labels, nuisance):
    return {i: (z, int(y)) for i, y, z in zip(ids, labels, nuisance, strict=True)}


def test_population_is_as_described(pop):
    ids, labels, nuisance = pop
    assert len(ids) == 300 and Counter(zip(nuisance, labels.tolist())) == SIZES


@pytest.mark.parametrize("tie", [0.9, 0.8, 0.6, 0.5])
def test_groups_tie_and_disjointness(pop, tie):
    ids, labels, nuisance = pop
    k = 10
    split = make_spurious_split(ids, labels, nuisance, tie=tie, test_per_group=k, seed=7)
    group = group_of(*pop)
    train, val, test = set(split.train), set(split.val), set(split.test)
    # parts are disjoint, without duplicates, and only hold known ids
    assert len(train) == len(split.train) and len(val) == len(split.val) and len(test) == len(split.test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test <= set(ids)
    # test: exactly k per (nuisance, class) group
    assert Counter(group[i] for i in test) == {g: k for g in SIZES}
    # train + val: per stratum, every remaining image of the tied class, the other class subsampled to the tie
    fit = Counter(group[i] for i in train | val)
    for z, tied in TIED.items():
        n_major = SIZES[(z, tied)] - k
        pool = SIZES[(z, 1 - tied)] - k
        assert fit[(z, tied)] == n_major
        assert fit[(z, 1 - tied)] == min(pool, round(n_major * (1 - tie) / tie))
        if fit[(z, 1 - tied)] < pool:  # not limited by the pool: the tied share is the requested one
            assert fit[(z, tied)] / (fit[(z, tied)] + fit[(z, 1 - tied)]) == pytest.approx(tie, abs=0.02)
    assert split.nuisance_values == ["mono", "poly"]
    assert (split.tie, split.test_per_group, split.seed, split.rule) == (tie, k, 7, RULE)
    assert split.train == sorted(split.train) and split.val == sorted(split.val) and split.test == sorted(split.test)


def test_minor_pool_limits_the_untied_class(pop):
    ids, labels, nuisance = pop
    split = make_spurious_split(ids, labels, nuisance, tie=0.5, test_per_group=10, seed=1)
    fit = Counter(group_of(*pop)[i] for i in split.train + split.val)
    # poly: 90 tied class-0 images would need 90 class-1 images; only 50 are left after the test draw
    assert fit[("poly", 0)] == 90 and fit[("poly", 1)] == 50


def test_z0_tied_to_class_one_regardless_of_input_order(pop):
    ids, labels, nuisance = pop
    split = make_spurious_split(ids[::-1], labels[::-1], nuisance[::-1], tie=0.9, test_per_group=10, seed=3)
    fit = Counter(group_of(*pop)[i] for i in split.train + split.val)
    assert fit[("mono", 1)] > fit[("mono", 0)] and fit[("poly", 0)] > fit[("poly", 1)]


@pytest.mark.parametrize("val_fraction", [0.2, 0.35])
def test_val_share_per_group(pop, val_fraction):
    ids, labels, nuisance = pop
    split = make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=10, seed=5, val_fraction=val_fraction)
    group = group_of(*pop)
    fit = Counter(group[i] for i in split.train + split.val)
    val = Counter(group[i] for i in split.val)
    for g, n in fit.items():
        assert val[g] == round(val_fraction * n)


def test_no_validation_with_fraction_zero(pop):
    split = make_spurious_split(*pop, tie=0.8, test_per_group=10, seed=5, val_fraction=0.0)
    assert split.val == [] and split.train


def test_deterministic_per_seed(pop):
    ids, labels, nuisance = pop
    a = make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=10, seed=11)
    b = make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=10, seed=11)
    c = make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=10, seed=12)
    assert a == b
    assert a.test != c.test and a.train != c.train


def test_group_not_larger_than_test_per_group(pop):
    ids, labels, nuisance = pop
    make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=39)  # mono/1 has 40: one left to train on
    with pytest.raises(DataError, match=r"mono/1.*40"):
        make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=40)


def test_three_nuisance_values(pop):
    ids, labels, nuisance = pop
    nuisance = list(nuisance)
    nuisance[0] = "thin-film"
    with pytest.raises(DataError, match="2 nuisance values"):
        make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=5)


def test_single_nuisance_value(pop):
    ids, labels, _ = pop
    with pytest.raises(DataError, match="2 nuisance values"):
        make_spurious_split(ids, labels, ["mono"] * len(ids), tie=0.8, test_per_group=5)


@pytest.mark.parametrize("change", ["three classes", "one class", "labels 1 and 2"])
def test_labels_not_binary(pop, change):
    ids, labels, nuisance = pop
    labels = labels.copy()
    if change == "three classes":
        labels[:5] = 2
    elif change == "one class":
        labels[:] = 0
    else:
        labels = labels + 1
    with pytest.raises(DataError, match="2 classes"):
        make_spurious_split(ids, labels, nuisance, tie=0.8, test_per_group=5)


def test_load_or_create_writes_and_reuses(pop, tmp_path):
    ids, labels, nuisance = pop
    path = tmp_path / "splits" / "spurious_cell_type.json"
    kwargs = dict(tie=0.8, test_per_group=10, seed=4)
    first = load_or_create_spurious_split(path, ids=ids, labels=labels, nuisance=nuisance, **kwargs)
    assert path.is_file()
    stored = json.loads(path.read_text())
    assert stored == first.to_dict() == {k: v for k, v in asdict(first).items() if k != "shift"}
    assert first == make_spurious_split(ids, labels, nuisance, **kwargs)
    # reused from the file: other ids with the same parameters give the stored split back
    ids2, labels2, nuisance2 = population(seed=9)
    again = load_or_create_spurious_split(path, ids=[f"x{i}" for i in ids2], labels=labels2, nuisance=nuisance2, **kwargs)
    assert isinstance(again, SpuriousSplit)
    assert asdict(again) == asdict(first)
    assert json.loads(path.read_text()) == stored


@pytest.mark.parametrize("changed", [{"tie": 0.9}, {"test_per_group": 9}, {"seed": 5}])
def test_load_or_create_refuses_other_parameters(pop, tmp_path, changed):
    ids, labels, nuisance = pop
    path = tmp_path / "split.json"
    kwargs = dict(tie=0.8, test_per_group=10, seed=4)
    load_or_create_spurious_split(path, ids=ids, labels=labels, nuisance=nuisance, **kwargs)
    before = path.read_text()
    with pytest.raises(DataError, match="other parameters"):
        load_or_create_spurious_split(path, ids=ids, labels=labels, nuisance=nuisance, **{**kwargs, **changed})
    assert path.read_text() == before


def test_a_corrupt_stored_split_is_a_clear_error(tmp_path):
    from defectlab.errors import DataError
    from defectlab.experiments.classification.spurious import load_or_create_spurious_split

    path = tmp_path / "split.json"
    for text in ("{not json", "[1, 2]", '{"train": []}'):
        path.write_text(text)
        with pytest.raises(DataError, match="not a spurious-correlation split"):
            load_or_create_spurious_split(path, ids=["a"], labels=np.array([0]), nuisance=["m"], tie=0.9, test_per_group=1)


# ---------------------------------------------------------------- an applied nuisance


def applied_split(pop, seed: int = 7, **kwargs):
    ids, labels, _ = pop
    return make_applied_split(ids, labels, "vignetting", 3, tie=kwargs.pop("tie", 0.9), test_per_group=10, seed=seed, **kwargs)


def test_applied_split_ties_the_applied_stratum_to_class_one(pop):
    ids, labels, _ = pop
    split = applied_split(pop, tie=0.8)
    shift = split.shift
    assert (shift.corruption, shift.severity, shift.seed) == ("vignetting", 3, 7)
    used = set(split.train) | set(split.val) | set(split.test)
    assert set(shift.images) <= used and shift.images == sorted(shift.images)
    # the split is the tie split of the drawn nuisance: every stated property of make_spurious_split holds
    applied = set(shift.images)
    nuisance = [APPLIED if i in applied else WITHHELD for i in ids]
    assert split.nuisance_values == [APPLIED, WITHHELD]
    group = {i: (z, int(y)) for i, y, z in zip(ids, labels, nuisance, strict=True)}
    assert Counter(group[i] for i in split.test) == {(z, y): 10 for z in (APPLIED, WITHHELD) for y in (0, 1)}
    fit = Counter(group[i] for i in split.train + split.val)
    for z, tied in ((APPLIED, 1), (WITHHELD, 0)):
        assert fit[(z, tied)] / (fit[(z, tied)] + fit[(z, 1 - tied)]) == pytest.approx(0.8, abs=0.03)


def test_applied_split_is_seeded(pop):
    a, b, c = applied_split(pop), applied_split(pop), applied_split(pop, seed=8)
    assert a == b
    assert a.shift.images != c.shift.images and a.train != c.train


def test_applied_split_is_saved_with_its_shift_record_and_reused(pop, tmp_path):
    ids, labels, nuisance = pop
    path = tmp_path / "spurious_vignetting.json"
    kwargs = dict(ids=ids, labels=labels, tie=0.9, test_per_group=10, seed=7)
    first = load_or_create_spurious_split(path, corruption="vignetting", severity=3, **kwargs)
    assert first == applied_split(pop)
    stored = json.loads(path.read_text())
    assert stored["shift"] == {"corruption": "vignetting", "severity": 3, "seed": 7, "images": first.shift.images}
    assert load_or_create_spurious_split(path, corruption="vignetting", severity=3, **{**kwargs, "ids": ids[::-1]}) == first
    for other in ({"corruption": "brightness", "severity": 3}, {"corruption": "vignetting", "severity": 2}, {}):
        with pytest.raises(DataError, match="other parameters"):
            load_or_create_spurious_split(path, nuisance=nuisance, **{**kwargs, **other})
    # a split of a metadata nuisance keeps its format: no shift record
    plain = tmp_path / "spurious_cell_type.json"
    load_or_create_spurious_split(plain, nuisance=nuisance, **kwargs)
    assert "shift" not in json.loads(plain.read_text())
    with pytest.raises(DataError, match="other parameters"):
        load_or_create_spurious_split(plain, corruption="vignetting", severity=3, **kwargs)


def test_the_shift_goes_on_the_applied_images_only():
    rng = np.random.default_rng(0)
    samples = [Sample(rng.integers(60, 200, (24, 24, 3), dtype=np.uint8), 0, f"c{i}", metadata={"proba": 0.0}) for i in range(4)]
    shift = AppliedShift("vignetting", 3, 5, ["c1", "c3"])
    shown = shift.apply_to(samples, "vignetting")
    assert [s.metadata["vignetting"] for s in shown] == [WITHHELD, APPLIED, WITHHELD, APPLIED]
    assert all(s.metadata["proba"] == 0.0 and "vignetting" not in o.metadata for s, o in zip(shown, samples))
    assert shown[0].image is samples[0].image and shown[2].image is samples[2].image
    for i in (1, 3):
        assert shown[i].id == samples[i].id and shown[i].image.mean() < samples[i].image.mean()  # darker corners
        np.testing.assert_array_equal(shown[i].image, shift.apply(samples[i].image, samples[i].id))
    np.testing.assert_array_equal(shift.apply_to(samples, "vignetting")[1].image, shown[1].image)
