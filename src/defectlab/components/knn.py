"""Nearest-neighbour indexes over a memory bank, injected into PatchCore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import faiss
import numpy as np
import torch
from torch import nn

from defectlab.errors import NotFittedError


class NearestNeighbourIndex(Protocol):
    """Exact or approximate k-nearest-neighbour search returning Euclidean distances."""

    def fit(self, bank: torch.Tensor) -> NearestNeighbourIndex:
        """Index the rows of `bank` (M, D)."""
        ...

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances (Q, k) ascending and bank row indices (Q, k) of the k nearest rows."""
        ...

    @property
    def size(self) -> int:
        """Number of indexed rows (0 before fit)."""
        ...


@dataclass
class FaissFlatIndex:
    """Exact L2 search with faiss (the default)."""

    num_threads: int | None = None
    _index: faiss.IndexFlatL2 | None = field(default=None, init=False, repr=False)

    def fit(self, bank: torch.Tensor) -> FaissFlatIndex:
        self._index = faiss.IndexFlatL2(bank.shape[1])
        self._index.add(np.ascontiguousarray(bank.numpy(), dtype=np.float32))
        return self

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._index is None:
            raise NotFittedError("FaissFlatIndex.search called before fit")
        if self.num_threads:
            faiss.omp_set_num_threads(self.num_threads)
        sq, idx = self._index.search(np.ascontiguousarray(queries.numpy(), dtype=np.float32), k)
        return torch.from_numpy(np.sqrt(np.maximum(sq, 0.0))), torch.from_numpy(idx).long()

    @property
    def size(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)


@dataclass
class TorchExactIndex:
    """Exact L2 search with plain torch matrix products (no faiss; the reference)."""

    chunk: int = 4096
    _bank: torch.Tensor | None = field(default=None, init=False, repr=False)

    def fit(self, bank: torch.Tensor) -> TorchExactIndex:
        self._bank = bank.float().contiguous()
        return self

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._bank is None:
            raise NotFittedError("TorchExactIndex.search called before fit")
        dists, idxs = [], []
        for start in range(0, len(queries), self.chunk):
            d = torch.cdist(queries[start : start + self.chunk].float(), self._bank)
            values, indices = d.topk(k, dim=1, largest=False)
            dists.append(values)
            idxs.append(indices)
        return torch.cat(dists), torch.cat(idxs)

    @property
    def size(self) -> int:
        return 0 if self._bank is None else len(self._bank)


class NearestDistance(nn.Module):
    """Euclidean distance (Q,) of each query row (Q, D) to its nearest row of a fixed bank (M, D), as
    matrix operations: sqrt(|q|^2 + min_j(|b_j|^2 - 2 q.b_j)), one matrix product with a bias and a
    row minimum (the exact search an exported graph runs, where no index library is present)."""

    def __init__(self, bank: torch.Tensor) -> None:
        super().__init__()
        bank = bank.float()
        self.register_buffer("weight", (-2.0 * bank.T).contiguous())
        self.register_buffer("bias", bank.pow(2).sum(1))

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        nearest = torch.addmm(self.bias, queries, self.weight).amin(1) + queries.pow(2).sum(1)
        return nearest.clamp_min(0.0).sqrt()


INDEXES = {"faiss": FaissFlatIndex, "torch": TorchExactIndex}
