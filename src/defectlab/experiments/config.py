"""The YAML config of a detection job (`defectlab run`), parsed into typed objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from defectlab.backbones.extractor import FeatureConfig
from defectlab.data.formats import FORMATS
from defectlab.data.splits import RULES
from defectlab.detectors.registry import DETECTORS
from defectlab.errors import ConfigError
from defectlab.workflows.detection import THRESHOLD_METHODS


@dataclass
class DetectorEntry:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectionJobConfig:
    """Datasets, categories, detectors, features and outputs of one detection job."""

    name: str
    output: Path
    data_format: str
    data_root: str | None
    categories: list[str | None]
    split_rule: str
    detectors: list[DetectorEntry]
    features: FeatureConfig
    threshold: str = "auto"
    holdout: float = 0.1
    seed: int = 42
    cache: bool = True
    n_bootstrap: int = 1000
    raw: dict[str, Any] = field(default_factory=dict)


_TOP_KEYS = {"job", "name", "output", "dataset", "detectors", "features", "threshold", "holdout", "seed", "cache", "bootstrap"}
_SECTION_KEYS = {
    "dataset": {"format", "root", "categories", "split_rule"},
    "features": {"backbone", "layers", "image_size", "pool_size", "weights"},
    "detectors": {"kind", "params"},
}


def _check_keys(mapping: Any, section: str, where: str) -> dict[str, Any]:
    """`mapping` as a dict whose keys are all valid for `section`; typos are ConfigErrors, not silently ignored."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: '{section}' must be a mapping, got {mapping!r}")
    unknown = set(mapping) - _SECTION_KEYS[section]
    if unknown:
        valid = ", ".join(sorted(_SECTION_KEYS[section]))
        raise ConfigError(f"{where}: unknown key(s) in '{section}': {', '.join(sorted(map(str, unknown)))}; valid: {valid}")
    return mapping


def _number(value: Any, kind: type, key: str, where: str) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: '{key}' must be a{'n integer' if kind is int else ' number'}, got {value!r}") from exc


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ConfigError(f"{where}: missing '{key}'")
    return mapping[key]


def load_job_config(path: str | Path) -> DetectionJobConfig:
    """Read and validate a detection job config; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"{path} is not valid YAML{where}: {reason}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_TOP_KEYS))}")
    if raw.get("job", "detection") != "detection":
        raise ConfigError(f"{path}: job {raw['job']!r} is not supported (choose 'detection' or 'robustness')")
    dataset = _check_keys(_require(raw, "dataset", str(path)), "dataset", str(path))
    fmt = _require(dataset, "format", f"{path}: dataset")
    if fmt not in FORMATS:
        raise ConfigError(f"{path}: dataset.format {fmt!r} unknown; valid: {', '.join(FORMATS)}")
    rule = dataset.get("split_rule", "elpv" if fmt == "elpv" else "mvtec")
    if rule not in RULES:
        raise ConfigError(f"{path}: dataset.split_rule {rule!r} unknown; valid: {', '.join(RULES)}")
    detectors = []
    entries = _require(raw, "detectors", str(path))
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: 'detectors' must be a non-empty list, got {entries!r}")
    for entry in entries:
        kind = _check_keys(entry, "detectors", str(path)).get("kind") if isinstance(entry, dict) else entry
        if kind not in DETECTORS:
            raise ConfigError(f"{path}: detector {kind!r} unknown; valid: {', '.join(DETECTORS)}")
        detectors.append(DetectorEntry(kind, dict(entry.get("params") or {}) if isinstance(entry, dict) else {}))
    feats = _check_keys(raw.get("features") or {}, "features", str(path))
    features = FeatureConfig(
        backbone=feats.get("backbone", "efficientnet_lite0"),
        layers=tuple(feats.get("layers") or ()),
        image_size=_number(feats.get("image_size", 224), int, "features.image_size", str(path)),
        pool_size=_number(feats.get("pool_size", 3), int, "features.pool_size", str(path)),
        weights=str(feats.get("weights", "default")),
    )
    threshold = raw.get("threshold", "auto")
    if threshold not in THRESHOLD_METHODS:
        raise ConfigError(f"{path}: threshold {threshold!r} unknown; valid: {', '.join(THRESHOLD_METHODS)}")
    return DetectionJobConfig(
        name=str(raw.get("name", path.stem)),
        output=Path(raw.get("output", f"outputs/{path.stem}")),
        data_format=fmt,
        data_root=dataset.get("root"),
        categories=[cats] if isinstance(cats := dataset.get("categories") or [None], str) else list(cats),
        split_rule=rule,
        detectors=detectors,
        features=features,
        threshold=threshold,
        holdout=_number(raw.get("holdout", 0.1), float, "holdout", str(path)),
        seed=_number(raw.get("seed", 42), int, "seed", str(path)),
        cache=bool(raw.get("cache", True)),
        n_bootstrap=_number(raw.get("bootstrap", 1000), int, "bootstrap", str(path)),
        raw=raw,
    )
