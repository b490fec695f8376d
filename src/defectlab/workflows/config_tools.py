"""Small helpers shared by the YAML study configs: build a dataclass from a mapping with clear errors."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from defectlab.errors import ConfigError

T = TypeVar("T")


def build_dataclass(cls: type[T], values: Any, where: str, tuples: tuple[str, ...] = ()) -> T:
    """``cls(**values)``: unknown keys and bad values become ConfigErrors naming ``where``; the keys in
    ``tuples`` are turned from YAML lists into tuples."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    allowed = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(allowed)}")
    values = {k: tuple(v) if k in tuples and v is not None else v for k, v in values.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
