"""The results envelope every job writes: one ``results.json`` naming its job, with config, seed, library
versions, creation time and timings, then the job's own figures."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from defectlab.bundle.manifest import library_versions
from defectlab.fileio import atomic_write_text, jsonable
from defectlab.report.page import RESULTS


def write_results(directory: Path, job: str, config: Any, seed: int, timings: dict[str, Any], **figures: Any) -> dict[str, Any]:
    """Write ``directory/results.json``: the envelope of ``job`` run with ``config`` (a config dataclass) plus
    ``figures``; returns what was written."""
    record = {
        "job": job,
        "config": dataclasses.asdict(config),
        "seed": seed,
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": timings,
        **figures,
    }
    record = jsonable(record)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / RESULTS, json.dumps(record, indent=1) + "\n")
    return record
