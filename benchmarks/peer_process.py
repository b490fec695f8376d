"""Running a benchmark step in its own interpreter (its own peak RSS, or the peer's environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_json(script: Path, args: list[str], python: str = sys.executable) -> Any:
    """Run `python script ARGS` with defectlab and the benchmarks importable; its last stdout line as JSON."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'benchmarks'}"}
    out = subprocess.run([python, str(script), *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def anomalib_python(given: str | None) -> str | None:
    """The interpreter that can import anomalib: the given one, else this one if it can."""
    for python in [given] if given else [sys.executable]:
        if subprocess.run([python, "-c", "import anomalib"], capture_output=True).returncode == 0:
            return python
    return None
