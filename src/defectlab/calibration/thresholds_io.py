"""Read and write per-category thresholds as one JSON file, written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from defectlab.calibration.thresholds import Threshold
from defectlab.errors import ConfigError, ModelError
from defectlab.fileio import atomic_write_text

FORMAT = "defectlab.thresholds"
VERSION = 1


def write_thresholds_json(path: str | os.PathLike[str], thresholds: Mapping[str, Threshold]) -> None:
    """Write {category: Threshold} to `path` via a temporary file and an atomic rename."""
    target = Path(path)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "thresholds": {str(category): t.to_dict() for category, t in sorted(thresholds.items())},
    }
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    atomic_write_text(target, text)


def read_thresholds_json(path: str | os.PathLike[str]) -> dict[str, Threshold]:
    """Read a file written by `write_thresholds_json`; ModelError if missing or malformed."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{source}: thresholds file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{source}: cannot read thresholds JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelError(f"{source}: not a defectlab thresholds file")
    if document.get("version") != VERSION:
        raise ModelError(f"{source}: unsupported thresholds version {document.get('version')!r}")
    entries = document.get("thresholds")
    if not isinstance(entries, dict):
        raise ModelError(f"{source}: 'thresholds' must be a mapping of category to threshold")
    try:
        return {category: Threshold.from_dict(entry) for category, entry in entries.items()}
    except ConfigError as exc:
        raise ModelError(f"{source}: {exc}") from exc
