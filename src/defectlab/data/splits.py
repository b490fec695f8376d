"""Seeded train/val/test splits, written once to JSON and read back.

Two rules, applied per category with a fresh ``numpy.random.default_rng(seed)`` each:

``"elpv"`` (holdout; fits any dataset without a train/test layout): normal = label 0 with
``metadata["proba"]`` 0 or absent, anomalous = label 1; other samples (ELPV's proba 1/3) are left
out. The normals, in input order, are permuted with ``rng.permutation``; the first
``int(0.7 * n)`` are train, the remaining normals followed by all anomalous samples are test; val
is empty.

``"calibrated"`` (the holdout with a labelled calibration share): the same normals and the same
permutation as ``"elpv"``; the first ``int(0.5 * n)`` are train, the next ``int(0.7 * n)`` up to that
point are val, the remaining normals are test (the same test normals as ``"elpv"``); the anomalous
samples are permuted and the first ``int(0.3 * m + 0.5)`` join val, the rest test. Val then holds
normals and anomalies, so the F1-optimal threshold can be calibrated on images never tested.

``"mvtec"`` (needs ``metadata["subset"]`` from the MVTec reader): the train/good images are
permuted, the first ``int(0.8 * n)`` are train and the rest go to val; then, for each defect type
in name order, ``int(0.3 * n + 0.5)`` of its test images (seeded permutation) go to val and the rest
to test; the test set's good images are test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from defectlab import __version__
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import ConfigError, DataError
from defectlab.fileio import atomic_write_text

RULES = ("elpv", "calibrated", "mvtec")
DEFAULT_SEED = 42
ELPV_TRAIN_FRACTION = 0.7
CALIBRATED_TRAIN_FRACTION = 0.5
CALIBRATION_ANOMALOUS_FRACTION = 0.3
MVTEC_TRAIN_FRACTION = 0.8
MVTEC_VAL_ANOMALOUS_FRACTION = 0.3


def default_split_rule(fmt: str) -> str:
    """The split rule a dataset format gets unless one is chosen: ``"mvtec"`` for the MVTec layout
    (it has train/good and test folders), ``"elpv"`` (a seeded holdout) for every other format."""
    return "mvtec" if fmt == "mvtec" else "elpv"


@dataclass
class Split:
    """Sample ids of each part plus how they were drawn."""

    train: list[str]
    val: list[str]
    test: list[str]
    seed: int
    rule: str
    category: str | None
    created: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the split as JSON atomically (temp file in the same folder + os.replace)."""
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Split:
        """Read a split written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise DataError(f"split file not found: {path}") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read split file {path}: {' '.join(str(exc).split())}") from exc
        try:
            split = cls(**data)
        except TypeError as exc:
            raise DataError(f"split file {path} is not a defectlab split: {exc}") from exc
        if not all(isinstance(ids, list) for ids in (split.train, split.val, split.test)):
            raise DataError(f"split file {path} is not a defectlab split: train/val/test must be lists")
        return split


def make_split(samples: Sequence[Sample], rule: str = "elpv", seed: int = DEFAULT_SEED) -> Split:
    """Draw a split of ``samples`` with ``rule`` (one of RULES) and ``seed``."""
    if rule not in RULES:
        raise ConfigError(f"unknown split rule '{rule}'; valid: {', '.join(RULES)}")
    _index_by_id(samples)
    by_category: dict[str, list[Sample]] = {}
    for sample in samples:
        by_category.setdefault(sample.category, []).append(sample)
    train: list[str] = []
    val: list[str] = []
    test: list[str] = []
    draw = {"elpv": _elpv_rule, "calibrated": _calibrated_rule, "mvtec": _mvtec_rule}[rule]
    for category in sorted(by_category):
        parts = draw(by_category[category], np.random.default_rng(seed))
        if not parts[0]:
            raise DataError(f"split rule '{rule}' leaves no training images for category '{category}'")
        for ids, part in zip((train, val, test), parts, strict=True):
            ids.extend(sample.id for sample in part)
    created = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "defectlab": __version__}
    return Split(train, val, test, seed, rule, category_name(samples), created)


def apply(split: Split, samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """The (train, val, test) samples named by ``split``; samples it does not name are dropped."""
    by_id = _index_by_id(samples)
    missing = [sample_id for sample_id in (*split.train, *split.val, *split.test) if sample_id not in by_id]
    if missing:
        raise DataError(
            f"{len(missing)} sample id(s) of the split (category {split.category}) are not in the data, e.g. '{missing[0]}'"
        )
    train, val, test = ([by_id[sample_id] for sample_id in ids] for ids in (split.train, split.val, split.test))
    return train, val, test


def load_or_create_split(
    path: str | os.PathLike[str], samples: Sequence[Sample], rule: str = "elpv", seed: int = DEFAULT_SEED
) -> Split:
    """Read the split at ``path`` if it exists (checking rule, seed, category), else make and save it."""
    if not Path(path).exists():
        split = make_split(samples, rule, seed)
        split.save(path)
        return split
    split = Split.load(path)
    wanted = {"rule": rule, "seed": seed, "category": category_name(samples)}
    for key, value in wanted.items():
        stored = getattr(split, key)
        if stored != value:
            raise ConfigError(
                f"split file {path} was made with {key}={stored!r}, not {value!r}; "
                "delete it to draw a new split or ask for the stored one"
            )
    return split


def _elpv_rule(samples: list[Sample], rng: np.random.Generator) -> tuple[list[Sample], ...]:
    normal = [s for s in samples if s.label == 0 and s.metadata.get("proba", 0.0) == 0.0]
    anomalous = [s for s in samples if s.label == 1]
    train, rest = _permute_and_cut(normal, int(ELPV_TRAIN_FRACTION * len(normal)), rng)
    return train, [], rest + anomalous


def _calibrated_rule(samples: list[Sample], rng: np.random.Generator) -> tuple[list[Sample], ...]:
    normal = [s for s in samples if s.label == 0 and s.metadata.get("proba", 0.0) == 0.0]
    anomalous = [s for s in samples if s.label == 1]
    not_test, test = _permute_and_cut(normal, int(ELPV_TRAIN_FRACTION * len(normal)), rng)
    train, val = (
        not_test[: int(CALIBRATED_TRAIN_FRACTION * len(normal))],
        not_test[int(CALIBRATED_TRAIN_FRACTION * len(normal)) :],
    )
    to_val, to_test = _permute_and_cut(anomalous, int(CALIBRATION_ANOMALOUS_FRACTION * len(anomalous) + 0.5), rng)
    return train, val + to_val, test + to_test


def _mvtec_rule(samples: list[Sample], rng: np.random.Generator) -> tuple[list[Sample], ...]:
    subsets = {s.metadata.get("subset") for s in samples}
    if not subsets <= {"train", "test"}:
        raise DataError("split rule 'mvtec' needs MVTec-layout samples (metadata subset train/test); use 'elpv'")
    train_good = [s for s in samples if s.metadata["subset"] == "train"]
    train, val = _permute_and_cut(train_good, int(MVTEC_TRAIN_FRACTION * len(train_good)), rng)
    test_set = [s for s in samples if s.metadata["subset"] == "test"]
    test = [s for s in test_set if s.defect_type == GOOD]
    for defect_type in sorted({s.defect_type for s in test_set} - {GOOD}):
        group = [s for s in test_set if s.defect_type == defect_type]
        to_val, to_test = _permute_and_cut(group, int(MVTEC_VAL_ANOMALOUS_FRACTION * len(group) + 0.5), rng)
        val += to_val
        test += to_test
    return train, val, test


def _permute_and_cut(samples: list[Sample], n_first: int, rng: np.random.Generator) -> tuple[list[Sample], list[Sample]]:
    order = rng.permutation(len(samples))
    permuted = [samples[i] for i in order]
    return permuted[:n_first], permuted[n_first:]


def _index_by_id(samples: Sequence[Sample]) -> dict[str, Sample]:
    by_id: dict[str, Sample] = {}
    for sample in samples:
        if sample.id in by_id:
            raise DataError(f"sample id '{sample.id}' occurs twice; ids must be unique within a dataset")
        by_id[sample.id] = sample
    return by_id


def category_name(samples: Sequence[Sample]) -> str | None:
    categories = sorted({sample.category for sample in samples})
    return "+".join(categories) if categories else None
