"""The suite's config (`job: suite`): data sets x models x shifts."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from defectlab.backbones.extractor import FeatureConfig
from defectlab.config.base import config_model, named_after_file, parse_config, read_yaml
from defectlab.detectors.registry import DETECTORS
from defectlab.experiments.suite.data import DATASETS
from defectlab.shift.family import FAMILIES
from defectlab.shift.spec import ShiftSpec

DATA_FAMILIES = ("elpv", "texture", "synthetic")


@config_model
class ShiftEntry(ShiftSpec):
    """One test condition of the suite: a shift, on the data set families named."""

    families: tuple[Literal["elpv", "texture", "synthetic"], ...] = DATA_FAMILIES


@config_model
class ModelEntry:
    """One detector configuration to compare (a candidate default)."""

    name: str
    detector: str
    params: dict[str, Any] = field(default_factory=dict)
    backbone: str = "efficientnet_lite0"
    layers: tuple[str, ...] = ()
    image_size: int | Literal["native"] = 224
    pool_size: int = 3
    weights: str = "default"
    augment: str | None = None  # corruption family whose copies of the normals join the fit
    augment_copies: int = Field(1, ge=1)
    test_time_standardization: bool = False  # re-standardize features to each test set's own statistics
    align: bool = False  # align every image to a template of the training normals before inspecting it

    @field_validator("detector")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r}; choose one of {', '.join(DETECTORS)}")
        return value

    @field_validator("augment")
    @classmethod
    def _family(cls, value: str | None) -> str | None:
        if value is not None and value not in FAMILIES:
            raise ValueError(f"unknown corruption family {value!r}; choose one of {', '.join(FAMILIES)}")
        return value

    def features(self, native_size: int) -> FeatureConfig:
        """The feature configuration on a data set whose images are `native_size` pixels."""
        size = native_size if self.image_size == "native" else self.image_size
        return FeatureConfig(self.backbone, tuple(self.layers), int(size), self.pool_size, self.weights)


@config_model
class SuiteConfig:
    """Data sets x models x shifts of one suite run."""

    models: tuple[ModelEntry, ...]
    name: str = "detection benchmark suite"
    output: Path = Path("outputs/suite")
    data_dir: Path | None = None  # generated data sets (default: <output>/data)
    seed: int = 42
    datasets: tuple[str, ...] = DATASETS
    shifts: tuple[ShiftEntry, ...] = ()
    adapted: bool = True  # also refit on the shifted training images
    bootstrap: int = Field(50, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_file(cls, data: Any, info: Any) -> Any:
        return named_after_file(data, info.context, "output")

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [d for d in value if d not in DATASETS]
        if unknown:
            raise ValueError(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
        return value

    @field_validator("models")
    @classmethod
    def _unique(cls, value: tuple[ModelEntry, ...]) -> tuple[ModelEntry, ...]:
        names = [m.name for m in value]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"models need distinct names, got {names}")
        return value

    @property
    def data_root(self) -> Path:
        return self.data_dir or self.output / "data"


def suite_config(raw: dict[str, Any], where: str | Path = "suite config") -> SuiteConfig:
    """A validated suite config from a mapping (``job:`` may be present)."""
    values = {k: v for k, v in raw.items() if k != "job"}
    return parse_config(SuiteConfig, values, where, context={"stem": Path(str(where)).stem})


def load_suite_config(path: str | Path) -> SuiteConfig:
    """Read and validate a suite config file; errors name the file and the dotted key."""
    return suite_config(read_yaml(Path(path)), path)
