"""The spurious-correlation split: a nuisance tied to the label in training, balanced groups in test.

With two nuisance values ``z0 < z1`` (sorted; on ELPV ``mono`` and ``poly``) and two classes,
training ties ``z0`` to class 1 and ``z1`` to class 0: in each stratum the tied class makes
``tie`` of the images (all of that group's remaining images are used; the other group is
subsampled to match). The test set holds ``test_per_group`` images of every (nuisance, class)
group, so half of it goes against the training tie and a model that reads the nuisance fails
there; its worst-group accuracy shows it. A share ``val_fraction`` of the training images,
stratified by group, is held out for early stopping. The split is saved as JSON and reused.

An **applied** nuisance is a shift-suite corruption that the study itself puts on the images
(:func:`make_applied_split`): a seeded draw makes half of the images ``applied`` and the others
``withheld``, then the same tie is drawn; the split records which of its images get the
corruption (:class:`AppliedShift`). As every original is at hand, the counterfactual of each
image is exact: the image with the corruption applied and withheld.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.data.sample import Sample
from defectlab.errors import DataError
from defectlab.fileio import atomic_write_text
from defectlab.shift.corrupt import apply_corruption
from defectlab.shift.materialize import image_seed

RULE = "spurious-tie"
APPLIED, WITHHELD = "applied", "withheld"
"""The two values of an applied nuisance (sorted: ``applied`` is z0, tied to class 1)."""


@dataclass(frozen=True)
class AppliedShift:
    """The corruption put on the images of the ``applied`` stratum: name, severity, seed and those images' ids.

    Image ``id`` gets the corruption seeded with ``image_seed(seed, corruption, id)``.
    """

    corruption: str
    severity: int
    seed: int
    images: list[str]

    def apply(self, image: np.ndarray, image_id: str) -> np.ndarray:
        """``image`` (whichever its stratum) with the corruption, as image ``image_id`` gets it."""
        seed = image_seed(self.seed, self.corruption, image_id)
        return apply_corruption(image, None, self.corruption, self.severity, seed)[0]

    def apply_to(self, samples: Sequence[Sample], key: str) -> list[Sample]:
        """``samples`` as the split shows them: the corruption on the applied ones, and each one's stratum
        (``applied`` or ``withheld``) in ``metadata[key]``."""
        applied = set(self.images)
        return [
            replace(
                s,
                image=self.apply(s.image, s.id) if s.id in applied else s.image,
                metadata={**s.metadata, key: APPLIED if s.id in applied else WITHHELD},
            )
            for s in samples
        ]


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
    shift: AppliedShift | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``shift`` only for an applied nuisance."""
        fields = asdict(self)
        if self.shift is None:
            del fields["shift"]
        return fields

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> SpuriousSplit:
        """The split of :meth:`to_dict`."""
        shift = fields.get("shift")
        return cls(**{**fields, "shift": None if shift is None else AppliedShift(**shift)})


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


def make_applied_split(
    ids: Sequence[str],
    labels: np.ndarray,
    corruption: str,
    severity: int,
    tie: float,
    test_per_group: int,
    seed: int = 42,
    val_fraction: float = 0.2,
) -> SpuriousSplit:
    """Draw which half of the images is ``applied`` (seeded), then :func:`make_spurious_split` with that
    nuisance; the split's ``shift`` records the corruption and the ids of its applied images."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])  # a stream apart from the tie's draws
    applied = rng.permutation(len(ids)) < len(ids) // 2
    nuisance = [APPLIED if a else WITHHELD for a in applied]
    split = make_spurious_split(ids, labels, nuisance, tie, test_per_group, seed, val_fraction)
    used = set(split.train) | set(split.val) | set(split.test)
    images = sorted(i for i, a in zip(ids, applied, strict=True) if a and i in used)
    return replace(split, shift=AppliedShift(corruption, severity, seed, images))


def load_or_create_spurious_split(path: str | os.PathLike[str], **kwargs: Any) -> SpuriousSplit:
    """The split stored at ``path``; drawn and saved when absent: with :func:`make_applied_split` when
    ``kwargs`` name a ``corruption``, else with :func:`make_spurious_split`.

    A stored split made with other parameters (tie, test_per_group, seed; corruption and
    severity) is an error, never silently redrawn.
    """
    path = Path(path)
    kwargs.setdefault("seed", 42)
    wanted = {k: kwargs[k] for k in ("tie", "test_per_group", "seed")}
    applied = "corruption" in kwargs
    wanted["shift"] = (kwargs["corruption"], kwargs["severity"]) if applied else None
    if path.is_file():
        try:
            stored = SpuriousSplit.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError, AttributeError) as exc:
            raise DataError(f"{path} is not a spurious-correlation split ({exc}): delete it to redraw") from exc
        found = {
            **{k: getattr(stored, k) for k in ("tie", "test_per_group", "seed")},
            "shift": None if stored.shift is None else (stored.shift.corruption, stored.shift.severity),
        }
        if found != wanted:
            raise DataError(f"{path} was drawn with other parameters than {wanted}: delete it to redraw")
        return stored
    split = make_applied_split(**kwargs) if applied else make_spurious_split(**kwargs)
    atomic_write_text(path, json.dumps(split.to_dict(), indent=1) + "\n")
    return split
