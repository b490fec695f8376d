"""Nearest-neighbour indexes against a brute-force numpy search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.components.knn import INDEXES, FaissFlatIndex, NearestDistance, TorchExactIndex
from defectlab.errors import NotFittedError


def brute_force(bank: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((queries[:, None, :].astype(np.float64) - bank[None, :, :]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, axis=1), idx


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(11)
    bank = torch.from_numpy(rng.normal(size=(400, 24)).astype(np.float32))
    queries = torch.from_numpy(rng.normal(size=(70, 24)).astype(np.float32))
    return bank, queries


@pytest.mark.parametrize(
    "make", [FaissFlatIndex, lambda: FaissFlatIndex(num_threads=1), TorchExactIndex, lambda: TorchExactIndex(chunk=16)]
)
@pytest.mark.parametrize("k", [1, 5])
def test_index_matches_brute_force(make, k: int, data) -> None:
    bank, queries = data
    dist, idx = make().fit(bank).search(queries, k)
    want_d, want_i = brute_force(bank.numpy(), queries.numpy(), k)
    assert dist.shape == idx.shape == (70, k)
    assert idx.dtype == torch.int64
    np.testing.assert_array_equal(idx.numpy(), want_i)
    np.testing.assert_allclose(dist.numpy(), want_d, rtol=1e-4, atol=1e-4)
    assert (np.diff(dist.numpy(), axis=1) >= 0).all()


def test_faiss_and_torch_agree_and_bank_rows_are_their_own_neighbours(data) -> None:
    bank, _ = data
    fd, fi = FaissFlatIndex().fit(bank).search(bank, 3)
    td, ti = TorchExactIndex().fit(bank).search(bank, 3)
    assert torch.equal(fi, ti)
    assert torch.equal(fi[:, 0], torch.arange(len(bank)))
    # both use |q|^2 + |b|^2 - 2 q.b in float32, so a zero distance reads as up to ~sqrt(eps * |q|^2)
    assert torch.allclose(fd, td, atol=5e-3)
    assert float(fd[:, 0].max()) < 1e-2 and float(td[:, 0].max()) < 1e-2


def test_float64_queries_are_accepted(data) -> None:
    bank, queries = data
    d64, i64 = FaissFlatIndex().fit(bank.double()).search(queries.double(), 2)
    d32, i32 = FaissFlatIndex().fit(bank).search(queries, 2)
    assert torch.equal(i64, i32) and torch.allclose(d64.float(), d32)


@pytest.mark.parametrize("cls", [FaissFlatIndex, TorchExactIndex])
def test_search_before_fit_is_not_fitted_error(cls) -> None:
    with pytest.raises(NotFittedError):
        cls().search(torch.randn(3, 4), 1)


def test_registry_names() -> None:
    assert INDEXES == {"faiss": FaissFlatIndex, "torch": TorchExactIndex}


def test_nearest_distance_graph_matches_brute_force(data) -> None:
    bank, queries = data
    want, _ = brute_force(bank.numpy(), queries.numpy(), 1)
    got = NearestDistance(bank)(queries)
    assert got.shape == (70,)
    np.testing.assert_allclose(got.numpy(), want[:, 0], rtol=1e-4, atol=1e-4)


def test_nearest_distance_of_a_bank_row_is_zero(data) -> None:
    bank, _ = data
    assert NearestDistance(bank)(bank[:5]).abs().max().item() < 1e-2  # sqrt of float32 cancellation, not negative
