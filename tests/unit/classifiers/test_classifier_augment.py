"""Augmentation pipelines: seeded, uint8 HxWx3 in and out at the target size."""

from __future__ import annotations

import numpy as np
import pytest
from _classifier_data import coloured_samples

from defectlab.classifiers.augment import eval_pipeline, train_pipeline
from defectlab.errors import DataError


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [s.image for s in coloured_samples(6, size=48)]


def run(pipeline, images):
    return [pipeline(image) for image in images]


def test_same_seed_same_outputs_other_seed_differs(images):
    first = run(train_pipeline(40, seed=7), images)
    again = run(train_pipeline(40, seed=7), images)
    other = run(train_pipeline(40, seed=8), images)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_training_outputs_are_uint8_at_size_and_augmented(images):
    outputs = run(train_pipeline(40, seed=0), images * 3)
    resized = run(eval_pipeline(40), images * 3)
    assert all(o.dtype == np.uint8 and o.shape == (40, 40, 3) and o.flags.c_contiguous for o in outputs)
    assert sum(not np.array_equal(o, r) for o, r in zip(outputs, resized)) >= len(outputs) // 2


def test_eval_is_a_deterministic_resize(images):
    pipeline = eval_pipeline(32)
    out = pipeline(images[0])
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(out, pipeline(images[0]))
    np.testing.assert_allclose(out.mean(axis=(0, 1)), images[0].mean(axis=(0, 1)), atol=2)


def test_read_only_broadcast_gray_images_are_accepted():
    gray = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    gray.flags.writeable = False
    image = np.broadcast_to(gray[:, :, None], (48, 48, 3))  # how ELPV samples hold their images
    assert train_pipeline(32, seed=1)(image).shape == (32, 32, 3)


@pytest.mark.parametrize("image", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8)])
def test_bad_images_are_data_errors(image):
    with pytest.raises(DataError, match="uint8 HxWx3"):
        eval_pipeline(8)(image)
