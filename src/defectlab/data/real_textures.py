"""Anomaly datasets cut from real texture photographs shipped with scikit-image (no download).

Normal images are random crops of one photograph (training crops from its upper part, test
crops from its lower part, so no test pixel was seen in training). Two defect generators of
different design (`GENERATORS`): ``patches`` moves image content (CutPaste-style patches of the
same texture, rotated; foreign patches from another photograph; local blur), ``marks`` draws
thin curves and blobs (scratches, cracks, rust stains from :mod:`defectlab.data.synth_defects`)
onto the photograph. The mask is exactly the changed pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import data as skdata

from defectlab.data.imageio import save_image, save_mask
from defectlab.data.synth_defects import add_defect
from defectlab.data.synth_normals import Scene
from defectlab.errors import ConfigError

TEXTURES = ("brick", "grass", "gravel")
GENERATORS = {"patches": ("cutpaste", "foreign", "blur"), "marks": ("scratch", "crack", "stain")}
DEFECTS = tuple(kind for kinds in GENERATORS.values() for kind in kinds)
_TRAIN_ROWS = 0.6  # training crops come from the top 60% of the photograph


def _photo(name: str) -> np.ndarray:
    if name not in TEXTURES:
        raise ConfigError(f"unknown texture {name!r}; choose one of {', '.join(TEXTURES)}")
    return np.asarray(getattr(skdata, name)(), dtype=np.uint8)


def _crop(photo: np.ndarray, size: int, rows: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    top = int(rng.integers(rows[0], rows[1] - size + 1))
    left = int(rng.integers(0, photo.shape[1] - size + 1))
    return photo[top : top + size, left : left + size].copy()


def _patch_box(size: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    h = int(rng.integers(size // 8, size // 4 + 1))
    w = int(rng.integers(size // 8, size // 4 + 1))
    top = int(rng.integers(size // 8, size - h - size // 8))
    left = int(rng.integers(size // 8, size - w - size // 8))
    return top, left, h, w


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def add_texture_defect(
    image: np.ndarray, kind: str, source: np.ndarray, other: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one defect of `kind` to a gray crop; returns (defective uint8 HxWx3 image, mask {0,1})."""
    if kind in GENERATORS["marks"]:
        scene = Scene(_rgb(image).astype(np.float64) / 255.0, np.ones(image.shape, bool), np.zeros((*image.shape, 3)))
        return add_defect(scene, kind, rng)
    size = image.shape[0]
    top, left, h, w = _patch_box(size, rng)
    out = image.copy()
    if kind == "cutpaste":
        patch = _crop(source, max(h, w), (0, source.shape[0]), rng)
        patch = np.rot90(patch, int(rng.integers(1, 4)))[:h, :w]
    elif kind == "foreign":
        patch = _crop(other, max(h, w), (0, other.shape[0]), rng)[:h, :w]
    elif kind == "blur":
        patch = ndimage.gaussian_filter(image.astype(np.float32), 3.0)[top : top + h, left : left + w]
        patch = np.clip(np.round(patch), 0, 255).astype(np.uint8)
    else:
        raise ConfigError(f"unknown texture defect {kind!r}; choose one of {', '.join(DEFECTS)}")
    out[top : top + h, left : left + w] = patch
    mask = (out != image).astype(np.uint8)
    return _rgb(out), mask


def make_texture_dataset(
    out: str | os.PathLike[str],
    texture: str = "brick",
    n_train: int = 60,
    n_test_good: int = 20,
    n_per_defect: int = 10,
    size: int = 128,
    seed: int = 42,
    generator: str = "patches",
) -> Path:
    """Write an MVTec-layout category `out/<texture>` cut from a real photograph, with the defect
    kinds of `generator` (one of `GENERATORS`); returns `out`."""
    if generator not in GENERATORS:
        raise ConfigError(f"unknown defect generator {generator!r}; choose one of {', '.join(GENERATORS)}")
    photo = _photo(texture)
    other = _photo(next(t for t in TEXTURES if t != texture))
    rng = np.random.default_rng(seed)
    split = int(_TRAIN_ROWS * photo.shape[0])
    root = Path(out) / texture
    for i in range(n_train):
        save_image(root / "train" / "good" / f"{i:03d}.png", _rgb(_crop(photo, size, (0, split), rng)))
    for i in range(n_test_good):
        save_image(root / "test" / "good" / f"{i:03d}.png", _rgb(_crop(photo, size, (split, photo.shape[0]), rng)))
    for kind in GENERATORS[generator]:
        for i in range(n_per_defect):
            normal = _crop(photo, size, (split, photo.shape[0]), rng)
            image, mask = add_texture_defect(normal, kind, photo, other, rng)
            save_image(root / "test" / kind / f"{i:03d}.png", image)
            save_mask(root / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
    return Path(out)
