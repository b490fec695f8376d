"""What an evaluation of a bundle on labelled data is asked and what it answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defectlab.fileio import jsonable


@dataclass(frozen=True)
class EvaluationRequest:
    """The labelled data to evaluate on; None picks what the bundle was fitted on (or the format's default)."""

    data: Path | None = None
    category: str | None = None
    fmt: str | None = None
    split: Path | None = None
    good: Path | None = None
    """A folder of defect-free images apart from the data (open-set bundles of data without them, e.g. NEU)."""
    progress: bool = True


@dataclass(frozen=True)
class Evaluation:
    """The metrics (JSON-ready) and their text for a person."""

    summary: dict[str, Any]
    text: str

    @classmethod
    def as_json(cls, summary: dict[str, Any]) -> Evaluation:
        """An evaluation shown as its indented JSON."""
        summary = jsonable(summary)
        return cls(summary, json.dumps(summary, indent=2))
