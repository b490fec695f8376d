"""`defectlab score` and `classify`: score image files with a detector bundle (scores.csv and
overlays) or classify them with a classifier bundle (classes.json)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from defectlab.bundle.classifier import load_classifier_bundle
from defectlab.bundle.io import load_bundle
from defectlab.data.files import IMAGE_SUFFIXES
from defectlab.data.imageio import load_image
from defectlab.errors import DataError
from defectlab.explain.overlay import overlay, save_png
from defectlab.fileio import atomic_write_text
from defectlab.workflows.classifier import classify_files

CLASSES_JSON = "classes.json"
"""File name of the classification results inside an output folder."""


def collect_images(inputs: Sequence[Path]) -> list[Path]:
    """Expand folders (recursively) into image files; missing paths are DataErrors."""
    paths: list[Path] = []
    for item in inputs:
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"no such file or folder: {item}")
    if not paths:
        raise DataError(f"no images found in {', '.join(map(str, inputs))}")
    return paths


def score_paths(bundle_dir: Path, inputs: Sequence[Path], out: Path, threads: int | None = None, batch: int = 16) -> list[dict]:
    """Score every image; returns the rows written to out/scores.csv."""
    bundle = load_bundle(bundle_dir, num_threads=threads)
    paths = collect_images(inputs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    threshold = bundle.threshold.value
    rows = []
    for start in tqdm(range(0, len(paths), batch), desc="scoring", unit="batch"):
        chunk = paths[start : start + batch]
        images = [load_image(p) for p in chunk]
        pred = bundle.model.predict(images)
        for i, (path, image) in enumerate(zip(chunk, images)):
            name = f"{start + i:05d}_{path.stem}.png"
            save_png(out / "overlays" / name, overlay(image, pred.maps[i], vmin=0.0, vmax=2.0 * threshold))
            s = float(pred.scores[i])
            rows.append(
                {
                    "path": str(path),
                    "score": s,
                    "threshold": threshold,
                    "decision": "anomalous" if s >= threshold else "normal",
                    "overlay": f"overlays/{name}",
                }
            )
    with open(out / "scores.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def classify_paths(bundle_dir: Path, inputs: Sequence[Path]) -> list[dict[str, Any]]:
    """Class, confidence and class probabilities of every image, with the classifier bundle at ``bundle_dir``."""
    bundle = load_classifier_bundle(bundle_dir)
    return classify_files(bundle, collect_images(inputs))


def write_classes_json(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` as JSON to ``path``, or to ``path/classes.json`` if ``path`` is an existing folder."""
    target = path / CLASSES_JSON if path.is_dir() else path
    atomic_write_text(target, json.dumps(rows, indent=2) + "\n")
    return target
