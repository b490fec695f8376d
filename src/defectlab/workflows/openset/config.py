"""The `job: openset` config: one known/unknown split of a defect dataset, validated with clear errors."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from defectlab.config.base import config_model
from defectlab.data.formats import FORMATS
from defectlab.pipelines.openset import METHODS


@config_model
class DataConfig:
    """Where the images come from: a dataset ``format`` at ``root`` (classes = defect types, normal
    images = ``good``), optionally generated first (``generate``: arguments of the synthetic steel
    generator) when ``root`` does not exist. ``good_root``: a folder of defect-free images for
    stage 1 when the dataset has none (NEU)."""

    format: str = "folder"
    root: Path | None = None
    category: str | None = None
    good_root: Path | None = None
    generate: dict[str, Any] | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {value!r}")
        return value


@config_model
class Stage1Config:
    """The gate: a detector fitted on defect-free images, threshold accepting ``accept`` of held-out ones."""

    detector: str = "patchcore"
    params: dict[str, Any] = field(default_factory=lambda: {"coreset_ratio": 0.1})
    accept: float = 0.95


@config_model
class ClassifierConfig:
    """The one-stage classifier: the attention classifier trained on cached backbone maps."""

    image_size: int = 224
    epochs: int = 30
    patience: int = 6
    lr: float = 1e-3


@config_model
class OpenSetConfig:
    """One split: ``known`` classes to learn, ``unknown`` ones only seen at test time.

    ``image_size`` and ``weights`` ('default', 'random' or a weights file) set the shared backbone
    of the detectors' features; the classifier uses the same weights at ``classifier.image_size``.
    ``learn_regions``: where every known training defect image has a mask, the localized stage 2
    weights the anomaly map with a learned defect-region model (otherwise the anomaly map alone).
    ``method``: the open-set score behind the run's decisions (outcomes, OSCR curves, score
    histograms); every method's metrics are reported regardless.
    """

    name: str
    known: tuple[str, ...]
    unknown: tuple[str, ...]
    data: DataConfig = field(default_factory=DataConfig)
    output: Path = Path("outputs/openset")
    stage1: Stage1Config = field(default_factory=Stage1Config)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    accept: float = 0.95
    image_size: int = 224
    weights: str = "default"
    train_fraction: float = 0.6
    val_fraction: float = 0.2
    quantile: float = 0.9
    learn_regions: bool = True
    method: str = "vim"
    seed: int = 42

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> OpenSetConfig:
        both = sorted(set(self.known) & set(self.unknown))
        if both:
            raise ValueError(f"classes {both} are both known and unknown")
        if len(self.known) < 2:
            raise ValueError("need at least two known classes and one unknown class")
        if info.context is not None and not self.unknown:  # a config file; fit-openset derives them from the data
            raise ValueError("need at least two known classes and one unknown class")
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r} unknown; valid: {', '.join(METHODS)}")
        if not 0.5 <= self.accept < 1 or not 0.5 <= self.stage1.accept < 1:
            raise ValueError("accept and stage1.accept must be in [0.5, 1)")
        if not (0 < self.train_fraction and 0 < self.val_fraction and self.train_fraction + self.val_fraction < 1):
            raise ValueError("train_fraction and val_fraction must be positive and leave a test part")
        return self

    @property
    def split_dir(self) -> Path:
        """``<output>/<name>``: this split's outputs (the summary CSV lives in ``<output>``)."""
        return self.output / self.name
