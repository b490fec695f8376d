"""The `job: router` config: what the multi-product (router) study runs, validated with clear errors."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from defectlab.backbones.extractor import FeatureConfig
from defectlab.config.base import config_model
from defectlab.data.elpv import CELL_TYPES
from defectlab.data.synth_normals import KINDS
from defectlab.detectors.registry import DETECTORS, make_detector
from defectlab.errors import ConfigError
from defectlab.pipelines.router import CategoryRouter
from defectlab.workflows.detection import THRESHOLD_METHODS

ELPV_PREFIX = "elpv-"
"""ELPV cell types become categories ``elpv-mono`` and ``elpv-poly``."""


def _names(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Names = Annotated[tuple[str, ...], BeforeValidator(_names)]
"""One name or a list of names."""


@config_model
class SynthConfig:
    """Synthetic MVTec-layout categories (name -> kind), generated once under ``<output>/data``."""

    categories: dict[str, str] = field(
        default_factory=lambda: {"synth-texture-a": "texture", "synth-texture-b": "texture", "synth-object": "object"}
    )
    size: int = 128
    n_train: int = 80
    n_test_good: int = 24
    n_defect: int = 6
    """Test images per defect type (the MVTec split rule moves 30% of them to validation)."""

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        for name, kind in self.categories.items():
            if kind not in KINDS:
                raise ValueError(f"category '{name}' has unknown kind '{kind}'; valid: {', '.join(KINDS)}")
        for key in ("size", "n_train", "n_test_good", "n_defect"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive integer, got {getattr(self, key)!r}")
        return self


@config_model
class RouterStudyConfig:
    """Everything the study runs; see configs/router.yaml for the meaning of each key."""

    output: Path = Path("outputs/router")
    seed: int = 42
    features: FeatureConfig = field(default_factory=FeatureConfig)
    elpv: Names = CELL_TYPES
    elpv_router_share: float = 0.5
    synthetic: SynthConfig = field(default_factory=SynthConfig)
    system_detector: str = "patchcore"
    detectors: Names = ("cae", "patchcore", "padim")
    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    router: dict[str, Any] = field(default_factory=dict)
    held_out: Names | None = None
    global_model: bool = True
    threshold: str = "auto"
    calibration_holdout: float = 0.1

    @model_validator(mode="after")
    def _check(self) -> RouterStudyConfig:
        bad_cells = sorted(set(self.elpv) - set(CELL_TYPES))
        if bad_cells:
            raise ValueError(f"elpv lists unknown cell types {bad_cells}; valid: {', '.join(CELL_TYPES)}")
        if not 0.0 <= self.elpv_router_share < 1.0:
            raise ValueError(f"elpv_router_share must be in [0, 1), got {self.elpv_router_share}")
        names = self.category_names
        if len(set(names)) < len(names):
            raise ValueError(f"category names must be distinct, got {names}")
        if len(names) < 2:
            raise ValueError(f"a router needs at least two categories (elpv + synthetic), got {names}")
        for kind in (self.system_detector, *self.detectors, *self.detector_params):
            if kind not in DETECTORS:
                raise ValueError(f"detector '{kind}' unknown; valid: {', '.join(DETECTORS)}")
            _built(make_detector, "detector_params", kind=kind, params=self.params(kind))
        if self.held_out is not None:
            unknown = sorted(set(self.held_out) - set(names))
            if unknown:
                raise ValueError(f"held_out names {unknown}, which are not categories of the study ({names})")
            if self.held_out and len(names) < 3:
                raise ValueError("holding a category out needs at least three categories (two stay known)")
        _built(self.make_router, "router")
        if self.threshold not in THRESHOLD_METHODS:
            raise ValueError(f"threshold '{self.threshold}' unknown; valid: {', '.join(THRESHOLD_METHODS)}")
        if not 0 < self.calibration_holdout < 1:
            raise ValueError(f"calibration_holdout must be in (0, 1), got {self.calibration_holdout}")
        if self.features.image_size < 32:
            raise ValueError(f"features.image_size must be at least 32, got {self.features.image_size}")
        return self

    @property
    def category_names(self) -> list[str]:
        """Every category of the study: the ELPV cell types, then the synthetic ones."""
        return [ELPV_PREFIX + cell for cell in self.elpv] + list(self.synthetic.categories)

    @property
    def unknown_trials(self) -> list[str]:
        """The categories held out of the router in turn (none when fewer than three categories)."""
        if self.held_out is not None:
            return list(self.held_out)
        names = self.category_names
        return names if len(names) >= 3 else []

    def params(self, kind: str) -> dict[str, Any]:
        """Constructor parameters of detector ``kind``: the study's seed and its ``detector_params``."""
        return {"seed": self.seed, **self.detector_params.get(kind, {})}

    def make_router(self) -> CategoryRouter:
        """A fresh (unfitted) router with the configured parameters."""
        return CategoryRouter(**{"seed": self.seed, **self.router})


def _built(build: Any, section: str, **kwargs: Any) -> None:
    """Build once with the configured parameters, so that bad ones are a config error naming ``section``."""
    try:
        build(**kwargs)
    except (TypeError, ConfigError) as exc:
        raise ValueError(f"{section}: {exc}") from exc
