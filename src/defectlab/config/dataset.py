"""The ``dataset`` section shared by the jobs that read a dataset: format, root, categories, split rule."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from defectlab.config.base import config_model
from defectlab.data.formats import FORMATS
from defectlab.data.splits import RULES, default_split_rule


@config_model
class DatasetConfig:
    """A dataset ``format`` at ``root``; ``categories`` (one name or a list; none: the whole dataset as one
    category); ``split_rule`` defaults to ``default_split_rule(format)``."""

    format: str
    root: str | None = None
    categories: tuple[str | None, ...] = (None,)
    split_rule: str = Field(default="", validate_default=True)

    @field_validator("categories", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value or [None]

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(FORMATS)}")
        return value

    @field_validator("split_rule", mode="before")
    @classmethod
    def _known_rule(cls, value: str | None, info: ValidationInfo) -> str:
        if not value and isinstance(info.data.get("format"), str):
            return default_split_rule(info.data["format"])
        if value not in RULES:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(RULES)}")
        return value
