"""Command-line set-up shared by the study benchmarks: config, output folder and feature cache."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from defectlab.backbones.cache import FeatureCache, default_cache_dir


def study_setup(doc: str, default_config: str, prefix: str) -> tuple[Path, dict[str, Any], FeatureCache]:
    """Parse ``--config/--cold/--out``; returns the config path, its content (output set) and the cache."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path(default_config))
    parser.add_argument("--cold", action="store_true", help="use an empty feature cache (measures the cold-start time)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a fresh temporary one)")
    args = parser.parse_args()
    raw = yaml.safe_load(args.config.read_text())
    out = args.out or Path(tempfile.mkdtemp(prefix=f"{prefix}-bench-"))
    raw["output"] = str(out)
    cache_dir = Path(tempfile.mkdtemp(prefix="features-")) if args.cold else default_cache_dir()
    print(
        f"config {args.config}, output {out}, feature cache {cache_dir} ({'cold' if args.cold else 'warm'}), "
        f"{os.cpu_count()} cores"
    )
    return args.config, raw, FeatureCache(cache_dir)
