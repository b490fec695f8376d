"""The images of one open-set split: known-class train/val/test, unknown-class test, normal images.

Defect images are the samples whose ``defect_type`` is not ``good``; their class is the defect
type. Every known class is split (seeded, per class) into train / val / test; the unknown classes
go to test only. Normal images are split the same way: stage 1 is fitted on the train part and
calibrated on the val part, and the test part adds the ``no_defect`` outcome. The ids of every
part are saved as JSON (``split.json``) and reused on the next run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from defectlab.data.folder import read_folder
from defectlab.data.formats import read_dataset
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import ConfigError, DataError
from defectlab.fileio import atomic_write_text
from defectlab.workflows.openset.config import OpenSetConfig

PARTS = ("train", "val", "test")


@dataclass
class SplitIds:
    """Sample ids per part (normal images in ``good_*``), and what drew them."""

    train: list[str]
    val: list[str]
    test: list[str]
    good_train: list[str]
    good_val: list[str]
    good_test: list[str]
    known: list[str]
    unknown: list[str]
    seed: int


@dataclass
class OpenSetData:
    """The samples of every part."""

    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    good_train: list[Sample]
    good_val: list[Sample]
    good_test: list[Sample]
    known: tuple[str, ...]
    unknown: tuple[str, ...]


def read_samples(config: OpenSetConfig) -> tuple[list[Sample], list[Sample]]:
    """(defect samples, normal samples) of the configured dataset; ``good_root`` adds normal images."""
    data = config.data
    samples = read_dataset(data.root, data.format, data.category)
    defects = [s for s in samples if s.defect_type != GOOD]
    normals = [s for s in samples if s.defect_type == GOOD]
    if data.good_root is not None:
        normals += [s for s in read_folder(data.good_root) if s.defect_type == GOOD]
    return defects, normals


def _split_rows(n: int, rng: np.random.Generator, train: float, val: float) -> tuple[np.ndarray, ...]:
    order = rng.permutation(n)
    n_train, n_val = int(round(train * n)), int(round(val * n))
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def draw_split(defects: Sequence[Sample], normals: Sequence[Sample], config: OpenSetConfig) -> SplitIds:
    """Seeded per-class split of the known classes and the normals; unknown classes all in test."""
    classes = {s.defect_type for s in defects}
    missing = sorted((set(config.known) | set(config.unknown)) - classes)
    if missing:
        raise DataError(f"split {config.name}: classes {missing} have no images (the data has {sorted(classes)})")
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[str]] = {part: [] for part in PARTS}
    for name in config.known:
        members = [s.id for s in defects if s.defect_type == name]
        rows = _split_rows(len(members), rng, config.train_fraction, config.val_fraction)
        if min(len(r) for r in rows) < 2:
            raise DataError(f"split {config.name}: class {name} has {len(members)} images, too few for train/val/test")
        for part, chosen in zip(PARTS, rows, strict=True):
            parts[part] += [members[i] for i in chosen]
    parts["test"] += [s.id for s in defects if s.defect_type in config.unknown]
    good = [s.id for s in normals]
    good_rows = _split_rows(len(good), rng, config.train_fraction, config.val_fraction) if good else ([], [], [])
    return SplitIds(
        *(sorted(parts[p]) for p in PARTS),
        *(sorted(good[i] for i in rows) for rows in good_rows),
        known=list(config.known),
        unknown=list(config.unknown),
        seed=config.seed,
    )


def load_or_create_split(path: Path, defects: Sequence[Sample], normals: Sequence[Sample], config: OpenSetConfig) -> SplitIds:
    """The split stored at ``path`` (checked against the config), else drawn and saved."""
    if path.is_file():
        try:
            stored = SplitIds(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path} is not an open-set split ({exc}): delete it to redraw") from exc
        if (stored.known, stored.unknown, stored.seed) != (list(config.known), list(config.unknown), config.seed):
            raise ConfigError(f"{path} was drawn for other classes or another seed: delete it to redraw")
        named = {
            i
            for part in (stored.train, stored.val, stored.test, stored.good_train, stored.good_val, stored.good_test)
            for i in part
        }
        classes = set(config.known) | set(config.unknown)
        unsplit = [s.id for s in defects if s.defect_type in classes and s.id not in named]
        unsplit += [s.id for s in normals if s.id not in named]
        if unsplit:
            raise DataError(
                f"{path} does not name {len(unsplit)} images of the data (e.g. {unsplit[0]}): it was drawn for "
                "other data; delete it to redraw"
            )
        return stored
    split = draw_split(defects, normals, config)
    atomic_write_text(path, json.dumps(asdict(split), indent=1) + "\n")
    return split


def apply_split(split: SplitIds, defects: Sequence[Sample], normals: Sequence[Sample]) -> OpenSetData:
    """The samples named by ``split`` (an id it names that the data lacks is a DataError)."""
    by_id = {s.id: s for s in [*defects, *normals]}

    def take(ids: list[str]) -> list[Sample]:
        lost = [i for i in ids if i not in by_id]
        if lost:
            raise DataError(f"the stored split names {len(lost)} images the data no longer has, e.g. {lost[0]}")
        return [by_id[i] for i in ids]

    return OpenSetData(
        take(split.train),
        take(split.val),
        take(split.test),
        take(split.good_train),
        take(split.good_val),
        take(split.good_test),
        tuple(split.known),
        tuple(split.unknown),
    )
