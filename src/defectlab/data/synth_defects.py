"""Procedural defects drawn onto synthetic normal images, with exact masks.

Every defect pixel differs from the normal image by at least ``MIN_DELTA`` grey levels in some
channel and no other pixel changes, so ``mask == (defective != normal).any(axis=2)`` holds
exactly. Defects are clipped to the scene's support (the object, for object categories), are
placed so that most of each defect falls inside it, and cover ``MIN_AREA``..``MAX_AREA`` of the
image.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
from scipy import ndimage

from defectlab.data.synth_normals import Scene, to_uint8

DEFECT_TYPES = ("scratch", "crack", "spot", "hole", "stain")
MIN_DELTA = 20
MIN_AREA = 0.004
MAX_AREA = 0.06
_MAX_TRIES = 100

Region = tuple[np.ndarray, np.ndarray]
"""A boolean HxW region and the float HxWx3 image values it takes there."""


def add_defect(scene: Scene, defect_type: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one ``defect_type`` defect on ``scene``: (uint8 HxWx3 image, uint8 HxW {0,1} mask)."""
    size = scene.image.shape[0]
    centres = np.argwhere(_inner(scene.support, int(0.15 * size)))
    if not len(centres):
        centres = np.argwhere(scene.support)
    for attempt in range(_MAX_TRIES):
        centre = centres[rng.integers(len(centres))].astype(np.float64)
        region, target = _DRAWERS[defect_type](scene, centre, rng)
        kept = region & scene.support
        area = int(kept.sum())
        inside = 0.85 if attempt < _MAX_TRIES // 2 else 0.5
        if MIN_AREA * size * size <= area <= MAX_AREA * size * size and area >= inside * region.sum():
            return _paint(scene.image, kept, target)
    raise RuntimeError(f"could not place a {defect_type} defect in {_MAX_TRIES} tries")


def _inner(support: np.ndarray, margin: int) -> np.ndarray:
    inner = ndimage.binary_erosion(support)
    inner[:margin] = inner[-margin:] = False
    inner[:, :margin] = inner[:, -margin:] = False
    return inner


def _paint(image: np.ndarray, region: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    good = to_uint8(image).astype(np.int16)
    changed = image.copy()
    changed[region] = target[region]
    out = to_uint8(changed).astype(np.int16)
    weak = region & (np.abs(out - good).max(axis=2) < MIN_DELTA)
    brighter = float((target[region] - image[region]).mean()) >= 0.0
    pixels = good[weak]
    room_up, room_down = pixels.min(axis=1) <= 255 - MIN_DELTA, pixels.max(axis=1) >= MIN_DELTA
    step = np.where(room_up, 1, -1) if brighter else np.where(room_down, -1, 1)
    out[weak] = np.clip(pixels + step[:, None] * MIN_DELTA, 0, 255)
    return out.astype(np.uint8), region.astype(np.uint8)


def _grid(size: int, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return yy - centre[0], xx - centre[1]


def _near_polyline(size: int, points: np.ndarray, radius: float) -> np.ndarray:
    """Pixels whose centres lie within ``radius`` of a polyline of (y, x) points."""
    region = np.zeros((size, size), dtype=bool)
    low = np.maximum(np.floor(points.min(axis=0) - radius), 0).astype(int)
    high = np.minimum(np.ceil(points.max(axis=0) + radius) + 1, size).astype(int)
    if (high <= low).any():
        return region
    yy, xx = np.mgrid[low[0] : high[0], low[1] : high[1]].astype(np.float64)
    best = np.full(yy.shape, np.inf)
    for (y0, x0), (y1, x1) in pairwise(points):
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0.0, 1.0)
        best = np.minimum(best, np.hypot(yy - y0 - t * dy, xx - x0 - t * dx))
    region[low[0] : high[0], low[1] : high[1]] = best <= radius
    return region


def _contrast_level(scene: Scene, region: np.ndarray) -> float:
    """A dark level on bright surfaces and a bright one on dark surfaces."""
    return 0.06 if scene.image[region].mean() > 0.45 else 0.94


def _scratch(scene: Scene, centre: np.ndarray, rng: np.random.Generator) -> Region:
    size = scene.image.shape[0]
    length, angle = rng.uniform(0.22, 0.4) * size, rng.uniform(0.0, np.pi)
    along = np.array([np.sin(angle), np.cos(angle)])
    across = np.array([along[1], -along[0]])
    start, end = centre - along * length / 2, centre + along * length / 2
    control = centre + across * rng.uniform(-0.15, 0.15) * length
    t = np.linspace(0.0, 1.0, 12)[:, None]
    points = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
    region = _near_polyline(size, points, max(0.75, rng.uniform(0.8, 1.3) * size / 128))
    level = _contrast_level(scene, region)
    return region, scene.image * 0.25 + 0.75 * level


def _crack(scene: Scene, centre: np.ndarray, rng: np.random.Generator) -> Region:
    size = scene.image.shape[0]
    heading, step = rng.uniform(0.0, 2 * np.pi), 0.03 * size
    arms = []
    for direction in (heading, heading + np.pi):
        point, angle, arm = centre, direction, [centre]
        for _ in range(int(rng.integers(6, 10))):
            angle += rng.normal(0.0, 0.4)
            point = point + step * np.array([np.sin(angle), np.cos(angle)])
            arm.append(point)
        arms.append(np.array(arm))
    points = np.concatenate([arms[0][::-1], arms[1][1:]])
    region = _near_polyline(size, points, max(0.7, rng.uniform(0.7, 1.0) * size / 128))
    return region, scene.image * 0.3


def _spot(scene: Scene, centre: np.ndarray, rng: np.random.Generator) -> Region:
    size = scene.image.shape[0]
    dy, dx = _grid(size, centre)
    radius = rng.uniform(0.045, 0.075) * size
    theta = np.arctan2(dy, dx)
    wobble = 1.0 + 0.15 * np.sin(3 * theta + rng.uniform(0.0, 2 * np.pi))
    stretch = rng.uniform(0.75, 1.0)
    extent = np.hypot(dy, dx * stretch) / (radius * wobble)
    region = extent <= 1.0
    strength = (0.55 + 0.3 * (1.0 - np.clip(extent, 0.0, 1.0)))[:, :, None]
    level = _contrast_level(scene, region)
    return region, scene.image * (1.0 - strength) + level * strength


def _hole(scene: Scene, centre: np.ndarray, rng: np.random.Generator) -> Region:
    size = scene.image.shape[0]
    dy, dx = _grid(size, centre)
    region = np.hypot(dy, dx) <= rng.uniform(0.055, 0.085) * size
    return region, scene.backdrop


def _stain(scene: Scene, centre: np.ndarray, rng: np.random.Generator) -> Region:
    size = scene.image.shape[0]
    dy, dx = _grid(size, centre)
    radius = rng.uniform(0.08, 0.12) * size
    noise = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=radius / 3)
    blob = 1.0 - (np.hypot(dy, dx) / radius) ** 2 + 0.6 * noise / (noise.std() + 1e-9)
    region = (blob > 0.3) & (np.hypot(dy, dx) <= 1.5 * radius)
    rust = np.array([rng.uniform(0.45, 0.6), rng.uniform(0.28, 0.38), rng.uniform(0.1, 0.2)])
    strength = np.clip(0.45 + 0.3 * blob, 0.45, 0.75)[:, :, None]
    return region, scene.image * (1.0 - strength) + rust * strength


_DRAWERS: dict[str, Callable[[Scene, np.ndarray, np.random.Generator], Region]] = {
    "scratch": _scratch,
    "crack": _crack,
    "spot": _spot,
    "hole": _hole,
    "stain": _stain,
}
