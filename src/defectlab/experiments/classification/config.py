"""The `job: classification` config: what the classification study runs, validated with clear errors."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict, model_validator

from defectlab.classifiers.causal_train import CAUSAL_PARTS, CausalConfig
from defectlab.classifiers.labels import check_scheme
from defectlab.config.base import config_model, empty_as_default
from defectlab.shift import CORRUPTIONS, PRESETS, corruption_kind

MODELS = ("smallcnn", "finetune", "attention", "causal")
"""Rows of the clean/corrupted table: from-scratch CNN, linear probe on the backbone (ERM),
the attention classifier (ERM), and the causal classifier (all parts on)."""

STRATA = ("given", "discovered")

APPLIED = "applied"
"""``spurious.nuisance`` value of a variant whose nuisance is a shift applied to the images of one stratum."""


@config_model
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
    severity: Annotated[int, Strict()] = 3
    causal_parts: tuple[str, ...] | None = None
    untied_reference: bool = True

    @property
    def name(self) -> str:
        """The variant's name, also the nuisance's metadata key: the metadata key, or the applied shift."""
        return self.shift if self.shift is not None else self.nuisance

    @model_validator(mode="after")
    def _check(self) -> SpuriousConfig:
        if not 0.5 <= self.tie < 1 or self.test_per_group < 1:
            raise ValueError("tie must be in [0.5, 1) and test_per_group >= 1")
        if set(self.strata) - set(STRATA) or not self.strata:
            raise ValueError(f"strata must be some of {', '.join(STRATA)}")
        if self.causal_parts is not None and (not self.causal_parts or set(self.causal_parts) - set(CAUSAL_PARTS)):
            raise ValueError(f"causal_parts must be some of {', '.join(CAUSAL_PARTS)}, got {list(self.causal_parts)}")
        if (self.nuisance == APPLIED) != (self.shift is not None):
            raise ValueError(f"shift (a photometric corruption) goes with nuisance '{APPLIED}', and only with it")
        if self.shift is not None:
            photometric = [c for c in CORRUPTIONS if corruption_kind(c) == "photometric"]
            if self.shift not in photometric:
                raise ValueError(f"shift must be a photometric corruption ({', '.join(photometric)}), got '{self.shift}'")
            if not 1 <= self.severity <= 5:
                raise ValueError(f"severity must be in 1..5, got {self.severity}")
        return self


def _variants(value: Any) -> Any:
    return [value] if isinstance(value, dict) else (value or [])


@config_model
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
    spurious: Annotated[tuple[SpuriousConfig, ...], BeforeValidator(_variants)] = (SpuriousConfig(),)
    effects: bool = True
    explanations: int = 6
    bootstrap: int = 1000
    max_cells: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_causal_section(cls, data: Any) -> Any:
        return empty_as_default(data, "causal")

    @model_validator(mode="after")
    def _check(self) -> ClassificationStudyConfig:
        for scheme in self.schemes:
            check_scheme(scheme)
        if not self.models or set(self.models) - set(MODELS):
            raise ValueError(f"models must be some of {', '.join(MODELS)}, got {list(self.models)}")
        if not self.causal_parts or set(self.causal_parts) - set(CAUSAL_PARTS):
            raise ValueError(f"causal_parts must be some of {', '.join(CAUSAL_PARTS)}, got {list(self.causal_parts)}")
        if self.strata not in STRATA:
            raise ValueError(f"strata must be one of {', '.join(STRATA)}, got '{self.strata}'")
        if self.finetune_mode not in ("head", "finetune"):
            raise ValueError(f"finetune_mode must be 'head' or 'finetune', got '{self.finetune_mode}'")
        _check_corrupted(self.corrupted)
        names = [s.name for s in self.spurious]
        if len(set(names)) < len(names):
            raise ValueError(f"spurious variants need distinct nuisances, got {names}")
        for name in ("epochs", "patience", "smallcnn_epochs", "image_size", "smallcnn_image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_cells is not None and self.max_cells < 16:
            raise ValueError("max_cells must be at least 16 (or null for every cell)")
        if self.explanations < 0 or self.bootstrap < 1:
            raise ValueError("explanations must be >= 0 and bootstrap >= 1")
        return self


def _check_corrupted(shift: dict[str, Any]) -> None:
    if set(shift) - {"preset", "corruption", "severity"} or ("preset" in shift) == ("corruption" in shift):
        raise ValueError("corrupted needs exactly one of 'preset' or 'corruption' (+ 'severity')")
    if "preset" in shift and shift["preset"] not in PRESETS:
        raise ValueError(f"unknown preset '{shift['preset']}'; valid: {', '.join(PRESETS)}")
    if "corruption" in shift and shift["corruption"] not in CORRUPTIONS:
        raise ValueError(f"unknown corruption '{shift['corruption']}'")
