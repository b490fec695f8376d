"""The `job: robustness` config: what the protocol runs, validated with clear errors."""

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
from defectlab.shift import CORRUPTIONS, PRESETS


@dataclass(frozen=True)
class ShiftSpec:
    """One shift: a preset, or a corruption at a severity."""

    corruption: str | None = None
    preset: str | None = None
    severity: int = 3

    @property
    def name(self) -> str:
        return self.preset or f"{self.corruption}@{self.severity}"


@dataclass
class FewShotConfig:
    """k shifted normal images added to the clean model (phase `few_shot`)."""

    shift: ShiftSpec
    k: list[int]


@dataclass
class CrossDomainConfig:
    """Train on one category, test on another, without and with k target normals."""

    k: list[int]
    fraction: float | None = 0.1  # also adapt with this share of the target's training normals


@dataclass
class AblationConfig:
    """Switchable ablations: each list is one study; empty lists are skipped."""

    coreset_ratio: list[float] = field(default_factory=list)
    layers: list[tuple[str, ...]] = field(default_factory=list)
    aggregation: list[str] = field(default_factory=list)
    shifts: list[ShiftSpec] = field(default_factory=list)
    categories: list[str] | None = None  # None: every category


@dataclass
class SeverityConfig:
    """Severity curves: each corruption at each level; adapted also refits per level."""

    corruptions: list[str]
    levels: list[int]
    adapted: bool = False
    categories: list[str] | None = None  # None: every category


@dataclass
class EmbeddingConfig:
    shift: ShiftSpec
    per_image: int = 8
    method: str = "tsne"
    max_points: int = 3000


@dataclass
class RobustnessConfig:
    output: Path
    data_format: str
    data_root: str | None
    categories: list[str | None]
    split_rule: str
    detectors: list[str]
    shifts: list[ShiftSpec]
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
    n_bootstrap: int = 200
    raw: dict[str, Any] = field(default_factory=dict)


TOP_KEYS = {
    "job",
    "name",
    "output",
    "dataset",
    "detectors",
    "detector_params",
    "features",
    "shifts",
    "few_shot",
    "global_model",
    "cross_domain",
    "cross_shift",
    "ablations",
    "severity",
    "embeddings",
    "gallery",
    "seed",
    "bootstrap",
    "adapt_draws",
}


def _check_keys(section: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping, got {section!r}")
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
    return section


def _shift_spec(entry: Any, where: str) -> ShiftSpec:
    if not isinstance(entry, dict) or set(entry) - {"corruption", "preset", "severity"}:
        raise ConfigError(f"{where}: each shift is a mapping with 'preset' or 'corruption' (+ 'severity'), got {entry!r}")
    spec = ShiftSpec(entry.get("corruption"), entry.get("preset"), int(entry.get("severity", 3)))
    if (spec.corruption is None) == (spec.preset is None):
        raise ConfigError(f"{where}: shift {entry!r} needs exactly one of 'preset' or 'corruption'")
    if spec.corruption is not None and spec.corruption not in CORRUPTIONS:
        raise ConfigError(f"{where}: unknown corruption {spec.corruption!r}; valid: {', '.join(CORRUPTIONS)}")
    if spec.preset is not None and spec.preset not in PRESETS:
        raise ConfigError(f"{where}: unknown preset {spec.preset!r}; valid: {', '.join(PRESETS)}")
    if not 1 <= spec.severity <= 5:
        raise ConfigError(f"{where}: severity must be 1..5, got {spec.severity}")
    return spec


def _positive_ints(values: Any, where: str) -> list[int]:
    if not isinstance(values, list) or not values or not all(isinstance(v, int) and v > 0 for v in values):
        raise ConfigError(f"{where}: expected a non-empty list of positive integers, got {values!r}")
    return sorted(set(values))


def _shift_list(values: Any, where: str) -> list[ShiftSpec]:
    if values == "all-corruptions":
        return [ShiftSpec(corruption=name) for name in CORRUPTIONS]
    if not isinstance(values, list):
        raise ConfigError(f"{where}: expected a list of shifts or 'all-corruptions', got {values!r}")
    return [_shift_spec(e, where) for e in values]


def _ablations(section: Any, where: str) -> AblationConfig:
    raw = _check_keys(section, {"coreset_ratio", "layers", "aggregation", "shifts", "categories"}, where)
    ratios = [float(r) for r in raw.get("coreset_ratio") or []]
    if any(not 0 < r <= 1 for r in ratios):
        raise ConfigError(f"{where}.coreset_ratio: ratios must be in (0, 1], got {ratios}")
    aggregations = list(raw.get("aggregation") or [])
    if set(aggregations) - {"max", "topk"}:
        raise ConfigError(f"{where}.aggregation: choose from max, topk; got {aggregations}")
    layers = [tuple(entry) if isinstance(entry, list) else (str(entry),) for entry in raw.get("layers") or []]
    return AblationConfig(
        ratios, layers, aggregations, _shift_list(raw.get("shifts") or [], f"{where}.shifts"), raw.get("categories")
    )


def _features(section: Any, where: str) -> FeatureConfig:
    feats = _check_keys(section, {"backbone", "layers", "image_size", "weights"}, where)
    return FeatureConfig(
        backbone=feats.get("backbone", "efficientnet_lite0"),
        layers=tuple(feats.get("layers") or ()),
        image_size=int(feats.get("image_size", 224)),
        weights=str(feats.get("weights", "default")),
    )


def _check_subset(chosen: Any, categories: list[str | None], where: str) -> None:
    if chosen is None:
        return
    if not isinstance(chosen, list) or not chosen or set(chosen) - set(categories):
        raise ConfigError(f"{where}: expected a list of the dataset's categories ({categories}), got {chosen!r}")


def load_robustness_config(path: Path, raw: dict[str, Any]) -> RobustnessConfig:
    """Validate a `job: robustness` config already read from `path`."""
    where = str(path)
    _check_keys(raw, TOP_KEYS, where)
    dataset = _check_keys(raw.get("dataset"), {"format", "root", "categories", "split_rule"}, f"{where}: dataset")
    fmt = dataset.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: dataset.format {fmt!r} unknown; valid: {', '.join(FORMATS)}")
    rule = dataset.get("split_rule", "elpv" if fmt == "elpv" else "mvtec")
    if rule not in RULES:
        raise ConfigError(f"{where}: dataset.split_rule {rule!r} unknown; valid: {', '.join(RULES)}")
    detectors = list(raw.get("detectors") or ["patchcore"])
    for kind in detectors:
        if kind not in DETECTORS:
            raise ConfigError(f"{where}: detector {kind!r} unknown; valid: {', '.join(DETECTORS)}")
    params = _check_keys(raw.get("detector_params"), set(DETECTORS), f"{where}: detector_params")
    shifts = _shift_list(raw.get("shifts") or [], f"{where}: shifts")
    if not shifts:
        raise ConfigError(f"{where}: 'shifts' must list at least one shift")
    cats = dataset.get("categories") or [None]
    config = RobustnessConfig(
        output=Path(raw.get("output", f"outputs/{path.stem}")),
        data_format=fmt,
        data_root=dataset.get("root"),
        categories=[cats] if isinstance(cats, str) else list(cats),
        split_rule=rule,
        detectors=detectors,
        detector_params={k: dict(v or {}) for k, v in params.items()},
        shifts=shifts,
        features=_features(raw.get("features"), f"{where}: features"),
        global_model=bool(raw.get("global_model", False)),
        cross_shift=bool(raw.get("cross_shift", False)),
        ablations=_ablations(raw.get("ablations"), f"{where}: ablations"),
        gallery=int(raw.get("gallery", 8)),
        adapt_draws=int(raw.get("adapt_draws", 1)),
        seed=int(raw.get("seed", 42)),
        n_bootstrap=int(raw.get("bootstrap", 200)),
        raw=raw,
    )
    if raw.get("few_shot"):
        few = _check_keys(raw["few_shot"], {"shift", "k"}, f"{where}: few_shot")
        config.few_shot = FewShotConfig(
            _shift_spec(few.get("shift"), f"{where}: few_shot.shift"),
            _positive_ints(few.get("k", [1, 5, 10, 20]), f"{where}: few_shot.k"),
        )
    if raw.get("cross_domain"):
        cross = _check_keys(raw["cross_domain"], {"k", "fraction"}, f"{where}: cross_domain")
        fraction = cross.get("fraction", 0.1)
        if fraction is not None and not 0 < float(fraction) <= 1:
            raise ConfigError(f"{where}: cross_domain.fraction must be in (0, 1], got {fraction!r}")
        if len(config.categories) < 2:
            raise ConfigError(f"{where}: cross_domain needs at least two categories")
        config.cross_domain = CrossDomainConfig(
            _positive_ints(cross.get("k", [1, 5, 10, 20]), f"{where}: cross_domain.k"),
            None if fraction is None else float(fraction),
        )
    if raw.get("severity"):
        sev = _check_keys(raw["severity"], {"corruptions", "levels", "adapted", "categories"}, f"{where}: severity")
        names = list(sev.get("corruptions") or [])
        unknown = [n for n in names if n not in CORRUPTIONS]
        if not names or unknown:
            raise ConfigError(f"{where}: severity.corruptions must name corruptions from {', '.join(CORRUPTIONS)}; got {names}")
        levels = _positive_ints(sev.get("levels", [1, 2, 3, 4, 5]), f"{where}: severity.levels")
        if max(levels) > 5:
            raise ConfigError(f"{where}: severity.levels must be within 1..5, got {levels}")
        config.severity = SeverityConfig(names, levels, bool(sev.get("adapted", False)), sev.get("categories"))
    if raw.get("embeddings"):
        emb = _check_keys(raw["embeddings"], {"shift", "per_image", "method", "max_points"}, f"{where}: embeddings")
        if emb.get("method", "tsne") not in ("tsne", "pca"):
            raise ConfigError(f"{where}: embeddings.method must be tsne or pca, got {emb.get('method')!r}")
        config.embeddings = EmbeddingConfig(
            _shift_spec(emb.get("shift"), f"{where}: embeddings.shift"),
            int(emb.get("per_image", 8)),
            emb.get("method", "tsne"),
            int(emb.get("max_points", 3000)),
        )
    if config.adapt_draws < 1:
        raise ConfigError(f"{where}: adapt_draws must be a positive integer, got {config.adapt_draws}")
    for section, chosen in (
        ("ablations", config.ablations.categories),
        ("severity", (config.severity.categories if config.severity else None)),
    ):
        _check_subset(chosen, config.categories, f"{where}: {section}.categories")
    return config


def read_job_kind(path: Path) -> tuple[str, dict[str, Any]]:
    """The `job:` of a config file and its content; ('detection', {}) when the file cannot be read
    as a mapping, so the detection loader reports the problem with its line and column."""
    try:
        raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        raw = None
    if not isinstance(raw, dict):
        return "detection", {}
    return str(raw.get("job", "detection")), raw
