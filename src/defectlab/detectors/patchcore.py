"""PatchCore (Roth et al., CVPR 2022): nearest-neighbour distance to a coreset of normal patches."""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from defectlab.components.anomaly_map import top_k_mean
from defectlab.components.coreset import GreedyCoresetSampler, RandomSampler
from defectlab.components.knn import INDEXES
from defectlab.detectors.base import Detector, check_features
from defectlab.errors import ConfigError

SAMPLERS = ("greedy", "random")
MEMO_SIZE = 8  # feature batches whose nearest-neighbour results a detector remembers
AGGREGATIONS = ("max", "topk")


@dataclass
class PatchCore(Detector):
    """Memory bank of normal patch features, subsampled by a greedy coreset.

    Patch score = distance to the nearest bank entry. Image score = the mean of the `top_k`
    highest patch scores (default; steadier than the max on real data), or the maximum patch
    score, optionally reweighted by how isolated its nearest bank entry is (eq. 7 of the paper).
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
    adapt_ratio: float = 0.1  # few-shot adaptation: coreset share of the new images' patches
    seed: int = 42
    num_threads: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown coreset sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.index not in INDEXES:
            raise ConfigError(f"unknown index {self.index!r}; choose one of {', '.join(INDEXES)}")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
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

        The copy searches only the added rows and takes the minimum with this detector's nearest
        distances, which are memoized per feature batch: scoring one test set after adapting with
        k = 1, 5, 10, ... costs one full search, not one per k. Results are exact.
        """
        self.check_fitted()
        check_features(features, "PatchCore.adapt", channels=self.memory_bank_.shape[1])
        patches = _to_patches(features)
        if self.adapt_ratio < 1.0:
            patches = patches[self._make_sampler(self.adapt_ratio).select(patches)]
        adapted = copy.copy(self)
        adapted.memory_bank_ = torch.cat([self.memory_bank_, patches]).contiguous()
        adapted._build_index()
        adapted.parent_ = self
        adapted.added_index_ = INDEXES[self.index]().fit(patches.contiguous())
        return adapted

    def _nearest(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance (Q,) to and bank row (Q,) of each patch's nearest bank entry, memoized by content."""
        key = hashlib.blake2b(patches.numpy().data, digest_size=16).hexdigest()
        memo: OrderedDict = self.nearest_memo_
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
        parent: PatchCore | None = getattr(self, "parent_", None)
        if parent is None:
            dist, nearest = self.index_.search(patches, 1)
            result = (dist[:, 0], nearest[:, 0])
        else:
            base_dist, base_nearest = parent._nearest(patches)
            added_dist, added_nearest = self.added_index_.search(patches, 1)
            closer = added_dist[:, 0] < base_dist
            result = (
                torch.where(closer, added_dist[:, 0], base_dist),
                torch.where(closer, added_nearest[:, 0] + len(parent.memory_bank_), base_nearest),
            )
        memo[key] = result
        if len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
        return result

    def _build_index(self) -> None:
        """Index the memory bank; forget any adaptation parent and remembered search results."""
        self.__dict__.pop("parent_", None)
        self.__dict__.pop("added_index_", None)
        self.nearest_memo_ = OrderedDict()
        index_cls = INDEXES[self.index]
        self.index_ = index_cls(num_threads=self.num_threads) if self.index == "faiss" else index_cls()
        self.index_.fit(self.memory_bank_)

    def score(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_fitted()
        check_features(features, "PatchCore.score", channels=self.memory_bank_.shape[1])
        n, _, h, w = features.shape
        patches = _to_patches(features)
        dist, nearest = self._nearest(patches)
        patch_scores = dist.view(n, h * w)
        if self.aggregation == "topk":
            image_scores = top_k_mean(patch_scores, self.top_k)
        else:
            image_scores = patch_scores.max(1).values
        if self.reweight:
            image_scores = image_scores * self._isolation_weights(patches.view(n, h * w, -1), patch_scores, nearest.view(n, -1))
        return image_scores, patch_scores.view(n, h, w)

    def _isolation_weights(self, patches: torch.Tensor, patch_scores: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
        """Paper eq. 7: 1 - softmax weight of the nearest bank entry among its own neighbours."""
        rows = torch.arange(len(patches))
        worst = patch_scores.argmax(1)
        test_patch = patches[rows, worst]  # (n, C)
        anchor = self.memory_bank_[nearest[rows, worst]]  # (n, C)
        b = min(self.num_neighbors, len(self.memory_bank_))
        _, support = self.index_.search(anchor, b)  # (n, b), support[:, 0] is the anchor itself
        dists = torch.linalg.vector_norm(self.memory_bank_[support] - test_patch[:, None, :], dim=2)
        return 1.0 - torch.softmax(dists, dim=1)[:, 0]

    def state_tensors(self) -> dict[str, torch.Tensor]:
        self.check_fitted()
        return {"memory_bank": self.memory_bank_}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> PatchCore:
        self.memory_bank_ = tensors["memory_bank"].float().contiguous()
        self._build_index()
        return self


def _to_patches(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N*h*w, C) contiguous float32."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]).float().contiguous()
