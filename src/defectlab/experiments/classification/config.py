"""The `job: classification` config: what the classification study runs, validated with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from defectlab.classifiers.causal_train import CAUSAL_PARTS, CausalConfig
from defectlab.classifiers.labels import check_scheme
from defectlab.errors import ConfigError
from defectlab.shift import CORRUPTIONS, PRESETS, corruption_kind

MODELS = ("smallcnn", "finetune", "attention", "causal")
"""Rows of the clean/corrupted table: from-scratch CNN, linear probe on the backbone (ERM),
the attention classifier (ERM), and the causal classifier (all parts on)."""

STRATA = ("given", "discovered")

APPLIED = "applied"
"""``spurious.nuisance`` value of a variant whose nuisance is a shift applied to the images of one stratum."""


@dataclass(frozen=True)
class SpuriousConfig:
    """One spurious-correlation variant: training data in which a nuisance is tied to the label; test groups balanced.

    The nuisance is a metadata key of the cells (``cell_type``), or ``applied``: the shift-suite
    photometric corruption ``shift`` at ``severity``, applied to the cells of one stratum.
    ``causal_parts``: the causal model's parts in this variant (None: the study's ``causal_parts``).
    ``untied_reference``: also train the plain models on a split of the same cells without the tie
    (0.5) and test them on the same groups: what the features allow with no confounding at all.
    """

    nuisance: str = "cell_type"
    tie: float = 0.9
    test_per_group: int = 90
    strata: tuple[str, ...] = STRATA
    shift: str | None = None
    severity: int = 3
    causal_parts: tuple[str, ...] | None = None
    untied_reference: bool = True

    @property
    def name(self) -> str:
        """The variant's name, also the nuisance's metadata key: the metadata key, or the applied shift."""
        return self.shift if self.shift is not None else self.nuisance


@dataclass(frozen=True)
class ClassificationStudyConfig:
    """Everything the study runs; see configs/classification.yaml for the meaning of each key."""

    output: Path = Path("outputs/classification")
    seed: int = 42
    schemes: tuple[str, ...] = ("elpv_binary", "elpv_4")
    models: tuple[str, ...] = MODELS
    image_size: int = 224
    epochs: int = 30
    patience: int = 6
    lr: float = 1e-3
    smallcnn_image_size: int = 96
    smallcnn_epochs: int = 8
    finetune_mode: str = "head"
    corrupted: dict[str, Any] = field(default_factory=lambda: {"preset": "mvtec-shift-photometric"})
    strata: str = "discovered"
    causal_parts: tuple[str, ...] = ("backdoor",)
    causal: CausalConfig = field(default_factory=CausalConfig)
    ablation: bool = True
    spurious: tuple[SpuriousConfig, ...] = (SpuriousConfig(),)
    effects: bool = True
    explanations: int = 6
    bootstrap: int = 1000
    max_cells: int | None = None


def load_classification_config(path: str | Path, raw: dict[str, Any] | None = None) -> ClassificationStudyConfig:
    """Read and check a `job: classification` YAML file."""
    if raw is None:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    raw = {k: v for k, v in raw.items() if k != "job"}
    known = set(ClassificationStudyConfig.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; valid: {sorted(known)}")
    values: dict[str, Any] = dict(raw)
    if "output" in values:
        values["output"] = Path(values["output"])
    for key in ("schemes", "models", "causal_parts"):
        if key in values:
            values[key] = tuple(values[key])
    if "causal" in values:
        causal = dict(values["causal"] or {})
        if "view_corruptions" in causal:
            causal["view_corruptions"] = tuple(causal["view_corruptions"])
        values["causal"] = _build(CausalConfig, causal, f"{path}: causal")
    if "spurious" in values:
        variants = values["spurious"] or []
        variants = [variants] if isinstance(variants, dict) else variants
        values["spurious"] = tuple(_spurious(v, f"{path}: spurious") for v in variants)
    config = _build(ClassificationStudyConfig, values, str(path))
    _check(config, path)
    return config


def _spurious(raw: Any, where: str) -> SpuriousConfig:
    """One spurious variant from its YAML mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each variant must be a mapping (nuisance, tie, ...), got {raw!r}")
    values = dict(raw)
    for key in ("strata", "causal_parts"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return _build(SpuriousConfig, values, where)  # type: ignore[no-any-return]


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check(config: ClassificationStudyConfig, path: str | Path) -> None:
    for scheme in config.schemes:
        check_scheme(scheme)
    bad = [m for m in config.models if m not in MODELS]
    if bad or not config.models:
        raise ConfigError(f"{path}: models must be some of {', '.join(MODELS)}, got {list(config.models)}")
    if not config.causal_parts or set(config.causal_parts) - set(CAUSAL_PARTS):
        raise ConfigError(f"{path}: causal_parts must be some of {', '.join(CAUSAL_PARTS)}, got {list(config.causal_parts)}")
    if config.strata not in STRATA:
        raise ConfigError(f"{path}: strata must be one of {', '.join(STRATA)}, got '{config.strata}'")
    if config.finetune_mode not in ("head", "finetune"):
        raise ConfigError(f"{path}: finetune_mode must be 'head' or 'finetune', got '{config.finetune_mode}'")
    shift = config.corrupted
    if set(shift) - {"preset", "corruption", "severity"} or ("preset" in shift) == ("corruption" in shift):
        raise ConfigError(f"{path}: corrupted needs exactly one of 'preset' or 'corruption' (+ 'severity')")
    if "preset" in shift and shift["preset"] not in PRESETS:
        raise ConfigError(f"{path}: unknown preset '{shift['preset']}'; valid: {', '.join(PRESETS)}")
    if "corruption" in shift and shift["corruption"] not in CORRUPTIONS:
        raise ConfigError(f"{path}: unknown corruption '{shift['corruption']}'")
    for s in config.spurious:
        _check_spurious(s, path)
    names = [s.name for s in config.spurious]
    if len(set(names)) < len(names):
        raise ConfigError(f"{path}: spurious variants need distinct nuisances, got {names}")
    for name in ("epochs", "patience", "smallcnn_epochs", "image_size", "smallcnn_image_size"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{path}: {name} must be at least 1")
    if config.max_cells is not None and config.max_cells < 16:
        raise ConfigError(f"{path}: max_cells must be at least 16 (or null for every cell)")
    if config.explanations < 0 or config.bootstrap < 1:
        raise ConfigError(f"{path}: explanations must be >= 0 and bootstrap >= 1")


def _check_spurious(s: SpuriousConfig, path: str | Path) -> None:
    if not 0.5 <= s.tie < 1 or s.test_per_group < 1:
        raise ConfigError(f"{path}: spurious.tie must be in [0.5, 1) and test_per_group >= 1")
    if set(s.strata) - set(STRATA) or not s.strata:
        raise ConfigError(f"{path}: spurious.strata must be some of {', '.join(STRATA)}")
    if s.causal_parts is not None and (not s.causal_parts or set(s.causal_parts) - set(CAUSAL_PARTS)):
        raise ConfigError(f"{path}: spurious.causal_parts must be some of {', '.join(CAUSAL_PARTS)}, got {list(s.causal_parts)}")
    if (s.nuisance == APPLIED) != (s.shift is not None):
        raise ConfigError(f"{path}: spurious.shift (a photometric corruption) goes with nuisance '{APPLIED}', and only with it")
    if s.shift is not None:
        if s.shift not in CORRUPTIONS or corruption_kind(s.shift) != "photometric":
            photometric = [c for c in CORRUPTIONS if corruption_kind(c) == "photometric"]
            raise ConfigError(
                f"{path}: spurious.shift must be a photometric corruption ({', '.join(photometric)}), got '{s.shift}'"
            )
        if type(s.severity) is not int or not 1 <= s.severity <= 5:
            raise ConfigError(f"{path}: spurious.severity must be in 1..5, got {s.severity}")
