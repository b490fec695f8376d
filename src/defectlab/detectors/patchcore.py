"""PatchCore (Roth et al., CVPR 2022): nearest-neighbour distance to a coreset of normal patches."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from defectlab.components.anomaly_map import check_aggregation, image_scores
from defectlab.components.coreset import GreedyCoresetSampler, RandomSampler
from defectlab.components.knn import INDEXES, NearestDistance, NearestNeighbourIndex
from defectlab.detectors.base import Detector, ScoringGraph, check_features
from defectlab.errors import ConfigError, ModelError

SAMPLERS = ("greedy", "random")


@dataclass
class PatchCore(Detector):
    """Memory bank of normal patch features, subsampled by a greedy coreset.

    Patch score = distance to the nearest bank entry. Image score: see
    :func:`defectlab.components.anomaly_map.image_scores` (`aggregation`, `top_k`, `smoothing`);
    with ``aggregation="max"`` optionally reweighted by how isolated the nearest bank entry of the
    worst patch is (eq. 7 of the paper). Scoring only reads the fitted model.
    """

    kind = "patchcore"
    coreset_ratio: float = 0.01
    sampler: str = "greedy"
    projection_dim: int = 128
    index: str = "faiss"
    reweight: bool = False
    num_neighbors: int = 9
    aggregation: str = "topk"
    top_k: int = 10
    smoothing: float = 0.5
    adapt_ratio: float = 0.1  # few-shot adaptation: coreset share of the new images' patches
    seed: int = 42
    num_threads: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown coreset sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.index not in INDEXES:
            raise ConfigError(f"unknown index {self.index!r}; choose one of {', '.join(INDEXES)}")
        check_aggregation(self.aggregation)
        if not 0 < self.adapt_ratio <= 1:
            raise ConfigError(f"adapt_ratio must be in (0, 1], got {self.adapt_ratio}")
        if self.reweight and self.aggregation != "max":
            raise ConfigError("reweight applies to the max patch score: use aggregation='max' with reweight=True")

    def _make_sampler(self, ratio: float | None = None) -> GreedyCoresetSampler | RandomSampler:
        ratio = self.coreset_ratio if ratio is None else ratio
        if self.sampler == "random":
            return RandomSampler(ratio, self.seed)
        return GreedyCoresetSampler(ratio, self.projection_dim, self.seed)

    def fit(self, features: torch.Tensor, progress: bool = False) -> PatchCore:
        check_features(features, "PatchCore.fit")
        patches = _to_patches(features)
        chosen = self._make_sampler().select(patches, progress=progress)
        self.memory_bank_ = patches[chosen].contiguous()
        self._build_index()
        return self

    def adapt(self, features: torch.Tensor) -> PatchCore:
        """A copy whose memory bank also holds a coreset of the patches of `features` (few-shot
        adaptation: k normal images of the new domain), subsampled with this detector's sampler at
        `adapt_ratio` (why a coreset of the shots: ``docs/decisions/patchcore-few-shot-coreset.md``).
        The copy keeps this detector's index and searches only the added rows beside it, so adapting
        costs an index of the new patches, not a rebuild."""
        self.check_fitted()
        check_features(features, "PatchCore.adapt", channels=self.memory_bank_.shape[1])
        patches = _to_patches(features)
        if self.adapt_ratio < 1.0:
            patches = patches[self._make_sampler(self.adapt_ratio).select(patches)]
        adapted = copy.copy(self)
        adapted.memory_bank_ = torch.cat([self.memory_bank_, patches]).contiguous()
        adapted.base_index_ = self._own_indexes()
        adapted.index_ = self._new_index().fit(patches.contiguous())
        return adapted

    def _own_indexes(self) -> tuple[NearestNeighbourIndex, ...]:
        """The indexes that together cover this detector's bank, in bank-row order."""
        return (*getattr(self, "base_index_", ()), self.index_)

    def _search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances (Q, k) ascending to, and bank rows (Q, k) of, each query's k nearest bank entries."""
        dists, rows, offset = [], [], 0
        for index in self._own_indexes():
            dist, row = index.search(queries, min(k, index.size))
            dists.append(dist)
            rows.append(row + offset)
            offset += index.size
        if len(dists) == 1:
            return dists[0], rows[0]
        dist, order = torch.cat(dists, 1).topk(k, dim=1, largest=False)
        return dist, torch.cat(rows, 1).gather(1, order)

    def _nearest(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance (Q,) to and bank row (Q,) of each patch's nearest bank entry."""
        dist, rows = self._search(patches, 1)
        return dist[:, 0], rows[:, 0]

    def _new_index(self) -> NearestNeighbourIndex:
        index_cls = INDEXES[self.index]
        return index_cls(num_threads=self.num_threads) if self.index == "faiss" else index_cls()

    def _build_index(self) -> None:
        """Index the whole memory bank (forgetting how an adapted copy split it)."""
        self.__dict__.pop("base_index_", None)
        self.index_ = self._new_index().fit(self.memory_bank_)

    def score(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_fitted()
        check_features(features, "PatchCore.score", channels=self.memory_bank_.shape[1])
        n, _, h, w = features.shape
        patches = _to_patches(features)
        dist, nearest = self._nearest(patches)
        patch_scores = dist.view(n, h * w)
        scores = image_scores(patch_scores.view(n, h, w), self.aggregation, self.top_k, self.smoothing)
        if self.reweight:
            scores = scores * self._isolation_weights(patches.view(n, h * w, -1), patch_scores, nearest.view(n, -1))
        return scores, patch_scores.view(n, h, w)

    def scoring_graph(self) -> ScoringGraph:
        """Exact nearest-bank distances over the whole memory bank (an adapted copy's added rows
        included) as graph operations; not for ``reweight=True``."""
        self.check_fitted()
        if self.reweight:
            raise ModelError(
                "a patchcore detector with reweight=True cannot be exported: its isolation weights need a "
                "k-nearest search of the bank; refit with reweight off"
            )
        return ScoringGraph(_PatchDistances(self.memory_bank_), self.aggregation, self.top_k, self.smoothing)

    def _isolation_weights(self, patches: torch.Tensor, patch_scores: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
        """Paper eq. 7: 1 - softmax weight of the nearest bank entry among its own neighbours."""
        rows = torch.arange(len(patches))
        worst = patch_scores.argmax(1)
        test_patch = patches[rows, worst]  # (n, C)
        anchor = self.memory_bank_[nearest[rows, worst]]  # (n, C)
        b = min(self.num_neighbors, len(self.memory_bank_))
        _, support = self._search(anchor, b)  # (n, b), support[:, 0] is the anchor itself
        dists = torch.linalg.vector_norm(self.memory_bank_[support] - test_patch[:, None, :], dim=2)
        return 1.0 - torch.softmax(dists, dim=1)[:, 0]

    def state_tensors(self) -> dict[str, torch.Tensor]:
        self.check_fitted()
        return {"memory_bank": self.memory_bank_}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> PatchCore:
        self.memory_bank_ = tensors["memory_bank"].float().contiguous()
        self._build_index()
        return self


class _PatchDistances(nn.Module):
    """Features (N, C, h, w) -> each patch's distance to its nearest bank row (N, h, w)."""

    def __init__(self, bank: torch.Tensor) -> None:
        super().__init__()
        self.nearest = NearestDistance(bank)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, _, h, w = features.shape
        return self.nearest(_to_patches(features)).view(n, h, w)


def _to_patches(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N*h*w, C) contiguous float32."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]).float().contiguous()
