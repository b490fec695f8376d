"""`defectlab score`: score image files with a bundle, write scores.csv and overlays."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from defectlab.bundle.io import load_bundle
from defectlab.data.files import IMAGE_SUFFIXES
from defectlab.data.imageio import load_image
from defectlab.errors import DataError
from defectlab.explain.overlay import overlay, save_png


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
            rows.append({"path": str(path), "score": s, "threshold": threshold,
                         "decision": "anomalous" if s >= threshold else "normal", "overlay": f"overlays/{name}"})
    with open(out / "scores.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows
