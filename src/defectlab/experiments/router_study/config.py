"""The `job: router` config: what the multi-product (router) study runs, validated with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from defectlab.backbones.extractor import FeatureConfig
from defectlab.data.elpv import CELL_TYPES
from defectlab.data.synth_normals import KINDS
from defectlab.detectors.registry import DETECTORS, make_detector
from defectlab.errors import ConfigError
from defectlab.pipelines.router import CategoryRouter
from defectlab.workflows.detection import THRESHOLD_METHODS

ELPV_PREFIX = "elpv-"
"""ELPV cell types become categories ``elpv-mono`` and ``elpv-poly``."""


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class RouterStudyConfig:
    """Everything the study runs; see configs/router.yaml for the meaning of each key."""

    output: Path = Path("outputs/router")
    seed: int = 42
    features: FeatureConfig = field(default_factory=FeatureConfig)
    elpv: tuple[str, ...] = CELL_TYPES
    elpv_router_share: float = 0.5
    synthetic: SynthConfig = field(default_factory=SynthConfig)
    system_detector: str = "patchcore"
    detectors: tuple[str, ...] = ("cae", "patchcore", "padim")
    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    router: dict[str, Any] = field(default_factory=dict)
    held_out: tuple[str, ...] | None = None
    global_model: bool = True
    threshold: str = "auto"
    calibration_holdout: float = 0.1

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


def load_router_config(path: str | Path, raw: dict[str, Any] | None = None) -> RouterStudyConfig:
    """Read and check a `job: router` YAML file (``raw``: its content when already read)."""
    where = str(path)
    if raw is None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read {where}: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    values = {k: v for k, v in raw.items() if k != "job"}
    _check_keys(values, RouterStudyConfig, where)
    if "output" in values:
        values["output"] = Path(values["output"])
    for key in ("elpv", "detectors", "held_out"):
        if values.get(key) is not None:
            values[key] = tuple(_string_list(values[key], f"{where}: {key}"))
    if "features" in values:
        values["features"] = _features(values["features"], f"{where}: features")
    if "synthetic" in values:
        synth = values["synthetic"] or {}
        _check_keys(synth, SynthConfig, f"{where}: synthetic")
        values["synthetic"] = _build(SynthConfig, synth, f"{where}: synthetic")
    for key in ("detector_params", "router"):
        if key in values and not isinstance(values[key] or {}, dict):
            raise ConfigError(f"{where}: '{key}' must be a mapping, got {values[key]!r}")
        values[key] = dict(values.get(key) or {})
    config = _build(RouterStudyConfig, values, where)
    _check(config, where)
    return config


def _check_keys(mapping: Any, cls: type, where: str) -> None:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {mapping!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")


def _string_list(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{where}: expected a list of names, got {value!r}")
    return items


def _features(section: Any, where: str) -> FeatureConfig:
    _check_keys(section, FeatureConfig, where)
    values = dict(section)
    if values.get("layers") is not None:
        values["layers"] = tuple(_string_list(values["layers"], f"{where}.layers"))
    return _build(FeatureConfig, values, where)  # type: ignore[no-any-return]


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check(config: RouterStudyConfig, where: str) -> None:
    bad_cells = sorted(set(config.elpv) - set(CELL_TYPES))
    if bad_cells:
        raise ConfigError(f"{where}: elpv lists unknown cell types {bad_cells}; valid: {', '.join(CELL_TYPES)}")
    if not 0.0 <= config.elpv_router_share < 1.0:
        raise ConfigError(f"{where}: elpv_router_share must be in [0, 1), got {config.elpv_router_share}")
    synth = config.synthetic
    for name, kind in synth.categories.items():
        if kind not in KINDS:
            raise ConfigError(f"{where}: synthetic category '{name}' has unknown kind '{kind}'; valid: {', '.join(KINDS)}")
    for key in ("size", "n_train", "n_test_good", "n_defect"):
        if not isinstance(getattr(synth, key), int) or getattr(synth, key) < 1:
            raise ConfigError(f"{where}: synthetic.{key} must be a positive integer, got {getattr(synth, key)!r}")
    names = config.category_names
    if len(set(names)) < len(names):
        raise ConfigError(f"{where}: category names must be distinct, got {names}")
    if len(names) < 2:
        raise ConfigError(f"{where}: a router needs at least two categories (elpv + synthetic), got {names}")
    for kind in (config.system_detector, *config.detectors, *config.detector_params):
        if kind not in DETECTORS:
            raise ConfigError(f"{where}: detector '{kind}' unknown; valid: {', '.join(DETECTORS)}")
        _build(make_detector, {"kind": kind, "params": config.params(kind)}, f"{where}: detector_params")
    if config.held_out is not None:
        unknown = sorted(set(config.held_out) - set(names))
        if unknown:
            raise ConfigError(f"{where}: held_out names {unknown}, which are not categories of the study ({names})")
        if config.held_out and len(names) < 3:
            raise ConfigError(f"{where}: holding a category out needs at least three categories (two stay known)")
    _build(CategoryRouter, dict(config.router), f"{where}: router")
    if config.threshold not in THRESHOLD_METHODS:
        raise ConfigError(f"{where}: threshold '{config.threshold}' unknown; valid: {', '.join(THRESHOLD_METHODS)}")
    if not 0 < config.calibration_holdout < 1:
        raise ConfigError(f"{where}: calibration_holdout must be in (0, 1), got {config.calibration_holdout}")
    if config.features.image_size < 32:
        raise ConfigError(f"{where}: features.image_size must be at least 32, got {config.features.image_size}")
