"""Reader for a plain folder tree.

Layout::

    <root>/good/*                           normal images (label 0)
    <root>/<defect>/*                       one folder per defect type (label 1)
    <root>/masks/<defect>/<stem>_mask.png   optional masks (or <stem>.png)

Only files directly inside those folders are read. Mask rule: the mask of ``<defect>/<stem>.<ext>``
is ``masks/<defect>/<stem>_mask.png``, else ``masks/<defect>/<stem>.png``. A defect type without
a ``masks/<defect>`` folder has ``mask=None``; when that folder exists every image of the type
needs its mask. Good images have ``mask=None``. Sample ids are ``<folder>/<file name>``; there is
no ``subset`` metadata (split such data with the holdout rule ``"elpv"``).
"""

from __future__ import annotations

import os
from pathlib import Path

from defectlab.data.files import list_images, list_subdirs, require_dir, sample_from_file
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import DataError

MASKS_DIR = "masks"


def read_folder(root: str | os.PathLike[str], category: str | None = None) -> list[Sample]:
    """Samples of the tree at ``root`` (or ``root/category``); category defaults to the folder name."""
    base = require_dir(Path(root) / category if category else root, "image folder tree")
    name = category or base.resolve().name
    samples: list[Sample] = []
    for folder in list_subdirs(base):
        if folder.name == MASKS_DIR:
            continue
        mask_dir = None if folder.name == GOOD else base / MASKS_DIR / folder.name
        samples.extend(sample_from_file(path, base, name, mask_dir) for path in list_images(folder))
    if not samples:
        raise DataError(f"no images in {base}: expected good/ and one folder per defect type")
    return samples
