"""Corrupted copies from a family: seeded per image, one family corruption each, masks kept."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.data.sample import Sample
from defectlab.errors import ConfigError
from defectlab.shift.family import FAMILIES, corrupted_copies


def _samples(n: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [Sample(image=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), label=0, id=f"good/{i}.png") for i in range(n)]


def test_copies_are_seeded_and_named_by_their_corruption() -> None:
    samples = _samples(6)
    first, second = corrupted_copies(samples, "photometric", 2, seed=3), corrupted_copies(samples, "photometric", 2, seed=3)
    assert len(first) == 12
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        name = a.id.split("#")[1].split("@")[0]
        assert name in FAMILIES["photometric"] and a.label == 0
    assert any(not np.array_equal(c.image, s.image) for c, s in zip(first[::2], samples, strict=True))
    other = corrupted_copies(samples, "photometric", 2, seed=4)
    assert any(a.id != b.id or not np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))


def test_bad_family_or_count() -> None:
    with pytest.raises(ConfigError, match="unknown corruption family"):
        corrupted_copies(_samples(1), "weather")
    with pytest.raises(ConfigError, match="at least 1"):
        corrupted_copies(_samples(1), "photometric", 0)
