"""Synthetic hot-rolled steel surfaces with the six NEU defect types, in three dataset layouts.

A surface is a reflectance field (fine grain and long streaks along the rolling direction, a
faint medium-scale mottle, each with a per-image strength), lit by a low-frequency illumination
field at a per-image gain, plus Gaussian sensor noise; every image is grayscale. The background
is drawn independently of the defect type, so its statistics say nothing about the class.
Defects come from :mod:`defectlab.data.synth_steel_defects`; each image's mask is exactly the
set of pixels the defect altered. Square images roll horizontally or vertically (random per
image); strips roll along their length. Every image depends only on ``seed``, its class (or
``good``) and its index, so the NEU and folder layouts hold the same images for one seed.

Layouts (class order and NEU codes from :data:`defectlab.data.neu.NEU_CLASSES`):

- ``folder`` (read with :func:`defectlab.data.folder.read_folder`)::

      <out>/good/good_<i>.png                      defect-free (label 0)
      <out>/<class>/<Code>_<i>.png                 e.g. crazing/Cr_1.png (label 1)
      <out>/masks/<class>/<Code>_<i>_mask.png      0/255 masks

- ``neu`` (read with :func:`defectlab.data.neu.read_neu`): ``<out>/<class>/<Code>_<i>.png`` only,
  like the real NEU set (no masks, no defect-free images); ``n_good`` defect-free images go to a
  separate folder, ``<out>_good/good_<i>.png``.
- ``severstal`` (read with :func:`defectlab.data.severstal.read_severstal`): ``<out>/train.csv``
  (ImageId, ClassId, EncodedPixels) and ``<out>/train_images/<k>.png`` strips, one defect class
  per defective strip with ClassId 1..6 in :data:`STEEL_DEFECTS` order; defect-free strips are
  absent from the CSV. Strips are numbered in a seeded random order so names do not reveal
  classes.

Indices ``i`` start at 1, as in NEU.
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from defectlab.data.folder import MASKS_DIR
from defectlab.data.imageio import save_image, save_mask
from defectlab.data.neu import NEU_CLASSES
from defectlab.data.rle import rle_encode
from defectlab.data.sample import GOOD
from defectlab.data.severstal import COLUMNS, CSV_NAME, IMAGES_DIR
from defectlab.data.synth import prepare_folder
from defectlab.data.synth_normals import to_uint8
from defectlab.data.synth_steel_defects import STEEL_DEFECTS, add_steel_defect, smooth_noise
from defectlab.errors import ConfigError

LAYOUTS = ("folder", "neu", "severstal")
"""Dataset layouts written by :func:`generate_steel_dataset`."""

MIN_SIDE = 64
"""Smallest image side (pixels) the generator accepts."""


@dataclass
class SteelScene:
    """A defect-free surface: reflectance (~1), illumination times gain, and sensor noise (HxW floats)."""

    reflectance: np.ndarray
    lighting: np.ndarray
    noise: np.ndarray

    def render(self, reflectance: np.ndarray | None = None) -> np.ndarray:
        """The uint8 HxW image of ``reflectance`` (default: the scene's own) under this lighting."""
        surface = self.reflectance if reflectance is None else reflectance
        return to_uint8(surface * self.lighting + self.noise)


def draw_steel_scene(height: int, width: int, rng: np.random.Generator) -> SteelScene:
    """A random defect-free steel surface of ``height`` x ``width``, rolling direction along x."""
    shape = (height, width)
    side = min(shape)
    grain = smooth_noise(shape, (rng.uniform(0.5, 1.0), rng.uniform(2.0, 10.0)), rng)
    streaks = smooth_noise(shape, (rng.uniform(0.7, 2.5), rng.uniform(0.1, 0.4) * width), rng)
    mottle = smooth_noise(shape, rng.uniform(0.03, 0.1) * side, rng)
    reflectance = 1.0 + rng.uniform(0.015, 0.07) * grain + rng.uniform(0.01, 0.06) * streaks + rng.uniform(0.0, 0.05) * mottle
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    tilt = rng.normal(0.0, 0.08, 2)
    gradient = tilt[0] * (yy / height - 0.5) + tilt[1] * (xx / width - 0.5)
    illumination = 1.0 + rng.uniform(0.02, 0.12) * smooth_noise(shape, 0.35 * side, rng) + gradient
    lighting = rng.uniform(0.3, 0.7) * illumination
    noise = rng.normal(0.0, rng.uniform(0.004, 0.02), shape)
    return SteelScene(reflectance=reflectance, lighting=lighting, noise=noise)


def steel_image(
    defect_type: str | None, height: int, width: int, rng: np.random.Generator, vertical: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One grayscale steel image with a ``defect_type`` defect (None: defect-free).

    Returns (uint8 HxW image, uint8 HxW {0, 1} mask, all zero when defect-free). ``vertical``
    rolls the surface along y instead of x.
    """
    rows, cols = (width, height) if vertical else (height, width)
    scene = draw_steel_scene(rows, cols, rng)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    reflectance = scene.reflectance
    if defect_type is not None:
        reflectance, mask = add_steel_defect(reflectance, defect_type, rng)
    image = scene.render(reflectance)
    return (image.T.copy(), mask.T.copy()) if vertical else (image, mask)


def steel_sample(name: str, index: int, size: int = 200, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of ``name`` (a defect type or ``good``) in the folder and NEU layouts:
    (uint8 size x size image, uint8 {0, 1} mask), rolling horizontally or vertically."""
    rng = _rng(seed, name, index)
    return steel_image(None if name == GOOD else name, size, size, rng, vertical=bool(rng.random() < 0.5))


def steel_strip(name: str, index: int, width: int = 800, height: int = 128, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Strip ``index`` of ``name`` (a defect type or ``good``) in the Severstal layout:
    (uint8 height x width image, uint8 {0, 1} mask), rolling along its length."""
    return steel_image(None if name == GOOD else name, height, width, _rng(seed, name, index))


def _rng(seed: int, name: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), index])


def write_folder_layout(
    out: str | os.PathLike[str], n_per_class: int, n_good: int, size: int = 200, seed: int = 42, overwrite: bool = False
) -> Path:
    """Write the folder-tree layout (good/, one folder per defect type, masks/) and return ``out``."""
    _check_counts(n_per_class, n_good)
    _check_side("size", size)
    root = prepare_folder(Path(out), overwrite)
    for index in range(1, n_good + 1):
        save_image(root / GOOD / f"{GOOD}_{index}.png", steel_sample(GOOD, index, size, seed)[0])
    for defect_type, code in NEU_CLASSES.items():
        for index in range(1, n_per_class + 1):
            image, mask = steel_sample(defect_type, index, size, seed)
            save_image(root / defect_type / f"{code}_{index}.png", image)
            save_mask(root / MASKS_DIR / defect_type / f"{code}_{index}_mask.png", mask)
    return root


def write_neu_layout(
    out: str | os.PathLike[str],
    n_per_class: int,
    size: int = 200,
    seed: int = 42,
    n_good: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``<out>/<class>/<Code>_<i>.png`` (NEU layout) and, when ``n_good > 0``, defect-free
    images to ``<out>_good/``; return ``out``."""
    _check_counts(n_per_class, n_good)
    _check_side("size", size)
    root = prepare_folder(Path(out), overwrite)
    if n_good:
        good_dir = prepare_folder(root.with_name(f"{root.name}_{GOOD}"), overwrite)
        for index in range(1, n_good + 1):
            save_image(good_dir / f"{GOOD}_{index}.png", steel_sample(GOOD, index, size, seed)[0])
    for defect_type, code in NEU_CLASSES.items():
        for index in range(1, n_per_class + 1):
            save_image(root / defect_type / f"{code}_{index}.png", steel_sample(defect_type, index, size, seed)[0])
    return root


def write_severstal_layout(
    out: str | os.PathLike[str],
    n_per_class: int,
    n_good: int,
    width: int = 800,
    height: int = 128,
    seed: int = 42,
    overwrite: bool = False,
) -> Path:
    """Write ``<out>/train.csv`` and ``<out>/train_images/`` (Severstal layout) and return ``out``.

    ``n_per_class`` strips per defect type (ClassId = position in STEEL_DEFECTS + 1) and
    ``n_good`` defect-free strips, which the CSV does not list. Real strips are 1600x256.
    """
    _check_counts(n_per_class, n_good)
    _check_side("width", width)
    _check_side("height", height)
    root = prepare_folder(Path(out), overwrite)
    jobs = [(GOOD, index) for index in range(1, n_good + 1)]
    jobs += [(defect_type, index) for defect_type in STEEL_DEFECTS for index in range(1, n_per_class + 1)]
    order = np.random.default_rng(seed).permutation(len(jobs))
    rows = []
    for number, job in enumerate(order):
        name, index = jobs[job]
        image, mask = steel_strip(name, index, width, height, seed)
        image_id = f"{number:06d}.png"
        save_image(root / IMAGES_DIR / image_id, image)
        if name != GOOD:
            rows.append((image_id, STEEL_DEFECTS.index(name) + 1, rle_encode(mask)))
    with (root / CSV_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(sorted(rows))
    return root


def generate_steel_dataset(
    out: str | os.PathLike[str],
    layout: str = "folder",
    n_per_class: int = 60,
    n_good: int = 60,
    size: int = 200,
    width: int = 800,
    height: int = 128,
    seed: int = 42,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic steel dataset in ``layout`` (``folder``, ``neu`` or ``severstal``).

    ``size`` is the side of the square folder/NEU images; ``width`` x ``height`` the Severstal
    strip size. ``n_good`` defect-free images go to ``good/`` (folder), ``<out>_good/`` (neu) or
    unlisted strips (severstal). An existing non-empty output folder is an error unless
    ``overwrite`` (then it is replaced). Returns ``out``.
    """
    if layout == "folder":
        return write_folder_layout(out, n_per_class, n_good, size, seed, overwrite)
    if layout == "neu":
        return write_neu_layout(out, n_per_class, size, seed, n_good, overwrite)
    if layout == "severstal":
        return write_severstal_layout(out, n_per_class, n_good, width, height, seed, overwrite)
    raise ConfigError(f"unknown steel dataset layout '{layout}'; valid: {', '.join(LAYOUTS)}")


def _check_counts(n_per_class: int, n_good: int) -> None:
    if n_per_class < 1:
        raise ConfigError(f"steel synth needs at least 1 image per defect type, got n_per_class={n_per_class}")
    if n_good < 0:
        raise ConfigError(f"steel synth n_good (defect-free images) must be >= 0, got {n_good}")


def _check_side(name: str, value: int) -> None:
    if value < MIN_SIDE:
        raise ConfigError(f"steel synth {name} must be at least {MIN_SIDE} pixels, got {value}")
