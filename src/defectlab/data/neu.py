"""Reader for the NEU surface defect database (hot-rolled steel strip, 6 defect classes).

Every image under the root (searched recursively) is a defect: ``label=1`` and ``defect_type``
the class name. The class comes from the parent folder name when it is a class name or code
(``crazing/``, ``Cr/``), else from the file-name prefix (``Cr_12.bmp``, ``rolled-in_scale_3.jpg``).
Matching ignores case and treats ``-`` and ``_`` alike. Annotation files (XML boxes) are ignored.
Sample ids are paths relative to the root; the category is ``"neu"``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from defectlab.data.files import list_images, require_dir
from defectlab.data.imageio import load_image
from defectlab.data.sample import Sample
from defectlab.errors import DataError

CATEGORY = "neu"
NEU_CLASSES = {
    "crazing": "Cr",
    "inclusion": "In",
    "patches": "Pa",
    "pitted_surface": "PS",
    "rolled-in_scale": "RS",
    "scratches": "Sc",
}
"""Class name -> file-name code."""


def _key(text: str) -> str:
    return text.lower().replace("-", "_")


_LOOKUP = {_key(name): name for name in NEU_CLASSES} | {_key(code): name for name, code in NEU_CLASSES.items()}


def neu_class(path: Path) -> str:
    """The NEU class name of an image file, from its folder or file-name prefix."""
    prefix = re.sub(r"[_\-\s]*\d+$", "", path.stem)
    for candidate in (path.parent.name, prefix, path.stem.split("_")[0]):
        if _key(candidate) in _LOOKUP:
            return _LOOKUP[_key(candidate)]
    valid = ", ".join(f"{name} ({code})" for name, code in NEU_CLASSES.items())
    raise DataError(f"cannot tell the NEU class of {path}: folder or file-name prefix must be one of {valid}")


def read_neu(root: str | os.PathLike[str]) -> list[Sample]:
    """All NEU images under ``root`` as defect samples."""
    base = require_dir(root, "NEU folder")
    files = list_images(base, recursive=True)
    if not files:
        raise DataError(f"no images found under {base}")
    classes = [neu_class(path) for path in files]
    return [
        Sample(
            image=load_image(path),
            label=1,
            id=path.relative_to(base).as_posix(),
            category=CATEGORY,
            defect_type=defect_type,
            path=str(path),
        )
        for path, defect_type in zip(files, classes, strict=True)
    ]
