"""One shift as a config entry: a preset, or a corruption at a severity (shared by every study's config)."""

from __future__ import annotations

from pydantic import model_validator

from defectlab.config.base import config_model
from defectlab.shift.corrupt import CORRUPTIONS, PRESETS
from defectlab.shift.imagenet_c import PREFIX


@config_model
class ShiftSpec:
    """One shift: a preset, or a corruption at a severity."""

    corruption: str | None = None
    preset: str | None = None
    severity: int = 3

    @property
    def name(self) -> str:
        return self.preset or f"{self.corruption}@{self.severity}"

    @property
    def protocol(self) -> str:
        """`imagenet-c` for the published corruptions, `shift-suite` for the project's own."""
        return "imagenet-c" if (self.corruption or "").startswith(PREFIX) else "shift-suite"

    @model_validator(mode="after")
    def _check(self) -> ShiftSpec:
        if (self.corruption is None) == (self.preset is None):
            raise ValueError("a shift needs exactly one of 'preset' or 'corruption'")
        if self.corruption is not None and self.corruption not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {self.corruption!r}; valid: {', '.join(CORRUPTIONS)}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; valid: {', '.join(PRESETS)}")
        if not 1 <= self.severity <= 5:
            raise ValueError(f"severity must be 1..5, got {self.severity}")
        return self
