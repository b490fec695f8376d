"""The `job: robustness` config: what the protocol runs (shifts, adaptation, ablations, severity curves)."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, field_validator, model_validator

from defectlab.backbones.extractor import FeatureConfig
from defectlab.config.base import config_model, empty_as_default, named_after_file
from defectlab.config.dataset import DatasetConfig
from defectlab.detectors.registry import DETECTORS
from defectlab.shift import CORRUPTIONS
from defectlab.shift.spec import ShiftSpec

ALL_CORRUPTIONS = "all-corruptions"
"""A ``shifts`` value: every single corruption at severity 3."""


def _positive_ints(values: list[int]) -> list[int]:
    if not values or not all(v > 0 for v in values):
        raise ValueError(f"expected a non-empty list of positive integers, got {values!r}")
    return sorted(set(values))


PositiveInts = Annotated[list[int], AfterValidator(_positive_ints)]
"""A non-empty list of positive integers, sorted and without repeats."""


def _known_corruptions(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in CORRUPTIONS]
    if not names or unknown:
        raise ValueError(f"must name corruptions from {', '.join(CORRUPTIONS)}; got {names}")
    return names


def _expand_all(value: Any) -> Any:
    return [{"corruption": name} for name in CORRUPTIONS] if value == ALL_CORRUPTIONS else value


ShiftList = Annotated[list[ShiftSpec], BeforeValidator(_expand_all)]
"""A list of shifts, or ``all-corruptions``."""


@config_model
class FewShotConfig:
    """k shifted normal images added to the clean model (phase `few_shot`)."""

    shift: ShiftSpec
    k: PositiveInts = field(default_factory=lambda: [1, 5, 10, 20])


@config_model
class CrossDomainConfig:
    """Train on one category, test on another, without and with k target normals."""

    k: PositiveInts = field(default_factory=lambda: [1, 5, 10, 20])
    fraction: float | None = 0.1  # also adapt with this share of the target's training normals

    @field_validator("fraction")
    @classmethod
    def _share(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"must be in (0, 1], got {value!r}")
        return value


def _layer_sets(entries: Any) -> Any:
    return [(entry,) if isinstance(entry, str) else entry for entry in entries] if isinstance(entries, list) else entries


@config_model
class AblationConfig:
    """Switchable ablations: each list is one study; empty lists are skipped."""

    coreset_ratio: list[float] = field(default_factory=list)
    layers: Annotated[list[tuple[str, ...]], BeforeValidator(_layer_sets)] = field(default_factory=list)
    aggregation: list[str] = field(default_factory=list)
    shifts: ShiftList = field(default_factory=list)
    categories: list[str] | None = None  # None: every category

    @field_validator("coreset_ratio")
    @classmethod
    def _ratios(cls, ratios: list[float]) -> list[float]:
        if any(not 0 < r <= 1 for r in ratios):
            raise ValueError(f"ratios must be in (0, 1], got {ratios}")
        return ratios

    @field_validator("aggregation")
    @classmethod
    def _aggregations(cls, names: list[str]) -> list[str]:
        if set(names) - {"max", "topk"}:
            raise ValueError(f"choose from max, topk; got {names}")
        return names


@config_model
class SeverityConfig:
    """Severity curves: each corruption at each level; adapted also refits per level."""

    corruptions: Annotated[list[str], AfterValidator(_known_corruptions)]
    levels: PositiveInts = field(default_factory=lambda: [1, 2, 3, 4, 5])
    adapted: bool = False
    categories: list[str] | None = None  # None: every category

    @field_validator("levels")
    @classmethod
    def _within_five(cls, levels: list[int]) -> list[int]:
        if max(levels) > 5:
            raise ValueError(f"must be within 1..5, got {levels}")
        return levels


@config_model
class EmbeddingConfig:
    """A 2-D projection of patch features, clean vs ``shift``."""

    shift: ShiftSpec
    per_image: int = 8
    method: str = "tsne"
    max_points: int = 3000

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in ("tsne", "pca"):
            raise ValueError(f"must be tsne or pca, got {value!r}")
        return value


@config_model
class RobustnessConfig:
    """Everything the protocol runs; see configs/robustness.yaml for the meaning of each key.
    ``output`` defaults to ``outputs/<config file stem>``."""

    output: Path
    dataset: DatasetConfig
    shifts: ShiftList
    name: str | None = None
    detectors: list[str] = field(default_factory=lambda: ["patchcore"])
    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    few_shot: FewShotConfig | None = None
    global_model: bool = False
    cross_domain: CrossDomainConfig | None = None
    cross_shift: bool = False
    ablations: AblationConfig = field(default_factory=AblationConfig)
    severity: SeverityConfig | None = None
    embeddings: EmbeddingConfig | None = None
    gallery: int = 8
    adapt_draws: int = 1  # shifted copies of each training normal in the adapted refit
    seed: int = 42
    bootstrap: int = 200

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """``output`` from the file's stem; empty sections take their defaults."""
        return empty_as_default(named_after_file(data, info.context, "output"), "ablations", "detector_params", "features")

    @field_validator("shifts")
    @classmethod
    def _some_shift(cls, shifts: list[ShiftSpec]) -> list[ShiftSpec]:
        if not shifts:
            raise ValueError("list at least one shift")
        return shifts

    @field_validator("detectors")
    @classmethod
    def _known_detectors(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in DETECTORS]
        if unknown or not kinds:
            raise ValueError(f"detector(s) {unknown} unknown; valid: {', '.join(DETECTORS)}")
        return kinds

    @field_validator("detector_params", mode="before")
    @classmethod
    def _params_per_detector(cls, params: Any) -> Any:
        if not isinstance(params, dict):
            return params
        unknown = sorted(set(params) - set(DETECTORS))
        if unknown:
            raise ValueError(f"detector(s) {unknown} unknown; valid: {', '.join(DETECTORS)}")
        return {kind: value or {} for kind, value in params.items()}

    @field_validator("adapt_draws")
    @classmethod
    def _positive_draws(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be a positive integer, got {value}")
        return value

    @model_validator(mode="after")
    def _categories(self) -> RobustnessConfig:
        categories = self.dataset.categories
        if self.cross_domain is not None and len(categories) < 2:
            raise ValueError("cross_domain needs at least two categories")
        for section, chosen in (
            ("ablations", self.ablations.categories),
            ("severity", self.severity.categories if self.severity else None),
        ):
            if chosen is not None and (not chosen or set(chosen) - set(categories)):
                raise ValueError(f"{section}.categories: expected a list of the dataset's categories ({list(categories)})")
        return self
