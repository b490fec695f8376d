"""Dataset files on disk: folders, image files, mask files, and one file as a Sample."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from defectlab.data.imageio import load_image, load_mask
from defectlab.data.sample import GOOD, Sample
from defectlab.errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm", ".pnm"})
"""File-name suffixes (lower case) that readers treat as images; other files are ignored."""


def require_dir(path: str | os.PathLike[str], what: str = "dataset folder") -> Path:
    """Return ``path`` as a Path, or raise DataError if it is not an existing directory."""
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"{what} not found: {folder}")
    if not folder.is_dir():
        raise DataError(f"{what} is not a directory: {folder}")
    return folder


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` sorted by relative path; hidden files and other suffixes are skipped."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    images = [
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return sorted(images, key=lambda path: path.relative_to(folder).as_posix())


def list_subdirs(folder: Path) -> list[Path]:
    """Non-hidden subdirectories of ``folder``, sorted by name."""
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def find_mask(mask_dir: Path, stem: str) -> Path | None:
    """The mask of an image with this stem: ``<stem>_mask.png``, else ``<stem>.png``, in ``mask_dir``.

    Returns None when ``mask_dir`` does not exist (that defect type has no masks); raises
    DataError when the folder exists but holds neither file, since a partial set of masks
    is almost always a mistake.
    """
    if not mask_dir.is_dir():
        return None
    for name in (f"{stem}_mask.png", f"{stem}.png"):
        if (mask_dir / name).is_file():
            return mask_dir / name
    raise DataError(f"mask not found: expected {mask_dir / f'{stem}_mask.png'} (or {stem}.png)")


def sample_from_file(
    path: Path, base: Path, category: str, mask_dir: Path | None, metadata: dict[str, Any] | None = None
) -> Sample:
    """Load ``path`` as a Sample whose defect type is its folder name (``good`` = label 0).

    The id is the path relative to ``base``; the mask is looked up in ``mask_dir`` (see find_mask).
    """
    image = load_image(path)
    mask_path = find_mask(mask_dir, path.stem) if mask_dir is not None else None
    defect_type = path.parent.name
    return Sample(
        image=image,
        label=0 if defect_type == GOOD else 1,
        id=path.relative_to(base).as_posix(),
        category=category,
        defect_type=defect_type,
        mask=load_mask(mask_path, image.shape) if mask_path is not None else None,
        path=str(path),
        metadata=metadata or {},
    )
