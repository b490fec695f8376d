"""Detectors by name."""

from __future__ import annotations

from typing import Any

from defectlab.detectors.base import Detector
from defectlab.detectors.feature_cae import FeatureCAE
from defectlab.detectors.padim import PaDiM
from defectlab.detectors.patchcore import PatchCore
from defectlab.errors import ConfigError

DETECTORS: dict[str, type[Detector]] = {"patchcore": PatchCore, "padim": PaDiM, "cae": FeatureCAE}


def make_detector(kind: str, params: dict[str, Any] | None = None) -> Detector:
    """Build detector `kind` with constructor `params`; unknown names and options are ConfigErrors."""
    if kind not in DETECTORS:
        raise ConfigError(f"unknown detector {kind!r}; choose one of {', '.join(DETECTORS)}")
    try:
        return DETECTORS[kind](**(params or {}))
    except TypeError as exc:
        raise ConfigError(f"bad parameters for detector {kind}: {exc}") from exc
