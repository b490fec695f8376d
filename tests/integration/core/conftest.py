"""Fixtures for the core integration tests: one small synthetic MVTec category, one torch thread."""

from __future__ import annotations

import pytest

from defectlab.data.mvtec import read_mvtec
from defectlab.data.sample import Sample
from defectlab.data.synth import generate_synthetic_dataset


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test module here runs with one torch thread (see tests/conftest.py)."""
    yield


@pytest.fixture(scope="module")
def texture_split(tmp_path_factory) -> tuple[list[Sample], list[Sample]]:
    """(train, test) of a 128 px synthetic texture category drawn with seed 7 (not the default 42)."""
    root = generate_synthetic_dataset(
        tmp_path_factory.mktemp("synth"),
        categories=("texture",),
        n_train=20,
        n_test_good=8,
        n_test_defect_per_type=3,
        size=128,
        seed=7,
    )
    samples = read_mvtec(root, "texture")
    train = [s for s in samples if s.metadata["subset"] == "train"]
    test = [s for s in samples if s.metadata["subset"] == "test"]
    return train, test
