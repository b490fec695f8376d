"""The ``job: detection`` config: datasets, categories, detectors, features and outputs of the main job."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from defectlab.backbones.extractor import FeatureConfig
from defectlab.config.base import config_model, named_after_file
from defectlab.config.dataset import DatasetConfig
from defectlab.detectors.registry import DETECTORS
from defectlab.workflows.detection import THRESHOLD_METHODS


@config_model
class DetectorEntry:
    """One detector of the job: its registry ``kind`` and constructor ``params``."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(DETECTORS)}")
        return value


@config_model
class DetectionJobConfig:
    """Every detector fitted, calibrated and evaluated on every category of ``dataset``.
    ``name`` and ``output`` default to the config file's stem."""

    name: str
    output: Path
    dataset: DatasetConfig
    detectors: tuple[DetectorEntry, ...]
    features: FeatureConfig = field(default_factory=FeatureConfig)
    threshold: str = "auto"
    holdout: float = 0.1
    align: bool = False  # align every image to a template of the training normals first
    seed: int = 42
    cache: bool = True
    bootstrap: int = 1000

    @model_validator(mode="before")
    @classmethod
    def _file_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return named_after_file(data, info.context, "name", "output")

    @field_validator("detectors")
    @classmethod
    def _some(cls, value: tuple[DetectorEntry, ...]) -> tuple[DetectorEntry, ...]:
        if not value:
            raise ValueError("list at least one detector")
        return value

    @field_validator("threshold")
    @classmethod
    def _known_threshold(cls, value: str) -> str:
        if value not in THRESHOLD_METHODS:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(THRESHOLD_METHODS)}")
        return value
