"""Run-length encoding of masks as used by Kaggle's Severstal competition.

Pixels are numbered 1..H*W in column-major order (top to bottom, then left to right); the
encoding is a space-separated list of ``start length`` pairs of foreground runs.
"""

from __future__ import annotations

import numpy as np

from defectlab.errors import DataError


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode ``rle`` into a ``uint8`` mask of ``shape`` (H, W) in {0, 1}; "" gives an empty mask."""
    height, width = shape
    total = height * width
    tokens = rle.split()
    if len(tokens) % 2:
        raise DataError(f"run-length string has an odd number of values ({len(tokens)})")
    try:
        pairs = np.asarray(tokens, dtype=np.int64).reshape(-1, 2)
    except ValueError as exc:
        raise DataError(f"run-length string holds a non-integer value: {' '.join(str(exc).split())}") from exc
    starts, lengths = pairs[:, 0] - 1, pairs[:, 1]
    if (starts < 0).any() or (lengths < 0).any() or (starts + lengths > total).any():
        raise DataError(f"run-length string has a run outside a {height}x{width} mask (starts are 1-based)")
    edges = np.zeros(total + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, starts + lengths, -1)
    flat = (np.cumsum(edges[:-1]) > 0).astype(np.uint8)
    return flat.reshape(width, height).T.copy()


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (nonzero = foreground) as a column-major, 1-based run-length string."""
    if mask.ndim != 2:
        raise DataError(f"run-length encoding needs an HxW mask, got shape {mask.shape}")
    flat = np.concatenate([[0], (mask.T.ravel() != 0).astype(np.int8), [0]])
    changes = np.flatnonzero(np.diff(flat)) + 1
    starts, ends = changes[0::2], changes[1::2]
    return " ".join(f"{start} {end - start}" for start, end in zip(starts, ends, strict=True))
