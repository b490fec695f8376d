"""Reader for Kaggle's Severstal steel defect data.

``<root>/train.csv`` has columns ImageId, ClassId, EncodedPixels (see :mod:`defectlab.data.rle`)
and ``<root>/train_images/`` holds the images. Images absent from the CSV (or with only empty
encodings) are defect-free. A defect image's mask is the union of its classes and its
``defect_type`` the class ids joined in ascending order (``"1"``, ``"1+3"``). Sample ids are the
ImageId (file name); metadata holds ``{"class_ids": [...]}``; the category is ``"severstal"``.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from defectlab.data.files import list_images, require_dir
from defectlab.data.imageio import load_image
from defectlab.data.rle import rle_decode
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import DataError

CATEGORY = "severstal"
CSV_NAME = "train.csv"
IMAGES_DIR = "train_images"
COLUMNS = ("ImageId", "ClassId", "EncodedPixels")


def read_severstal(root: str | os.PathLike[str]) -> list[Sample]:
    """All images in ``train_images/`` with labels and masks from ``train.csv``."""
    base = require_dir(root, "Severstal folder")
    runs = _read_csv(base / CSV_NAME)
    image_dir = require_dir(base / IMAGES_DIR, "Severstal image folder")
    files = list_images(image_dir)
    if not files:
        raise DataError(f"no images in {image_dir}")
    missing = sorted(set(runs) - {path.name for path in files})
    if missing:
        raise DataError(f"{base / CSV_NAME} lists {len(missing)} image(s) absent from {image_dir}, e.g. {missing[0]}")
    return [_sample(path, runs.get(path.name, {})) for path in files]


def _read_csv(path: Path) -> dict[str, dict[int, list[str]]]:
    """ImageId -> ClassId -> non-empty run-length strings."""
    runs: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not set(COLUMNS) <= set(reader.fieldnames):
                raise DataError(f"{path} must have the columns {', '.join(COLUMNS)}; found {reader.fieldnames}")
            for line, row in enumerate(reader, start=2):
                encoded = (row["EncodedPixels"] or "").strip()
                if encoded:
                    runs[row["ImageId"]][_class_id(row["ClassId"], path, line)].append(encoded)
    except FileNotFoundError as exc:
        raise DataError(f"Severstal label file not found: {path}") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    return runs


def _class_id(text: str | None, path: Path, line: int) -> int:
    try:
        return int(text or "")
    except ValueError as exc:
        raise DataError(f"{path} line {line}: ClassId must be an integer, got {text!r}") from exc


def _sample(path: Path, classes: dict[int, list[str]]) -> Sample:
    image = load_image(path)
    class_ids = sorted(classes)
    mask = None
    if class_ids:
        shape = (image.shape[0], image.shape[1])
        mask = np.zeros(shape, dtype=np.uint8)
        for class_id in class_ids:
            for encoded in classes[class_id]:
                try:
                    mask |= rle_decode(encoded, shape)
                except DataError as exc:
                    raise DataError(f"{path.name} class {class_id}: {exc}") from exc
    return Sample(
        image=image,
        label=int(bool(class_ids)),
        id=path.name,
        category=CATEGORY,
        defect_type="+".join(map(str, class_ids)) or GOOD,
        mask=mask,
        path=str(path),
        metadata={"class_ids": class_ids},
    )
