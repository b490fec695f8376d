"""How every job config is declared, read and checked: frozen pydantic dataclasses that refuse unknown keys;
YAML read with ``yaml.safe_load``; every problem one ``ConfigError`` naming the file and the dotted path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails

from defectlab.errors import ConfigError

T = TypeVar("T")

config_model = dataclass(config=ConfigDict(extra="forbid", arbitrary_types_allowed=False), frozen=True)
"""Decorator of every config class: a frozen dataclass validated by pydantic, unknown keys refused."""

_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML config file; ConfigError when missing, invalid YAML or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"{path} is not valid YAML{where}: {reason}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def parse_config(model: type[T], raw: Mapping[str, Any], where: str | Path, context: dict[str, Any] | None = None) -> T:
    """``raw`` validated as ``model``; the first problem as a one-line ConfigError ``<where>: <dotted.path>: <what>``."""
    try:
        return TypeAdapter(model).validate_python(dict(raw), context=context)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe(exc.errors()[0])}") from exc
    except ConfigError as exc:  # raised by a library class built from the config (e.g. CausalConfig)
        raise ConfigError(f"{where}: {exc}") from exc


def describe(error: ErrorDetails) -> str:
    """One pydantic error as ``dotted.path: what is wrong``."""
    path = ".".join(str(part) for part in error["loc"])
    if error["type"] in _UNKNOWN:
        what = "unknown key"
    elif error["type"] == "missing":
        what = "required"
    else:
        what = error["msg"].removeprefix("Value error, ")
        if error["type"] != "value_error" and "input" in error:
            what += f", got {error['input']!r}"
    return f"{path}: {what}" if path else what


def named_after_file(data: Any, context: dict[str, Any] | None, *keys: str) -> Any:
    """``data`` with each of ``keys`` that is absent filled from the config file's stem (``context["stem"]``):
    ``output`` as ``outputs/<stem>``, ``name`` as ``<stem>``."""
    stem = (context or {}).get("stem")
    if not isinstance(data, dict) or stem is None:
        return data
    defaults = {"output": f"outputs/{stem}", "name": stem}
    return {**{key: defaults[key] for key in keys}, **data}
