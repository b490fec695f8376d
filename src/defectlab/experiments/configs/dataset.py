"""The ``dataset`` section shared by the jobs that read a dataset: format, root, categories, split rule."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from defectlab.data.formats import FORMATS
from defectlab.data.splits import RULES, default_split_rule
from defectlab.experiments.configs.base import config_model


@config_model
class DatasetConfig:
    """A dataset ``format`` at ``root``; ``categories`` (one name or a list; none: the whole dataset as one
    category); ``split_rule`` defaults to ``default_split_rule(format)``."""

    format: str
    root: str | None = None
    categories: tuple[str | None, ...] = (None,)
    split_rule: str = ""

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        values = dict(data)
        if isinstance(values.get("categories"), str):
            values["categories"] = [values["categories"]]
        if not values.get("categories"):
            values["categories"] = [None]
        if values.get("split_rule") is None and isinstance(values.get("format"), str):
            values["split_rule"] = default_split_rule(values["format"])
        return values

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(FORMATS)}")
        return value

    @field_validator("split_rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in RULES:
            raise ValueError(f"{value!r} unknown; valid: {', '.join(RULES)}")
        return value
