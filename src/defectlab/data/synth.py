"""A synthetic dataset in MVTec AD layout, fully determined by its seed.

Each category is a texture (stripes, woven or smoothed-noise pattern) or an object (disc, washer
or hex nut on a background) with mild per-image variation; test images carry one procedurally
drawn defect each (scratch, crack, spot, hole, stain) with an exact ground-truth mask (0/255 PNG)
covering the changed pixels. Read it back with :func:`defectlab.data.mvtec.read_mvtec`.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from defectlab.data.imageio import save_image, save_mask
from defectlab.data.sample import GOOD
from defectlab.data.synth_defects import DEFECT_TYPES, add_defect
from defectlab.data.synth_normals import KINDS, draw_scene, draw_style, to_uint8
from defectlab.errors import ConfigError, DataError

MIN_SIZE = 32


def generate_synthetic_dataset(
    out: str | os.PathLike[str],
    categories: Sequence[str] | Mapping[str, str] = KINDS,
    n_train: int = 20,
    n_test_good: int = 8,
    n_test_defect_per_type: int = 4,
    size: int = 128,
    seed: int = 42,
    defect_types: Sequence[str] = DEFECT_TYPES,
    overwrite: bool = False,
) -> Path:
    """Write ``out/<category>/{train,test,ground_truth}`` and return ``out``.

    ``categories`` is a sequence of kinds (``texture``, ``object``), each used as its own name,
    or a mapping ``name -> kind`` (several categories of one kind get different looks). An
    existing, non-empty category folder is an error unless ``overwrite`` (then it is replaced).
    """
    kinds = _category_kinds(categories)
    _check_options(n_train, n_test_good, n_test_defect_per_type, size, defect_types)
    root = Path(out)
    for name, kind in kinds.items():
        folder = prepare_folder(root / name, overwrite)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        style = draw_style(kind, rng)
        for subset, count in (("train", n_train), ("test", n_test_good)):
            for index in range(count):
                save_image(folder / subset / GOOD / f"{index:03d}.png", to_uint8(draw_scene(style, size, rng).image))
        for defect_type in defect_types:
            for index in range(n_test_defect_per_type):
                image, mask = add_defect(draw_scene(style, size, rng), defect_type, rng)
                save_image(folder / "test" / defect_type / f"{index:03d}.png", image)
                save_mask(folder / "ground_truth" / defect_type / f"{index:03d}_mask.png", mask)
    return root


def _category_kinds(categories: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(categories, str):
        categories = (categories,)
    if isinstance(categories, Mapping):
        kinds = dict(categories)
    else:
        unknown = [name for name in categories if name not in KINDS]
        if unknown:
            raise ConfigError(
                f"synthetic category '{unknown[0]}' is not a kind ({', '.join(KINDS)}); "
                "pass a mapping name -> kind to choose other names"
            )
        kinds = {name: name for name in categories}
    if not kinds:
        raise ConfigError("no synthetic categories requested")
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ConfigError(f"unknown kind '{kind}' for synthetic category '{name}'; valid: {', '.join(KINDS)}")
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ConfigError(f"synthetic category name '{name}' is not a valid folder name")
    return kinds


def _check_options(n_train: int, n_test_good: int, n_per_type: int, size: int, defect_types: Sequence[str]) -> None:
    if n_train < 1 or n_test_good < 0 or n_per_type < 0:
        raise ConfigError(
            f"synthetic counts must be n_train >= 1 and the others >= 0; got n_train={n_train}, "
            f"n_test_good={n_test_good}, n_test_defect_per_type={n_per_type}"
        )
    if size < MIN_SIZE:
        raise ConfigError(f"synthetic image size must be at least {MIN_SIZE} pixels, got {size}")
    unknown = [name for name in defect_types if name not in DEFECT_TYPES]
    if unknown:
        raise ConfigError(f"unknown synthetic defect type '{unknown[0]}'; valid: {', '.join(DEFECT_TYPES)}")


def prepare_folder(folder: Path, overwrite: bool) -> Path:
    """``folder``, created empty: an existing non-empty folder is a DataError unless ``overwrite`` (then replaced)."""
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise DataError(f"{folder} already exists and is not empty; choose another folder or overwrite")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
