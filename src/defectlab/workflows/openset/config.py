"""The `job: openset` config: one known/unknown split of a defect dataset, validated with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from defectlab.data.formats import FORMATS
from defectlab.errors import ConfigError
from defectlab.pipelines.openset import METHODS
from defectlab.workflows.config_tools import build_dataclass


@dataclass(frozen=True)
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

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")


@dataclass(frozen=True)
class Stage1Config:
    """The gate: a detector fitted on defect-free images, threshold accepting ``accept`` of held-out ones."""

    detector: str = "patchcore"
    params: dict[str, Any] = field(default_factory=lambda: {"coreset_ratio": 0.1})
    accept: float = 0.95


@dataclass(frozen=True)
class ClassifierConfig:
    """The one-stage classifier: the attention classifier trained on cached backbone maps."""

    image_size: int = 224
    epochs: int = 30
    patience: int = 6
    lr: float = 1e-3


@dataclass(frozen=True)
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

    @property
    def split_dir(self) -> Path:
        """``<output>/<name>``: this split's outputs (the summary CSV lives in ``<output>``)."""
        return self.output / self.name


def load_openset_config(path: str | Path, raw: dict[str, Any] | None = None) -> OpenSetConfig:
    """Read and check a `job: openset` YAML file."""
    if raw is None:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    values = {k: v for k, v in raw.items() if k != "job"}
    for key in ("name", "known", "unknown"):
        if key not in values:
            raise ConfigError(f"{path}: '{key}' is required (the split's name, known classes and unknown classes)")
    if "data" in values:
        data = dict(values["data"] or {})
        for key in ("root", "good_root"):
            if data.get(key) is not None:
                data[key] = Path(data[key])
        values["data"] = build_dataclass(DataConfig, data, f"{path}: data")
    if "stage1" in values:
        values["stage1"] = build_dataclass(Stage1Config, values["stage1"], f"{path}: stage1")
    if "classifier" in values:
        values["classifier"] = build_dataclass(ClassifierConfig, values["classifier"], f"{path}: classifier")
    if "output" in values:
        values["output"] = Path(values["output"])
    config = build_dataclass(OpenSetConfig, values, str(path), tuples=("known", "unknown"))
    _check(config, path)
    return config


def _check(config: OpenSetConfig, path: str | Path) -> None:
    both = sorted(set(config.known) & set(config.unknown))
    if both:
        raise ConfigError(f"{path}: classes {both} are both known and unknown")
    if len(config.known) < 2 or not config.unknown:
        raise ConfigError(f"{path}: need at least two known classes and one unknown class")
    if config.method not in METHODS:
        raise ConfigError(f"{path}: method {config.method!r} unknown; valid: {', '.join(METHODS)}")
    if not 0.5 <= config.accept < 1 or not 0.5 <= config.stage1.accept < 1:
        raise ConfigError(f"{path}: accept and stage1.accept must be in [0.5, 1)")
    if not (0 < config.train_fraction and 0 < config.val_fraction and config.train_fraction + config.val_fraction < 1):
        raise ConfigError(f"{path}: train_fraction and val_fraction must be positive and leave a test part")
