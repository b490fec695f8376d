"""Procedural defect-free images for the synthetic dataset: textures and centred objects.

A category draws a :class:`Style` once (pattern or shape, colours, scale); each image then varies
it mildly (phase, pose, brightness, grain). Images are float HxWx3 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

KINDS = ("texture", "object")
TEXTURE_PATTERNS = ("stripes", "woven", "noise")
OBJECT_SHAPES = ("disc", "washer", "hexnut")


@dataclass(frozen=True)
class Style:
    """Appearance shared by all images of one synthetic category."""

    kind: str
    variant: str
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    scale: float
    angle: float


@dataclass
class Scene:
    """A normal image, where defects may go (support), and what a hole reveals (backdrop)."""

    image: np.ndarray
    support: np.ndarray
    backdrop: np.ndarray


def draw_style(kind: str, rng: np.random.Generator) -> Style:
    """Random appearance of a category of ``kind`` (``texture`` or ``object``)."""
    variants = TEXTURE_PATTERNS if kind == "texture" else OBJECT_SHAPES
    variant = variants[int(rng.integers(len(variants)))]
    dark = rng.uniform(0.12, 0.3, 3) * rng.uniform(0.8, 1.0)
    bright = rng.uniform(0.55, 0.8, 3)
    colour_a, colour_b = (dark, bright) if rng.random() < 0.5 else (bright, dark)
    if kind == "texture":
        colour_b = colour_a + (colour_b - colour_a) * 0.6
    return Style(
        kind=kind,
        variant=variant,
        colour_a=_rgb(colour_a),
        colour_b=_rgb(colour_b),
        scale=float(rng.uniform(0.05, 0.1) if kind == "texture" else rng.uniform(0.3, 0.36)),
        angle=float(rng.uniform(0.0, np.pi)),
    )


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def draw_scene(style: Style, size: int, rng: np.random.Generator) -> Scene:
    """One defect-free image of ``style``, ``size`` x ``size`` pixels."""
    draw = _texture if style.kind == "texture" else _object
    scene = draw(style, size, rng)
    grain = rng.normal(0.0, 0.012, (size, size, 1))
    scene.image = np.clip(scene.image + grain, 0.0, 1.0)
    scene.backdrop = np.clip(scene.backdrop + grain, 0.0, 1.0)
    return scene


def _blend(style: Style, field: np.ndarray) -> np.ndarray:
    low, high = np.asarray(style.colour_a), np.asarray(style.colour_b)
    return low + (high - low) * field[:, :, None]


def _texture(style: Style, size: int, rng: np.random.Generator) -> Scene:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = style.angle + rng.normal(0.0, 0.03)
    period = style.scale * size * rng.uniform(0.97, 1.03)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    phase = rng.uniform(0.0, 2 * np.pi, 2)
    if style.variant == "stripes":
        field = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + phase[0])
    elif style.variant == "woven":
        cells = np.floor(u / period + phase[0]) + np.floor(v / period + phase[1])
        thread = 3 * 2 * np.pi / period
        field = np.where(cells % 2 == 0, 0.5 + 0.4 * np.sin(thread * v), 0.5 + 0.4 * np.sin(thread * u))
    else:
        noise = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma=period / 4, mode="wrap")
        field = np.clip(0.5 + 0.17 * noise / (noise.std() + 1e-9), 0.0, 1.0)
    image = _blend(style, field) * rng.uniform(0.96, 1.04)
    backdrop = np.full_like(image, 0.04)
    return Scene(image=image, support=np.ones((size, size), dtype=bool), backdrop=backdrop)


def _object(style: Style, size: int, rng: np.random.Generator) -> Scene:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = size / 2 + rng.uniform(-0.03, 0.03, 2) * size
    angle = style.angle + rng.uniform(-np.pi / 18, np.pi / 18)
    px, py = xx - centre[0], yy - centre[1]
    qx = px * np.cos(angle) + py * np.sin(angle)
    qy = -px * np.sin(angle) + py * np.cos(angle)
    radius = style.scale * size
    rho = np.hypot(qx, qy)
    if style.variant == "disc":
        distance = rho - radius
    elif style.variant == "washer":
        distance = np.maximum(rho - radius, 0.36 * radius - rho)
    else:
        normals = (0.0, np.pi / 3, 2 * np.pi / 3)
        hexagon = np.max([np.abs(qx * np.cos(a) + qy * np.sin(a)) for a in normals], axis=0) - 0.9 * radius
        distance = np.maximum(hexagon, 0.36 * radius - rho)
    coverage = np.clip(0.5 - distance, 0.0, 1.0)[:, :, None]
    gradient = 1.0 + 0.08 * (yy - size / 2) / size
    background = np.asarray(style.colour_a) * gradient[:, :, None]
    shading = 0.86 + 0.1 * np.cos(np.pi * rho / radius) + 0.06 * (qx - qy) / radius
    foreground = np.asarray(style.colour_b) * shading[:, :, None] * rng.uniform(0.97, 1.03)
    image = background * (1.0 - coverage) + foreground * coverage
    support = ndimage.binary_erosion(coverage[:, :, 0] >= 1.0)
    return Scene(image=image, support=support, backdrop=background)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image -> uint8 (rounded, clipped)."""
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
