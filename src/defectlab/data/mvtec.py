"""Reader for the MVTec AD layout.

``<root>/<category>/train/good/*`` (normal training images), ``test/<defect>/*`` (``good`` plus
one folder per defect type) and ``ground_truth/<defect>/<stem>_mask.png``. Sample ids are paths
relative to the category folder (``train/good/000.png``, ``test/crack/003.png``); metadata holds
``{"subset": "train" | "test"}``. Good images have ``mask=None`` (no defect pixels); a defect
image has ``mask=None`` only when its ``ground_truth/<defect>`` folder is absent.
"""

from __future__ import annotations

import os

from defectlab.data.files import list_images, list_subdirs, require_dir, sample_from_file
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import DataError


def list_mvtec_categories(root: str | os.PathLike[str]) -> list[str]:
    """Names of the category folders under ``root`` that have a ``train/good`` folder, sorted."""
    folder = require_dir(root, "MVTec root folder")
    categories = [path.name for path in list_subdirs(folder) if (path / "train" / GOOD).is_dir()]
    if not categories:
        raise DataError(f"no MVTec categories (folders with train/good/) in {folder}")
    return categories


def read_mvtec(root: str | os.PathLike[str], category: str) -> list[Sample]:
    """All train and test samples of one MVTec AD category (train first, then test by defect type)."""
    base = require_dir(root, "MVTec root folder") / category
    if not base.is_dir():
        available = ", ".join(path.name for path in list_subdirs(base.parent)) or "none"
        raise DataError(f"MVTec category '{category}' not found: {base} (folders present: {available})")
    train_dir = base / "train" / GOOD
    train_files = list_images(train_dir) if train_dir.is_dir() else []
    if not train_files:
        raise DataError(f"MVTec category '{category}' has no training images in {train_dir}")
    samples = [sample_from_file(path, base, category, None, {"subset": "train"}) for path in train_files]
    test_dir = base / "test"
    if test_dir.is_dir():
        for defect_dir in list_subdirs(test_dir):
            mask_dir = None if defect_dir.name == GOOD else base / "ground_truth" / defect_dir.name
            samples.extend(
                sample_from_file(path, base, category, mask_dir, {"subset": "test"}) for path in list_images(defect_dir)
            )
    return samples
