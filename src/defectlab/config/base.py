"""How every job config is declared, read and checked: frozen pydantic dataclasses that refuse unknown keys;
YAML read with ``yaml.safe_load``; every problem one ``ConfigError`` naming the file and the dotted path."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails

from defectlab.errors import ConfigError

T = TypeVar("T")

config_model = dataclass(config=ConfigDict(extra="forbid"), frozen=True)
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
    """``raw`` validated as ``model``; its problems as one one-line ConfigError ``<where>: <dotted.path>: <what>; ...``."""
    try:
        return TypeAdapter(model).validate_python(dict(raw), context=context)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe(exc.errors(), model)}") from exc
    except ConfigError as exc:  # raised by a library class built from the config (e.g. CausalConfig)
        raise ConfigError(f"{where}: {exc}") from exc


def describe(errors: list[ErrorDetails], model: type) -> str:
    """Pydantic's errors as ``dotted.path: what is wrong; ...``: unknown keys first, grouped by section with
    the section's valid keys."""
    unknown: dict[tuple[int | str, ...], list[str]] = {}
    problems = []
    for error in errors:
        path = ".".join(str(part) for part in error["loc"])
        if error["type"] in _UNKNOWN:
            unknown.setdefault(error["loc"][:-1], []).append(path)
            continue
        if error["type"] == "missing":
            what = "required"
        else:
            what = error["msg"].removeprefix("Value error, ")
            if error["type"] != "value_error" and "input" in error:
                what += f", got {error['input']!r}"
        problems.append(f"{path}: {what}" if path else what)
    for section, paths in reversed(unknown.items()):
        valid = _section_keys(model, section)
        what = "unknown key" if len(paths) == 1 else "unknown keys"
        problems.insert(0, f"{', '.join(paths)}: {what}" + (f" (valid: {', '.join(valid)})" if valid else ""))
    return "; ".join(problems)


def _section_keys(model: type, loc: tuple[int | str, ...]) -> list[str] | None:
    """The keys of the config section at ``loc`` (list indices skipped), None when it is not a dataclass."""
    section: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        hints = typing.get_type_hints(section) if dataclasses.is_dataclass(section) else {}
        if part not in hints:
            return None
        section = _dataclass_in(hints[part])
        if section is None:
            return None
    return [f.name for f in dataclasses.fields(section)] if dataclasses.is_dataclass(section) else None


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field's type holds (through Annotated, Optional, tuple[...] and list[...])."""
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    for arg in typing.get_args(hint):
        found = _dataclass_in(arg)
        if found is not None:
            return found
    return None


def named_after_file(data: Any, context: dict[str, Any] | None, *keys: str) -> Any:
    """``data`` with each of ``keys`` that is absent filled from the config file's stem (``context["stem"]``):
    ``output`` as ``outputs/<stem>``, ``name`` as ``<stem>``."""
    stem = (context or {}).get("stem")
    if not isinstance(data, dict) or stem is None:
        return data
    defaults = {"output": f"outputs/{stem}", "name": stem}
    return {**{key: defaults[key] for key in keys}, **data}


def empty_as_default(data: Any, *keys: str) -> Any:
    """``data`` without those of ``keys`` that are null (an empty YAML section): they take their defaults."""
    if not isinstance(data, dict):
        return data
    return {key: value for key, value in data.items() if not (key in keys and value is None)}
