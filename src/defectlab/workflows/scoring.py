"""Score image files with any bundle: the one scoring loop, and the result sheets it fills.

Detector and routed bundles fill a :class:`ScoreSheet` (``scores.csv`` and a heatmap overlay per
image), classifier and open-set bundles a :class:`ClassesSheet` (``classes.json``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from defectlab.bundle.prediction import UNKNOWN_DECISION, Prediction, Predictor
from defectlab.data.files import IMAGE_SUFFIXES
from defectlab.data.imageio import load_image
from defectlab.errors import DataError
from defectlab.explain.overlay import save_png
from defectlab.fileio import atomic_write_text

SCORES_CSV = "scores.csv"
OVERLAYS = "overlays"
CLASSES_JSON = "classes.json"
"""File name of the classification results inside an output folder."""


SCORING_BATCH = 16
"""Images per predict call when scoring files (one size for every command, so they give the same numbers)."""


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


def predict_files(
    predictor: Predictor, paths: Sequence[Path], explain: bool = False, batch: int = SCORING_BATCH
) -> Iterator[tuple[int, Path, Prediction]]:
    """(index, path, prediction) of every image file, read and predicted batch by batch."""
    for start in tqdm(range(0, len(paths), batch), desc="scoring", unit="batch"):
        chunk = paths[start : start + batch]
        predictions = predictor.predict([load_image(path) for path in chunk], explain=explain)
        for offset, (path, prediction) in enumerate(zip(chunk, predictions, strict=True)):
            yield start + offset, path, prediction


class ResultSheet(Protocol):
    """Where the predictions of a scoring run go."""

    explain: bool
    """Whether the sheet needs heatmaps and overlays."""

    def add(self, index: int, path: Path, prediction: Prediction) -> None:
        """Record the prediction of image ``index`` at ``path``."""
        ...

    def write(self) -> list[str]:
        """Write the sheet's files; returns the lines that tell a person what was written."""
        ...


class ScoreSheet:
    """``OUT/scores.csv`` (path, [category], score, threshold, decision, overlay) and ``OUT/overlays/``.

    ``categories`` adds the routed category column; an image of unknown category has the decision
    ``unknown category`` and no overlay.
    """

    explain = True

    def __init__(self, out: Path, categories: bool = False) -> None:
        self.out = out
        self.categories = categories
        self.rows: list[dict[str, Any]] = []
        (out / OVERLAYS).mkdir(parents=True, exist_ok=True)

    def add(self, index: int, path: Path, prediction: Prediction) -> None:
        row: dict[str, Any] = {"path": str(path)}
        if self.categories:
            row["category"] = prediction.category
        row["score"] = math.nan if prediction.score is None else prediction.score
        row["threshold"] = math.nan if prediction.threshold is None else prediction.threshold
        if prediction.decision == UNKNOWN_DECISION:
            row["decision"] = "unknown category"
        else:
            row["decision"] = "anomalous" if prediction.is_anomalous else "normal"
        row["overlay"] = ""
        if prediction.overlay is not None:
            name = f"{index:05d}_{path.stem}.png"
            save_png(self.out / OVERLAYS / name, prediction.overlay)
            row["overlay"] = f"{OVERLAYS}/{name}"
        self.rows.append(row)

    def write(self) -> list[str]:
        with open(self.out / SCORES_CSV, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)
        flagged = sum(row["decision"] == "anomalous" for row in self.rows)
        counts = f"scored {len(self.rows)} images, {flagged} anomalous"
        if self.categories:
            counts += f", {sum(row['decision'] == 'unknown category' for row in self.rows)} of unknown category"
        return [f"{counts}; results in {self.out / SCORES_CSV}"]


def class_row(path: Path, prediction: Prediction) -> dict[str, Any]:
    """Path, class, confidence and class probabilities of one classified image."""
    return {
        "path": str(path),
        "class": prediction.label,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
    }


def class_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Path, class and confidence of each classified image, tab-separated."""
    return [f"{row['path']}\t{row['class']}\t{row['confidence']:.4f}" for row in rows]


def write_classes_json(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Write ``rows`` as JSON to ``path``, or to ``path/classes.json`` if ``path`` is an existing folder."""
    target = path / CLASSES_JSON if path.is_dir() else path
    atomic_write_text(target, json.dumps(list(rows), indent=2) + "\n")
    return target


class ClassesSheet:
    """``OUT/classes.json``: path, class, confidence and probabilities per image."""

    explain = False

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rows: list[dict[str, Any]] = []

    def add(self, index: int, path: Path, prediction: Prediction) -> None:
        self.rows.append(class_row(path, prediction))

    def write(self) -> list[str]:
        written = write_classes_json(self.rows, self.out / CLASSES_JSON)
        return [*class_lines(self.rows), f"classified {len(self.rows)} images; results in {written}"]
