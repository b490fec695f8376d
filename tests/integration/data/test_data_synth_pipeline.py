"""Synthetic data end to end: generate, read through the format dispatch, split, reload."""

from __future__ import annotations

from pathlib import Path

from defectlab.data.formats import read_dataset
from defectlab.data.splits import apply, load_or_create_split
from defectlab.data.synth import generate_synthetic_dataset


def test_generate_read_split(tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path / "synth")
    for category in ("texture", "object"):
        samples = read_dataset(root, "mvtec", category)
        assert len(samples) == 20 + 8 + 5 * 4
        path = tmp_path / "splits" / f"{category}.json"
        split = load_or_create_split(path, samples, "mvtec", 42)
        assert load_or_create_split(path, samples, "mvtec", 42) == split
        train, val, test = apply(split, samples)
        assert len(train) == 16 and all(s.label == 0 for s in train)
        assert sum(s.label for s in val) == 5 * 1 and sum(1 - s.label for s in val) == 4
        assert sum(s.label for s in test) == 5 * 3 and sum(1 - s.label for s in test) == 8
        assert all(s.mask is not None and s.mask.any() for s in test if s.label)
