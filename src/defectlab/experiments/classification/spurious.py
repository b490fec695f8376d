"""The spurious-correlation split: a nuisance tied to the label in training, balanced groups in test.

With two nuisance values ``z0 < z1`` (sorted; on ELPV ``mono`` and ``poly``) and two classes,
training ties ``z0`` to class 1 and ``z1`` to class 0: in each stratum the tied class makes
``tie`` of the images (all of that group's remaining images are used; the other group is
subsampled to match). The test set holds ``test_per_group`` images of every (nuisance, class)
group, so half of it goes against the training tie and a model that reads the nuisance fails
there; its worst-group accuracy shows it. A share ``val_fraction`` of the training images,
stratified by group, is held out for early stopping. The split is saved as JSON and reused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from defectlab.errors import DataError
from defectlab.fileio import atomic_write_text

RULE = "spurious-tie"


@dataclass(frozen=True)
class SpuriousSplit:
    """Image ids of each part, the nuisance values and the tie that made them."""

    train: list[str]
    val: list[str]
    test: list[str]
    nuisance_values: list[str]
    tie: float
    test_per_group: int
    seed: int
    rule: str = RULE


def make_spurious_split(
    ids: Sequence[str],
    labels: np.ndarray,
    nuisance: Sequence[str],
    tie: float,
    test_per_group: int,
    seed: int = 42,
    val_fraction: float = 0.2,
) -> SpuriousSplit:
    """Draw the split (binary labels, exactly two nuisance values)."""
    values = sorted(set(nuisance))
    if len(values) != 2 or set(np.unique(labels)) != {0, 1}:
        raise DataError(f"the spurious split needs 2 classes and 2 nuisance values, got {values}")
    rng = np.random.default_rng(seed)
    z = np.array([values.index(v) for v in nuisance])
    ids = np.asarray(ids)
    groups = {(a, y): rng.permutation(np.flatnonzero((z == a) & (labels == y))) for a in (0, 1) for y in (0, 1)}
    short = [f"{values[a]}/{y}" for (a, y), g in groups.items() if len(g) <= test_per_group]
    if short:
        raise DataError(f"groups {short} have no more than {test_per_group} images: lower test_per_group")
    test = [i for g in groups.values() for i in g[:test_per_group]]
    train: list[int] = []
    for a, tied in ((0, 1), (1, 0)):
        major = groups[(a, tied)][test_per_group:]
        minor_pool = groups[(a, 1 - tied)][test_per_group:]
        n_minor = min(len(minor_pool), round(len(major) * (1 - tie) / tie))
        train += list(major) + list(minor_pool[:n_minor])
    train_arr = np.array(train)
    val_mask = np.zeros(len(train_arr), bool)
    for a in (0, 1):
        for y in (0, 1):
            members = np.flatnonzero((z[train_arr] == a) & (labels[train_arr] == y))
            members = rng.permutation(members)
            val_mask[members[: round(val_fraction * len(members))]] = True
    return SpuriousSplit(
        train=sorted(ids[train_arr[~val_mask]].tolist()),
        val=sorted(ids[train_arr[val_mask]].tolist()),
        test=sorted(ids[np.array(test)].tolist()),
        nuisance_values=values,
        tie=tie,
        test_per_group=test_per_group,
        seed=seed,
    )


def load_or_create_spurious_split(path: str | os.PathLike[str], **kwargs: object) -> SpuriousSplit:
    """The split stored at ``path``; drawn with :func:`make_spurious_split` and saved when absent.

    A stored split made with other parameters (tie, test_per_group, seed) is an error, never
    silently redrawn.
    """
    path = Path(path)
    kwargs.setdefault("seed", 42)
    wanted = {k: kwargs[k] for k in ("tie", "test_per_group", "seed")}
    if path.is_file():
        try:
            stored = SpuriousSplit(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path} is not a spurious-correlation split ({exc}): delete it to redraw") from exc
        if any(getattr(stored, k) != v for k, v in wanted.items()):
            raise DataError(f"{path} was drawn with other parameters than {wanted}: delete it to redraw")
        return stored
    split = make_spurious_split(**kwargs)  # type: ignore[arg-type]
    atomic_write_text(path, json.dumps(asdict(split), indent=1) + "\n")
    return split
