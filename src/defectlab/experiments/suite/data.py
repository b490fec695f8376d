"""The suite's data sets by name: real ELPV cells, real texture photographs with two defect
generators, and the synthetic MVTec and steel sets. Generated sets are written once under a data
folder (seeded) and read back; every split is saved as JSON and reused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defectlab.data.elpv import CELL_TYPES
from defectlab.data.formats import read_dataset
from defectlab.data.real_textures import GENERATORS, TEXTURES, make_texture_dataset
from defectlab.data.sample import Sample
from defectlab.data.splits import apply, load_or_create_split
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.data.synth_normals import KINDS
from defectlab.data.synth_steel import write_folder_layout
from defectlab.errors import ConfigError
from defectlab.fileio import atomic_write_text

TEXTURE = {"size": 192, "n_train": 80, "n_test_good": 40, "n_per_defect": 20}
SYNTH = {"size": 128, "n_train": 40, "n_test_good": 20, "n_test_defect_per_type": 8}
STEEL = {"size": 200, "n_per_class": 10, "n_good": 80}

DATASETS: tuple[str, ...] = (
    *(f"elpv-{t}" for t in CELL_TYPES),
    *(f"{texture}-{generator}" for generator in GENERATORS for texture in TEXTURES),
    *(f"synth-{kind}" for kind in KINDS),
    "steel",
)
"""Every suite data set name."""


@dataclass
class SuiteData:
    """One data set's split samples; `family` (elpv, texture, synthetic) groups data sets for macro averages."""

    name: str
    family: str
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]


def _generated(folder: Path, recipe: dict[str, Any], write: Callable[[Path], object]) -> Path:
    """`folder`, written by `write(folder)` unless a previous run completed it with the same `recipe`."""
    done = folder / ".complete.json"
    stamp = json.dumps(recipe, sort_keys=True)
    if not done.is_file() or done.read_text() != stamp:
        shutil.rmtree(folder, ignore_errors=True)
        write(folder)
        atomic_write_text(done, stamp)
    return folder


def _read(name: str, data_dir: Path, seed: int) -> tuple[str, list[Sample], str]:
    """(family, samples, split rule) of data set `name`."""
    if name.startswith("elpv-"):
        return "elpv", read_dataset(None, "elpv", name.removeprefix("elpv-")), "elpv"
    if name.startswith("synth-"):
        recipe = {**SYNTH, "seed": seed}
        root = _generated(data_dir / "synth", recipe, lambda f: generate_synthetic_dataset(f, **recipe))
        return "synthetic", read_dataset(root, "mvtec", name.removeprefix("synth-")), "mvtec"
    if name == "steel":
        recipe = {**STEEL, "seed": seed}
        root = _generated(data_dir / "steel", recipe, lambda f: write_folder_layout(f, **recipe))
        return "synthetic", read_dataset(root, "folder"), "elpv"
    texture, _, generator = name.partition("-")
    recipe = {**TEXTURE, "seed": seed, "texture": texture, "generator": generator}
    root = _generated(data_dir / f"textures-{generator}-{texture}", recipe, lambda f: make_texture_dataset(f, **recipe))
    return "texture", read_dataset(root, "mvtec", texture), "mvtec"


def load_suite_data(name: str, data_dir: Path, split_dir: Path, seed: int) -> SuiteData:
    """Samples of data set `name` (one of DATASETS), split by its family's rule and seed."""
    if name not in DATASETS:
        raise ConfigError(f"unknown suite data set {name!r}; choose from {', '.join(DATASETS)}")
    family, samples, rule = _read(name, data_dir, seed)
    split = load_or_create_split(split_dir / f"{name}.json", samples, rule, seed)
    train, val, test = apply(split, samples)
    return SuiteData(name, family, train, val, test)
