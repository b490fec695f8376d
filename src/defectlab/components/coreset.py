"""Coreset subsampling of a patch-feature memory bank (PatchCore, Roth et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from defectlab.errors import ConfigError, DataError


def coreset_size(n: int, ratio: float) -> int:
    """Number of rows kept for `ratio` of `n` (at least one)."""
    if not 0.0 < ratio <= 1.0:
        raise ConfigError(f"coreset ratio must be in (0, 1], got {ratio}")
    return max(1, min(n, int(round(n * ratio))))


@dataclass
class RandomSampler:
    """Uniform random subset: the cheap baseline."""

    ratio: float = 0.01
    seed: int = 42

    def select(self, features: torch.Tensor, progress: bool = False) -> torch.Tensor:
        n = _check(features)
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(n, size=coreset_size(n, self.ratio), replace=False)
        return torch.from_numpy(np.sort(chosen)).long()


@dataclass
class GreedyCoresetSampler:
    """Greedy k-center coreset on a random projection, as in the PatchCore paper.

    Rows are projected with a seeded Gaussian matrix to `projection_dim` dimensions
    (Johnson-Lindenstrauss), then centres are picked one at a time, each the row farthest
    from all centres so far (see `greedy_k_center` for how this is made fast).
    """

    ratio: float = 0.01
    projection_dim: int = 128
    seed: int = 42

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Seeded random projection to `projection_dim` dims (identity if already smaller)."""
        dim = features.shape[1]
        if self.projection_dim <= 0 or self.projection_dim >= dim:
            return features.float().contiguous()
        gen = torch.Generator().manual_seed(self.seed)
        matrix = torch.randn(dim, self.projection_dim, generator=gen) / np.sqrt(self.projection_dim)
        return (features.float() @ matrix).contiguous()

    def select(self, features: torch.Tensor, progress: bool = False) -> torch.Tensor:
        n = _check(features)
        k = coreset_size(n, self.ratio)
        points = self.project(features)
        first = int(np.random.default_rng(self.seed).integers(n))
        return torch.from_numpy(greedy_k_center(points, k, first, progress=progress))


def greedy_k_center(points: torch.Tensor, k: int, first: int, block_size: int = 4096, progress: bool = False) -> np.ndarray:
    """Indices of `k` greedy farthest-point centres of `points` (N, d), starting at row `first`.

    Exactly the plain algorithm (each new centre is the row farthest from all centres so far),
    evaluated lazily: rows live in blocks, each block remembers an upper bound of its rows'
    distance to the centres and the centres it has not yet seen. Only the block with the
    highest bound is brought up to date (one matrix product against all centres it missed);
    when its refreshed maximum is still the highest bound, that maximum is the next centre.
    Most blocks are refreshed rarely, so the work is a few large matrix products instead of
    one pass over all rows per centre.
    """
    n, dim = points.shape
    with torch.inference_mode():
        points = points.contiguous()
        sq_norms = (points * points).sum(1)
        starts = list(range(0, n, block_size))
        min_sq = torch.full((n,), float("inf"), dtype=points.dtype)
        bound = torch.full((len(starts),), float("inf"), dtype=points.dtype)
        seen = [0] * len(starts)  # centres [0, seen[b]) are folded into block b's distances
        centres = torch.empty(k, dtype=torch.long)
        centre_points = torch.empty(k, dim, dtype=points.dtype)
        centre_sq = torch.empty(k, dtype=points.dtype)

        def add_centre(i: int, row: int) -> None:
            centres[i] = row
            centre_points[i] = points[row]
            centre_sq[i] = sq_norms[row]

        def refresh(b: int, upto: int) -> None:
            lo, hi = starts[b], min(starts[b] + block_size, n)
            for c0 in range(seen[b], upto, 1024):
                c1 = min(c0 + 1024, upto)
                sq = torch.addmm(
                    sq_norms[lo:hi, None] + centre_sq[None, c0:c1], points[lo:hi], centre_points[c0:c1].T, alpha=-2.0
                )
                torch.minimum(min_sq[lo:hi], sq.amin(1).clamp_min_(0.0), out=min_sq[lo:hi])
            seen[b] = upto
            bound[b] = min_sq[lo:hi].max()

        add_centre(0, first)
        for i in tqdm(range(1, k), desc="coreset", unit="centre", disable=None if progress else True, leave=False):
            while True:
                b = int(torch.argmax(bound))
                if seen[b] == i:
                    break
                refresh(b, i)
            lo = starts[b]
            add_centre(i, lo + int(torch.argmax(min_sq[lo : lo + block_size])))
    return centres.numpy()


def _check(features: torch.Tensor) -> int:
    if features.ndim != 2 or len(features) == 0:
        raise DataError(f"coreset needs a non-empty (N, D) feature matrix, got shape {tuple(features.shape)}")
    return len(features)
