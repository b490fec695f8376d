"""Shared small inputs for the classifier unit tests (one torch thread per module)."""

from __future__ import annotations

import pytest
from _classifier_data import coloured_samples, labelled

from defectlab.classifiers.labels import LabelledSamples


@pytest.fixture(scope="module")
def train_set() -> LabelledSamples:
    return labelled(coloured_samples(16, seed=0))


@pytest.fixture(scope="module")
def val_set() -> LabelledSamples:
    return labelled(coloured_samples(8, seed=1))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test module here runs with one torch thread (see tests/conftest.py)."""
    yield
