"""Corrupted copies of normal images from a family of conditions: the training-time side of
robustness (one model whose notion of normal already spans lighting, blur, noise and compression)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from defectlab.data.sample import Sample
from defectlab.errors import ConfigError
from defectlab.shift.corrupt import apply_corruption
from defectlab.shift.registry import SEVERITIES

FAMILIES: dict[str, tuple[str, ...]] = {
    "photometric": ("brightness", "contrast", "gamma", "gaussian_blur", "motion_blur", "gaussian_noise", "jpeg"),
}
"""Named families of the project's own corruptions (never the ImageNet-C ones the suite tests with)."""


def corrupted_copies(samples: Sequence[Sample], family: str, copies: int = 1, seed: int = 42) -> list[Sample]:
    """`copies` corrupted versions of each sample: each draws one corruption of `family` and a severity
    in 1..5, seeded by the sample's id, so the same images always get the same copies."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown corruption family {family!r}; choose one of {', '.join(FAMILIES)}")
    if copies < 1:
        raise ConfigError(f"copies must be at least 1, got {copies}")
    names = FAMILIES[family]
    out = []
    for sample in samples:
        for copy in range(copies):
            rng = np.random.default_rng([seed, zlib.crc32(sample.id.encode()), copy])
            name, severity = names[int(rng.integers(len(names)))], int(rng.choice(SEVERITIES))
            image, mask = apply_corruption(sample.image, sample.mask, name, severity, int(rng.integers(2**31)))
            out.append(replace(sample, image=image, mask=mask, id=f"{sample.id}#{name}@{severity}.{copy}"))
    return out
