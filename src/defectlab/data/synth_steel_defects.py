"""The six NEU steel-surface defect types as procedural processes on a reflectance field, with masks.

Every drawer works in the rolling frame (rolling direction along x, the columns) and returns a
relative reflectance change ``change`` (HxW float) and the boolean ``mask`` of the pixels it
alters: :func:`add_steel_defect` multiplies the reflectance by ``1 + change`` inside the mask and
leaves every other pixel untouched, so rendered pixels can only differ inside the mask. Soft
profiles are cut where they fall below ``EDGE`` of their peak, so the mask is the visible extent.

Sizes scale with the image's shorter side ``s``; strengths are drawn log-uniformly from faint
(comparable to the texture's own variation) to clear. Instances per image, sizes,
positions, orientations and polarity (darker or brighter) are all random.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from defectlab.data.neu import NEU_CLASSES
from defectlab.errors import ConfigError

STEEL_DEFECTS: tuple[str, ...] = tuple(NEU_CLASSES)
"""The six defect types in their fixed order (Severstal ClassId = position + 1)."""

EDGE = 0.25
"""Fraction of a defect's peak profile below which pixels are left unchanged (and unmasked)."""

MIN_PIXELS = 12
_MAX_TRIES = 50

Change = tuple[np.ndarray, np.ndarray]
"""A relative reflectance change (float HxW) and the boolean HxW mask where it applies."""


def add_steel_defect(reflectance: np.ndarray, defect_type: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one image's worth of ``defect_type`` (possibly several instances) on ``reflectance``.

    Returns the new reflectance (float HxW) and the uint8 HxW {0, 1} mask of the altered pixels
    (at least ``MIN_PIXELS``).
    """
    if defect_type not in _DRAWERS:
        raise ConfigError(f"unknown steel defect type '{defect_type}'; valid: {', '.join(STEEL_DEFECTS)}")
    drawer = _DRAWERS[defect_type]
    for _ in range(_MAX_TRIES):
        change, mask = drawer(reflectance.shape, rng)
        if mask.sum() >= MIN_PIXELS:
            return np.where(mask, reflectance * (1.0 + change), reflectance), mask.astype(np.uint8)
    raise RuntimeError(f"could not place a visible {defect_type} defect in {_MAX_TRIES} tries")


def _strength(rng: np.random.Generator, low: float = 0.1, high: float = 0.5) -> float:
    """A log-uniform relative strength: faint defects are as likely per octave as strong ones."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _polarity(rng: np.random.Generator, dark: float) -> float:
    return -1.0 if rng.random() < dark else 1.0


def smooth_noise(shape: tuple[int, int], sigma: float | tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """White noise blurred by a Gaussian of ``sigma`` pixels (per axis, wrapping around the edges, done
    in the Fourier domain so wide kernels cost nothing), scaled to zero mean and unit standard deviation."""
    spectrum = ndimage.fourier_gaussian(np.fft.rfft2(rng.normal(size=shape)), sigma, n=shape[1])
    noise = np.fft.irfft2(spectrum, s=shape)
    return (noise - noise.mean()) / (noise.std() + 1e-12)


def _frame(shape: tuple[int, int], centre: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u along ``angle``, v across it) of every pixel relative to ``centre`` (y, x)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    dy, dx = yy - centre[0], xx - centre[1]
    return dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)


def _centre(shape: tuple[int, int], rng: np.random.Generator, margin: float = 0.1) -> np.ndarray:
    return np.array([rng.uniform(margin, 1 - margin) * shape[0], rng.uniform(margin, 1 - margin) * shape[1]])


def _blob(shape: tuple[int, int], centre: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """A soft irregular blob in [0, 1]: an ellipse around ``centre`` with a noisy outline."""
    u, v = _frame(shape, centre, rng.uniform(-0.4, 0.4))
    stretch = rng.uniform(1.0, 2.5)
    field = 1.0 - (u / (radius * stretch)) ** 2 - (v / radius) ** 2
    field += rng.uniform(0.3, 0.7) * smooth_noise(shape, max(radius / 3, 1.0), rng)
    return np.clip(field * 2.5, 0.0, 1.0)


def _crazing(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """Fine networks of thin dark cracks: warped, partly broken Voronoi cell boundaries in 1-3 areas."""
    s = min(shape)
    change, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
    grid = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    for _ in range(int(rng.integers(1, 4))):
        area = _blob(shape, _centre(shape, rng), rng.uniform(0.1, 0.35) * s, rng) > 0.2
        if not area.any():
            continue
        cell = max(rng.uniform(0.02, 0.06) * s, 3.0)
        stretch = np.ones(2)
        stretch[rng.integers(2)] = rng.uniform(1.0, 1.8)  # cells elongated across one axis, lines stay thin
        warp = cell * rng.uniform(0.15, 0.35)
        warped = np.stack([(axis + warp * smooth_noise(shape, cell, rng))[area] for axis in grid], axis=1) * stretch
        low, high = warped.min(axis=0) - cell, warped.max(axis=0) + cell
        n_seeds = max(int(np.prod(high - low) / (cell * cell)), 4)
        distances, _ = cKDTree(rng.uniform(low, high, (n_seeds, 2))).query(warped, k=2)
        width = rng.uniform(0.5, 1.1) * max(s / 200, 1.0)
        lines = np.zeros(shape)
        lines[area] = np.clip(1.0 - (distances[:, 1] - distances[:, 0]) / (2 * width), 0.0, 1.0)
        lines *= smooth_noise(shape, cell, rng) > rng.uniform(-1.0, 0.3)  # break the network into pieces
        drawn = lines >= EDGE
        change = np.where(drawn, -_strength(rng) * lines, change)
        mask |= drawn
    return change, mask


def _inclusion(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """Elongated, tapering, partly broken streaks along the rolling direction, mostly dark."""
    s = min(shape)
    change, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
    for _ in range(int(rng.integers(1, 5))):
        length = np.exp(rng.uniform(np.log(0.15), np.log(0.6))) * s
        width = rng.uniform(1.5, 3.5) * max(s / 200, 1.0)
        u, v = _frame(shape, _centre(shape, rng, 0.05), rng.normal(0.0, 0.05))
        t = u / length + 0.5
        knots = np.linspace(-0.1, 1.1, 24)
        wander = np.interp(t, knots, ndimage.gaussian_filter1d(rng.normal(size=24), 2.0) * width * 1.5)
        thickness = width * np.interp(t, knots, 0.6 + 0.4 * np.abs(rng.normal(size=24)))
        pieces = np.interp(t, knots, (rng.random(24) > rng.uniform(0.0, 0.35)).astype(float))
        taper = np.sqrt(np.clip(np.sin(np.pi * np.clip(t, 0.0, 1.0)), 0.0, 1.0))
        profile = taper * pieces * np.exp(-(((v - wander) / thickness) ** 2))
        drawn = profile >= EDGE
        strength = _polarity(rng, 0.85) * _strength(rng, 0.15, 0.5)
        change = np.where(drawn, strength * profile, change)
        mask |= drawn
    return change, mask


def _patches(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """Irregular blotchy regions, darker or lighter, with uneven insides and soft edges."""
    s = min(shape)
    change, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        radius = np.exp(rng.uniform(np.log(0.07), np.log(0.28))) * s
        profile = _blob(shape, _centre(shape, rng), radius, rng)
        profile *= 0.7 + 0.3 * np.clip(smooth_noise(shape, max(radius / 6, 1.0), rng), -1.0, 1.0)
        drawn = profile >= EDGE
        strength = _polarity(rng, 0.7) * _strength(rng, 0.08, 0.4)
        change = np.where(drawn, strength * profile, change)
        mask |= drawn
    return change, mask


def _window(shape: tuple[int, int], y: float, x: float, reach: int) -> tuple[slice, slice] | None:
    """The pixels within ``reach`` of (y, x), clipped to the image; None when none are inside."""
    rows = slice(max(int(y) - reach, 0), min(int(y) + reach + 1, shape[0]))
    cols = slice(max(int(x) - reach, 0), min(int(x) + reach + 1, shape[1]))
    return (rows, cols) if rows.start < rows.stop and cols.start < cols.stop else None


def _pitted_surface(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """Clusters of small dark pits, each a Gaussian dimple, scattered around 1-3 cluster centres."""
    s = min(shape)
    depth = np.zeros(shape)
    scale = max(s / 200, 1.0)
    for _ in range(int(rng.integers(1, 4))):
        centre = _centre(shape, rng)
        spread = np.exp(rng.uniform(np.log(0.03), np.log(0.18))) * s * np.array([1.0, rng.uniform(1.0, 2.5)])
        strength = _strength(rng, 0.15, 0.6)
        for _ in range(int(rng.integers(10, 60))):
            y, x = centre + rng.normal(size=2) * spread
            radius = rng.uniform(0.8, 2.8) * scale
            window = _window(shape, y, x, int(np.ceil(2 * radius)) + 1)
            if window is None:
                continue
            wy, wx = np.mgrid[window].astype(np.float64)
            pit = strength * rng.uniform(0.5, 1.0) * np.exp(-((wy - y) ** 2 + (wx - x) ** 2) / radius**2)
            depth[window] = np.maximum(depth[window], np.where(pit >= EDGE * strength, pit, 0.0))
    return -depth, depth > 0


def _rolled_in_scale(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """Scattered flaky fragments pressed into the surface: irregular flakes stretched along the
    rolling direction, mostly dark with grainy insides and often a bright rim, spread over an area."""
    s = min(shape)
    change, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
    scale = max(s / 200, 1.0)
    centre = _centre(shape, rng)
    aspect = np.array([rng.uniform(0.4, 1.0), rng.uniform(1.0, 2.5)])
    spread = np.exp(rng.uniform(np.log(0.08), np.log(0.35))) * s * aspect
    strength = _strength(rng, 0.12, 0.5)
    for _ in range(int(rng.integers(12, 60))):
        y, x = centre + rng.normal(size=2) * spread
        half_length, half_width = rng.uniform(2.5, 9.0) * scale, rng.uniform(1.0, 3.5) * scale
        window = _window(shape, y, x, int(np.ceil(half_length * 1.5)) + 1)
        if window is None:
            continue
        rows, cols = window
        local = np.array([y - rows.start, x - cols.start])
        u, v = _frame((rows.stop - rows.start, cols.stop - cols.start), local, rng.normal(0.0, 0.35))
        ragged = 1.6 * ndimage.gaussian_filter(rng.normal(size=u.shape), 0.8)
        inside = (u / half_length) ** 2 + (v / half_width) ** 2 + ragged < 1.0
        flake = strength * rng.uniform(0.6, 1.0) * _polarity(rng, 0.85) * (0.6 + 0.4 * rng.random(u.shape))
        if rng.random() < 0.5:
            rim = inside & ~ndimage.binary_erosion(inside)
            flake = np.where(rim, -0.6 * flake, flake)
        change[window] = np.where(inside, flake, change[window])
        mask[window] |= inside
    return change, mask


def _scratches(shape: tuple[int, int], rng: np.random.Generator) -> Change:
    """One to four long, thin, nearly straight lines of similar direction, brighter or darker."""
    s = min(shape)
    change, mask = np.zeros(shape), np.zeros(shape, dtype=bool)
    heading = rng.uniform(0.0, np.pi)
    polarity = _polarity(rng, 0.5)
    for _ in range(int(rng.choice([1, 1, 2, 3, 4]))):
        length = rng.uniform(0.35, 1.2) * s
        width = rng.uniform(0.6, 1.3) * max(s / 200, 1.0)
        u, v = _frame(shape, _centre(shape, rng), heading + rng.normal(0.0, 0.08))
        t = u / length + 0.5
        bend = rng.uniform(-0.04, 0.04) * length * 4 * t * (1 - t)
        knots = np.linspace(0.0, 1.0, 16)
        fade = np.interp(t, knots, np.clip(0.5 + ndimage.gaussian_filter1d(rng.normal(size=16), 1.5), 0.2, 1.0))
        profile = ((t >= 0) & (t <= 1)) * fade * np.exp(-(((v - bend) / width) ** 2))
        drawn = profile >= EDGE
        change = np.where(drawn, polarity * _strength(rng, 0.12, 0.6) * profile, change)
        mask |= drawn
    return change, mask


_DRAWERS: dict[str, Callable[[tuple[int, int], np.random.Generator], Change]] = {
    "crazing": _crazing,
    "inclusion": _inclusion,
    "patches": _patches,
    "pitted_surface": _pitted_surface,
    "rolled-in_scale": _rolled_in_scale,
    "scratches": _scratches,
}
