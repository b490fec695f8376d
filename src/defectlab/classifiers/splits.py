"""Seeded train/val/test splits stratified by class, stored with :class:`defectlab.data.splits.Split`.

Rule ``stratified/<scheme>``: for each class in index order, the class's samples (input order)
are permuted with one ``numpy.random.default_rng(seed)`` shared across classes; the first
``round(test_fraction * n)`` go to test, the next ``round(val_fraction * n)`` to val, the rest to
train, with at least one sample in each part (so every class needs at least three samples).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from defectlab import __version__
from defectlab.classifiers.labels import LabelledSamples

# category_name: the stored split's category must be the one load_or_create_split checks against
from defectlab.data.splits import DEFAULT_SEED, Split, category_name, load_or_create_split
from defectlab.errors import ConfigError, DataError

VAL_FRACTION = 0.2
TEST_FRACTION = 0.2
MIN_PER_CLASS = 3


def stratified_rule(scheme: str) -> str:
    """The split rule name recorded for class scheme ``scheme``."""
    return f"stratified/{scheme}"


def make_stratified_split(
    data: LabelledSamples,
    seed: int = DEFAULT_SEED,
    val_fraction: float = VAL_FRACTION,
    test_fraction: float = TEST_FRACTION,
) -> Split:
    """Split ``data`` per class into train/val/test (see the module docstring)."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"val and test fractions must be in (0, 1) with sum < 1, got {val_fraction}, {test_fraction}")
    rng = np.random.default_rng(seed)
    parts: tuple[list[str], list[str], list[str]] = ([], [], [])
    for label, name in enumerate(data.class_names):
        members = np.flatnonzero(data.labels == label)
        n = len(members)
        if n == 0:
            continue
        if n < MIN_PER_CLASS:
            raise DataError(f"class '{name}' has {n} sample(s); a train/val/test split needs at least {MIN_PER_CLASS}")
        n_test = min(max(1, round(test_fraction * n)), n - 2)
        n_val = min(max(1, round(val_fraction * n)), n - n_test - 1)
        ids = [data.samples[i].id for i in members[rng.permutation(n)]]
        parts[2].extend(ids[:n_test])
        parts[1].extend(ids[n_test : n_test + n_val])
        parts[0].extend(ids[n_test + n_val :])
    created = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "defectlab": __version__}
    return Split(*parts, seed, stratified_rule(data.scheme), category_name(data.samples), created)


def load_or_create_stratified_split(path: str | os.PathLike[str], data: LabelledSamples, seed: int = DEFAULT_SEED) -> Split:
    """Read the split at ``path`` (checking rule, seed and category) or draw it and save it there."""
    if Path(path).exists():  # reading and checking a stored split does not depend on its rule
        return load_or_create_split(path, data.samples, stratified_rule(data.scheme), seed)
    split = make_stratified_split(data, seed)
    split.save(path)
    return split
