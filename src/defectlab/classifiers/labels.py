"""Class schemes: turn samples into integer class labels plus class names.

``defect_type``: one class per ``Sample.defect_type`` (``good`` included), names sorted; for
MVTec, folder trees and NEU, where the folder names the defect type.

``elpv_binary``: ELPV cells (``metadata["proba"]``) as ``functional`` (proba 0) vs ``defective``
(proba >= 0.5). Cells in between (proba 1/3, the experts' "probably fine") fit neither class and
are **dropped**, the same rule as the anomaly-detection protocol.

``elpv_4``: the four ELPV expert probabilities 0, 1/3, 2/3, 1 as classes ``p0``, ``p33``,
``p67``, ``p100`` (ordered by probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from defectlab.data.sample import Sample
from defectlab.data.splits import Split, apply
from defectlab.errors import ConfigError, DataError

SCHEMES = ("defect_type", "elpv_binary", "elpv_4")
"""Class scheme names accepted by :func:`label_samples`."""

ELPV_BINARY_CLASSES = ("functional", "defective")
ELPV_4_CLASSES = ("p0", "p33", "p67", "p100")
_PROBA_TOLERANCE = 1e-6


@dataclass(frozen=True)
class LabelledSamples:
    """Samples with their class index under one scheme (``labels[i]`` belongs to ``samples[i]``)."""

    samples: list[Sample]
    labels: np.ndarray
    class_names: tuple[str, ...]
    scheme: str

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def images(self) -> list[np.ndarray]:
        """The samples' images, in order."""
        return [sample.image for sample in self.samples]

    def select(self, samples: Sequence[Sample]) -> LabelledSamples:
        """The same labelling restricted to ``samples`` (a subset of these, found by id)."""
        label_of = {sample.id: int(label) for sample, label in zip(self.samples, self.labels, strict=True)}
        labels = np.array([label_of[sample.id] for sample in samples], dtype=np.int64)
        return LabelledSamples(list(samples), labels, self.class_names, self.scheme)

    def split(self, split: Split) -> tuple[LabelledSamples, LabelledSamples, LabelledSamples]:
        """(train, val, test) parts named by ``split``."""
        train, val, test = apply(split, self.samples)
        return self.select(train), self.select(val), self.select(test)


def check_scheme(scheme: str) -> None:
    """ConfigError unless ``scheme`` is one of SCHEMES."""
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown class scheme '{scheme}'; valid: {', '.join(SCHEMES)}")


def label_samples(samples: Sequence[Sample], scheme: str) -> LabelledSamples:
    """Class labels of ``samples`` under ``scheme`` (one of SCHEMES); DataError when it does not apply."""
    check_scheme(scheme)
    if not samples:
        raise DataError(f"class scheme '{scheme}' got no samples")
    if scheme == "defect_type":
        names = tuple(sorted({sample.defect_type for sample in samples}))
        kept = list(samples)
        labels = [names.index(sample.defect_type) for sample in kept]
    else:
        probas = [_elpv_proba(sample, scheme) for sample in samples]
        if scheme == "elpv_binary":
            names = ELPV_BINARY_CLASSES
            kept = [s for s, p in zip(samples, probas, strict=True) if p == 0 or p >= 0.5]
            labels = [int(p >= 0.5) for p in probas if p == 0 or p >= 0.5]
        else:
            names = ELPV_4_CLASSES
            kept = list(samples)
            labels = [_quarter_class(sample, p) for sample, p in zip(samples, probas, strict=True)]
    present = sorted(set(labels))
    if len(present) < 2:
        only = names[present[0]] if present else "none"
        raise DataError(f"class scheme '{scheme}' needs at least two classes in the data; found only {only}")
    return LabelledSamples(kept, np.array(labels, dtype=np.int64), names, scheme)


def _elpv_proba(sample: Sample, scheme: str) -> float:
    proba = sample.metadata.get("proba")
    if proba is None:
        raise DataError(
            f"class scheme '{scheme}' needs ELPV samples (metadata 'proba'); sample '{sample.id}' has none: "
            "use --format elpv or the 'defect_type' scheme"
        )
    return float(proba)


def _quarter_class(sample: Sample, proba: float) -> int:
    index = round(proba * 3)
    if not 0 <= index <= 3 or abs(proba - index / 3) > _PROBA_TOLERANCE:
        raise DataError(f"sample '{sample.id}' has ELPV proba {proba}, not one of 0, 1/3, 2/3, 1")
    return index
