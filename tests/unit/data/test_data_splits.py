"""Seeded splits: both rules, determinism, JSON round trip, never silently regenerated."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from defectlab.data.sample import Sample
from defectlab.data.splits import Split, apply, load_or_create_split, make_split
from defectlab.errors import ConfigError, DataError

PIXELS = np.zeros((2, 2, 3), np.uint8)


def _sample(sample_id: str, label: int, category: str = "c", defect_type: str = "good", **metadata: object) -> Sample:
    return Sample(PIXELS, label, sample_id, category, defect_type, metadata=dict(metadata))


def _holdout_data() -> list[Sample]:
    """Per type: normals (proba 0), ambiguous (proba 1/3, label 0) and anomalous cells, ELPV-like."""
    samples = []
    counts = {"mono": (20, 3, 7), "poly": (13, 2, 4)}
    index = 0
    for cell_type, (normal, ambiguous, anomalous) in counts.items():
        for proba, n in ((0.0, normal), (1 / 3, ambiguous), (1.0, anomalous)):
            for _ in range(n):
                samples.append(_sample(f"elpv/{index:05d}", int(proba >= 0.5), cell_type, proba=proba, index=index))
                index += 1
    return samples


def _mvtec_data(category: str = "widget") -> list[Sample]:
    samples = [_sample(f"train/good/{i:03d}.png", 0, category, subset="train") for i in range(10)]
    samples += [_sample(f"test/good/{i:03d}.png", 0, category, subset="test") for i in range(4)]
    for defect, n in (("crack", 10), ("hole", 3), ("cut", 1)):
        samples += [_sample(f"test/{defect}/{i:03d}.png", 1, category, defect, subset="test") for i in range(n)]
    return samples


def test_holdout_rule_counts_and_exclusions() -> None:
    samples = _holdout_data()
    split = make_split(samples, "elpv", seed=42)
    by_id = {s.id: s for s in samples}
    train_types = Counter(by_id[i].category for i in split.train)
    test_types = Counter(by_id[i].category for i in split.test)
    assert train_types == {"mono": int(0.7 * 20), "poly": int(0.7 * 13)}
    assert test_types == {"mono": 20 - 14 + 7, "poly": 13 - 9 + 4}
    assert split.val == []
    assert all(by_id[i].metadata["proba"] == 0 for i in split.train)
    used = set(split.train) | set(split.test)
    assert not set(split.train) & set(split.test)
    assert {s.id for s in samples if s.metadata["proba"] == pytest.approx(1 / 3)}.isdisjoint(used)
    assert (split.rule, split.seed, split.category) == ("elpv", 42, "mono+poly")


def test_holdout_rule_matches_the_published_protocol() -> None:
    """Per type, rng.permutation(normal_indices) with a fresh default_rng(seed); first 70% train."""
    samples = _holdout_data()
    proba = np.array([s.metadata["proba"] for s in samples])
    types = np.array([s.category for s in samples])
    expected_train = []
    for cell_type in ("mono", "poly"):
        normal = np.flatnonzero((types == cell_type) & (proba == 0))
        permuted = np.random.default_rng(7).permutation(normal)
        expected_train += [f"elpv/{i:05d}" for i in permuted[: int(0.7 * len(normal))]]
    assert make_split(samples, "elpv", seed=7).train == expected_train


def test_calibrated_rule_keeps_the_protocols_test_normals_and_calibrates_on_labelled_anomalies() -> None:
    samples = _holdout_data()
    by_id = {s.id: s for s in samples}
    plain, calibrated = make_split(samples, "elpv", seed=5), make_split(samples, "calibrated", seed=5)
    normal_test = [i for i in calibrated.test if by_id[i].label == 0]
    assert normal_test == [i for i in plain.test if by_id[i].label == 0]  # the same test normals
    assert set(calibrated.train) | {i for i in calibrated.val if by_id[i].label == 0} == set(plain.train)
    assert Counter(by_id[i].category for i in calibrated.train) == {"mono": 10, "poly": 6}  # int(0.5 * n)
    val_anomalous = Counter(by_id[i].category for i in calibrated.val if by_id[i].label == 1)
    assert val_anomalous == {"mono": int(0.3 * 7 + 0.5), "poly": int(0.3 * 4 + 0.5)}
    parts = [set(calibrated.train), set(calibrated.val), set(calibrated.test)]
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert sum(map(len, parts)) == sum(s.metadata["proba"] != pytest.approx(1 / 3) for s in samples)
    assert calibrated.rule == "calibrated"


def test_holdout_rule_on_plain_labels() -> None:
    samples = [_sample(f"good/{i}.png", 0) for i in range(10)] + [_sample(f"bad/{i}.png", 1, defect_type="bad") for i in range(3)]
    split = make_split(samples, "elpv")
    assert len(split.train) == 7 and len(split.test) == 6 and split.category == "c"


def test_mvtec_rule() -> None:
    samples = _mvtec_data()
    split = make_split(samples, "mvtec", seed=3)
    assert len(split.train) == 8 and all(i.startswith("train/good/") for i in split.train)
    val_types = Counter(i.split("/")[1] for i in split.val)
    assert val_types == {"good": 2, "crack": 3, "hole": 1}
    test_types = Counter(i.split("/")[1] for i in split.test)
    assert test_types == {"good": 4, "crack": 7, "hole": 2, "cut": 1}
    assert sorted(split.train + split.val + split.test) == sorted(s.id for s in samples)


def test_mvtec_rule_needs_subsets() -> None:
    with pytest.raises(DataError, match="'mvtec' needs MVTec-layout samples"):
        make_split(_holdout_data(), "mvtec")


def test_same_seed_same_split_other_seed_other_split() -> None:
    samples = _mvtec_data()
    first, again, other = (make_split(samples, "mvtec", seed) for seed in (1, 1, 2))
    assert (first.train, first.val, first.test) == (again.train, again.val, again.test)
    assert (first.train, first.val) != (other.train, other.val)


def test_categories_are_split_independently() -> None:
    pooled = _mvtec_data("a") + [_sample(f"x/{s.id}", s.label, "b", s.defect_type, **s.metadata) for s in _mvtec_data("b")]
    split = make_split(pooled, "mvtec", seed=5)
    alone = make_split(_mvtec_data("a"), "mvtec", seed=5)
    assert split.train[: len(alone.train)] == alone.train
    assert split.category == "a+b"


def test_unknown_rule_and_empty_training_set() -> None:
    with pytest.raises(ConfigError, match="'random'.*elpv, calibrated, mvtec"):
        make_split(_mvtec_data(), "random")
    with pytest.raises(DataError, match="no training images for category 'c'"):
        make_split([_sample("a", 1, defect_type="bad")], "elpv")


def test_duplicate_ids() -> None:
    with pytest.raises(DataError, match="'a' occurs twice"):
        make_split([_sample("a", 0), _sample("a", 0)], "elpv")


def test_save_load_round_trip(tmp_path: Path) -> None:
    split = make_split(_mvtec_data(), "mvtec")
    path = tmp_path / "splits" / "widget.json"
    split.save(path)
    assert Split.load(path) == split
    stored = json.loads(path.read_text())
    assert stored["seed"] == 42 and stored["rule"] == "mvtec" and stored["category"] == "widget"
    assert set(stored["created"]) == {"at", "defectlab"}
    assert [p.name for p in path.parent.iterdir()] == ["widget.json"]


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    make_split(_mvtec_data(), "mvtec", seed=1).save(path)
    before = path.read_text()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        make_split(_mvtec_data(), "mvtec", seed=2).save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_apply() -> None:
    samples = _mvtec_data()
    split = make_split(samples, "mvtec")
    train, val, test = apply(split, samples)
    assert [s.id for s in train] == split.train and [s.id for s in val] == split.val
    assert [s.id for s in test] == split.test
    assert all(isinstance(s, Sample) for s in train + val + test)


def test_apply_drops_unnamed_samples_and_rejects_missing_ones() -> None:
    samples = _holdout_data()
    split = make_split(samples, "elpv")
    train, val, test = apply(split, samples)
    assert len(train) + len(val) + len(test) == len(samples) - 5
    with pytest.raises(DataError, match="not in the data, e.g. 'elpv/000"):
        apply(split, samples[:10])


def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    samples = _mvtec_data()
    created = load_or_create_split(path, samples, "mvtec", 42)
    assert path.exists()
    again = load_or_create_split(path, samples[:-3], "mvtec", 42)
    assert again == created
    with pytest.raises(ConfigError, match="seed=42, not 43"):
        load_or_create_split(path, samples, "mvtec", 43)
    with pytest.raises(ConfigError, match="rule='mvtec', not 'elpv'"):
        load_or_create_split(path, samples, "elpv", 42)
    with pytest.raises(ConfigError, match="category='widget', not 'gadget'"):
        load_or_create_split(path, _mvtec_data("gadget"), "mvtec", 42)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "cannot read split file"),
        ("[1, 2]", "not a defectlab split"),
        ('{"train": []}', "not a defectlab split"),
    ],
)
def test_bad_split_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        Split.load(path)


def test_wrong_field_types(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"train": "abc", "val": [], "test": [], "seed": 1, "rule": "elpv", "category": None}))
    with pytest.raises(DataError, match="must be lists"):
        Split.load(path)


def test_missing_split_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="split file not found"):
        Split.load(tmp_path / "none.json")
