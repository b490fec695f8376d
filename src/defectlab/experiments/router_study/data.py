"""The study's categories: ELPV cell types and synthetic MVTec-layout products, split once (JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from defectlab.data.elpv import read_elpv
from defectlab.data.mvtec import read_mvtec
from defectlab.data.sample import Sample
from defectlab.data.splits import apply, load_or_create_split
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.experiments.router_study.config import ELPV_PREFIX, RouterStudyConfig
from defectlab.fileio import atomic_write_text
from defectlab.workflows.routing import router_only_split

ELPV, SYNTHETIC = "elpv", "synthetic"
SYNTH_STAMP = "synthetic.json"
"""Written beside the generated categories: the parameters they were drawn with."""


@dataclass
class Category:
    """One product of the study: where it comes from and its split samples."""

    name: str
    source: str
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    router_only: list[Sample] = field(default_factory=list)
    """Images the router also learns from and no test uses (ELPV: a share of the defective cells)."""

    @property
    def train_normals(self) -> list[Sample]:
        """Every normal training image."""
        return [s for s in self.train if s.label == 0]

    @property
    def router_train(self) -> list[Sample]:
        """The router's training images: the normal training images, the validation images and the
        router-only ones (the router learns the product in any condition, defective too)."""
        return [*self.train_normals, *self.val, *self.router_only]

    @property
    def labels(self) -> np.ndarray:
        """Test labels (0 normal, 1 anomalous)."""
        return np.array([s.label for s in self.test])

    @property
    def has_masks(self) -> bool:
        """Whether anomalous test images carry ground-truth masks (pixel metrics are defined)."""
        return any(s.mask is not None for s in self.test if s.label == 1)


def load_categories(cfg: RouterStudyConfig, log: Callable[[str], None]) -> dict[str, Category]:
    """Every category of ``cfg`` with its split (``<output>/splits/<name>.json``, made once, then reused)."""
    splits = cfg.output / "splits"
    categories = {}
    for cell in cfg.elpv:
        category = _split(ELPV_PREFIX + cell, ELPV, read_elpv(cell), "elpv", splits, cfg.seed)
        categories[category.name] = _set_router_only(category, cfg.elpv_router_share, splits, cfg.seed)
    if cfg.synthetic.categories:
        root = synthetic_data(cfg, log)
        for name in cfg.synthetic.categories:
            categories[name] = _split(name, SYNTHETIC, read_mvtec(root, name), "mvtec", splits, cfg.seed)
    return categories


def synthetic_data(cfg: RouterStudyConfig, log: Callable[[str], None]) -> Path:
    """``<output>/data`` holding the synthetic categories, generated when missing or drawn with other
    parameters (their stale splits are then removed, since the same file names hold new images)."""
    root = cfg.output / "data"
    stamp = {"seed": cfg.seed, **asdict(cfg.synthetic)}
    stamp_file = root / SYNTH_STAMP
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return root
    synth = cfg.synthetic
    log(f"    generating synthetic categories {', '.join(synth.categories)} into {root}")
    generate_synthetic_dataset(
        root,
        synth.categories,
        n_train=synth.n_train,
        n_test_good=synth.n_test_good,
        n_test_defect_per_type=synth.n_defect,
        size=synth.size,
        seed=cfg.seed,
        overwrite=True,
    )
    for name in synth.categories:
        (cfg.output / "splits" / f"{name}.json").unlink(missing_ok=True)
    atomic_write_text(stamp_file, json.dumps(stamp, indent=1) + "\n")
    return root


def _split(name: str, source: str, samples: Sequence[Sample], rule: str, folder: Path, seed: int) -> Category:
    split = load_or_create_split(folder / f"{name}.json", samples, rule, seed)
    train, val, test = apply(split, samples)
    return Category(name, source, train, val, test)


def _set_router_only(category: Category, share: float, folder: Path, seed: int) -> Category:
    """Move a seeded ``share`` of the category's defective test images to its router-only images (ELPV's
    split has no validation part to teach the router defective cells); ids in ``<folder>/<name>.router.json``."""
    category.router_only, category.test = router_only_split(category.test, share, folder / f"{category.name}.router.json", seed)
    return category
