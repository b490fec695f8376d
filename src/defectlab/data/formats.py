"""One entry point over every dataset reader, selected by format name."""

from __future__ import annotations

import os

from defectlab.data.elpv import CELL_TYPES, read_elpv
from defectlab.data.files import list_subdirs, require_dir
from defectlab.data.folder import read_folder
from defectlab.data.mvtec import list_mvtec_categories, read_mvtec
from defectlab.data.neu import read_neu
from defectlab.data.sample import GOOD, Sample
from defectlab.data.severstal import read_severstal
from defectlab.errors import ConfigError

FORMATS = ("mvtec", "folder", "neu", "severstal", "elpv")
"""Dataset format names accepted by :func:`read_dataset`."""


def read_dataset(root: str | os.PathLike[str] | None, fmt: str, category: str | None = None) -> list[Sample]:
    """Read a dataset of format ``fmt`` (one of FORMATS).

    ``category`` is the MVTec category (required), the sub-folder of a folder tree (optional),
    or the ELPV cell type (optional, ``mono``/``poly``); NEU and Severstal take none. ``root`` is
    ignored for ELPV, whose data is installed as a package.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown dataset format '{fmt}'; valid: {', '.join(FORMATS)}")
    if fmt == "elpv":
        return read_elpv(category)
    if root is None:
        raise ConfigError(f"dataset format '{fmt}' needs a dataset root folder")
    if fmt == "mvtec":
        if category is None:
            categories = ", ".join(list_mvtec_categories(root))
            raise ConfigError(f"format 'mvtec' needs a category; {root} has: {categories}")
        return read_mvtec(root, category)
    if fmt == "folder":
        return read_folder(root, category)
    if category is not None:
        raise ConfigError(f"dataset format '{fmt}' has no categories (got category '{category}')")
    return read_neu(root) if fmt == "neu" else read_severstal(root)


def list_categories(root: str | os.PathLike[str] | None, fmt: str) -> list[str]:
    """The categories a dataset holds: MVTec category folders, ELPV cell types, or the sub-folders
    of a folder tree that have a ``good`` folder. NEU and Severstal have none."""
    if fmt == "elpv":
        return list(CELL_TYPES)
    if fmt == "mvtec" and root is not None:
        return list_mvtec_categories(root)
    if fmt == "folder" and root is not None:
        return [p.name for p in list_subdirs(require_dir(root, "image folder tree")) if (p / GOOD).is_dir()]
    raise ConfigError(f"dataset format '{fmt}' has no categories to route between (use mvtec, folder or elpv)")
