"""Synthetic classification data for the classifier tests: noisy coloured images with a gray square."""

from __future__ import annotations

import numpy as np

from defectlab.classifiers.labels import LabelledSamples
from defectlab.data.sample import Sample

IMAGE_SIZE = 64
COLOURS = {"red": (200, 40, 40), "blue": (40, 40, 200), "green": (40, 200, 40)}


def coloured_samples(n: int, seed: int = 0, size: int = IMAGE_SIZE, classes: tuple[str, ...] = ("red", "blue")) -> list[Sample]:
    """n noisy images, class i % len(classes) coloured by class, each with a gray square somewhere."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        name = classes[i % len(classes)]
        image = np.empty((size, size, 3), np.int64)
        image[:] = COLOURS[name]
        image += rng.integers(-25, 25, image.shape)
        y, x = rng.integers(0, size - size // 3, 2)
        image[y : y + size // 3, x : x + size // 3] = 128
        samples.append(Sample(np.clip(image, 0, 255).astype(np.uint8), 0, f"{seed}/{i:03d}", "toy", name))
    return samples


def labelled(samples: list[Sample], classes: tuple[str, ...] = ("red", "blue")) -> LabelledSamples:
    """The samples labelled by their colour (index into ``classes``)."""
    labels = np.array([classes.index(s.defect_type) for s in samples], dtype=np.int64)
    return LabelledSamples(samples, labels, classes, "defect_type")
