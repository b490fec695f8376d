"""Coreset samplers: the lazy greedy k-center must equal plain farthest-point sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from defectlab.components.coreset import GreedyCoresetSampler, RandomSampler, coreset_size, greedy_k_center
from defectlab.errors import ConfigError, DataError


def naive_farthest_points(points: np.ndarray, k: int, first: int) -> list[int]:
    """Textbook greedy k-center: each new centre is the row farthest from all centres so far."""
    chosen = [first]
    min_dist = np.full(len(points), np.inf)
    for _ in range(k - 1):
        min_dist = np.minimum(min_dist, ((points - points[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(min_dist)))
    return chosen


@pytest.mark.parametrize("block_size", [1, 7, 32, 150, 4096])
@pytest.mark.parametrize("k", [1, 2, 25, 60])
def test_greedy_k_center_equals_naive(block_size: int, k: int) -> None:
    rng = np.random.default_rng(block_size * 100 + k)
    points = rng.normal(size=(150, 6))
    first = int(rng.integers(150))
    got = greedy_k_center(torch.from_numpy(points), k, first, block_size=block_size)
    assert got.dtype == np.int64
    assert got.tolist() == naive_farthest_points(points, k, first)


def test_greedy_k_center_all_rows_and_many_centres() -> None:
    """k = N, and more than 1024 centres (the centre-chunk loop), with blocks smaller than k."""
    rng = np.random.default_rng(3)
    points = rng.normal(size=(1300, 4))
    got = greedy_k_center(torch.from_numpy(points), 1300, 5, block_size=97)
    assert got.tolist() == naive_farthest_points(points, 1300, 5)
    assert sorted(got.tolist()) == list(range(1300))


def test_greedy_k_center_on_clustered_data_picks_every_cluster() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=50.0, size=(6, 3))
    labels = np.repeat(np.arange(6), 40)
    points = centres[labels] + rng.normal(scale=0.1, size=(240, 3))
    got = greedy_k_center(torch.from_numpy(points), 6, 0, block_size=16)
    assert sorted(labels[got].tolist()) == list(range(6))


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [(1000, 0.01, 10), (1000, 0.1, 100), (10, 0.01, 1), (1, 0.5, 1), (7, 1.0, 7), (300, 1 / 3, 100), (99, 0.999, 99)],
)
def test_coreset_size(n: int, ratio: float, expected: int) -> None:
    assert coreset_size(n, ratio) == expected


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.0001, 2.0, math.nan])
def test_coreset_ratio_outside_unit_interval_is_config_error(ratio: float) -> None:
    with pytest.raises(ConfigError):
        coreset_size(100, ratio)
    with pytest.raises(ConfigError):
        GreedyCoresetSampler(ratio=ratio).select(torch.randn(10, 3))
    with pytest.raises(ConfigError):
        RandomSampler(ratio=ratio).select(torch.randn(10, 3))


@pytest.mark.parametrize("sampler", [GreedyCoresetSampler(0.5), RandomSampler(0.5)])
@pytest.mark.parametrize("bad", [torch.empty(0, 8), torch.empty(0), torch.randn(5)])
def test_empty_or_non_matrix_features_are_data_error(sampler, bad: torch.Tensor) -> None:
    with pytest.raises(DataError):
        sampler.select(bad)


def test_greedy_sampler_without_projection_is_farthest_point_from_the_seeded_start() -> None:
    rng = np.random.default_rng(5)
    features = rng.normal(size=(200, 8)).astype(np.float32)
    sampler = GreedyCoresetSampler(ratio=0.1, projection_dim=64, seed=9)  # 64 >= 8: no projection
    got = sampler.select(torch.from_numpy(features))
    first = int(np.random.default_rng(9).integers(200))
    assert got.tolist() == naive_farthest_points(features.astype(np.float64), 20, first)


def test_greedy_sampler_with_projection() -> None:
    rng = np.random.default_rng(6)
    features = torch.from_numpy(rng.normal(size=(300, 64)).astype(np.float32))
    sampler = GreedyCoresetSampler(ratio=0.05, projection_dim=16, seed=1)
    projected = sampler.project(features)
    assert projected.shape == (300, 16)
    assert torch.equal(projected, sampler.project(features))  # seeded
    # Johnson-Lindenstrauss scaling: squared norms are preserved on average
    ratio = (projected**2).sum(1).mean() / (features**2).sum(1).mean()
    assert 0.7 < float(ratio) < 1.3
    got = sampler.select(features)
    assert len(got) == 15 and len(set(got.tolist())) == 15 and got.dtype == torch.int64
    first = int(np.random.default_rng(1).integers(300))
    assert got.tolist() == naive_farthest_points(projected.double().numpy(), 15, first)
    assert torch.equal(got, sampler.select(features))
    assert not torch.equal(got, GreedyCoresetSampler(0.05, 16, seed=2).select(features))


def test_random_sampler_is_seeded_sorted_and_unique() -> None:
    features = torch.randn(500, 4)
    a = RandomSampler(ratio=0.1, seed=3).select(features)
    assert a.dtype == torch.int64 and len(a) == 50
    assert a.tolist() == sorted(set(a.tolist()))
    assert 0 <= int(a.min()) and int(a.max()) < 500
    assert torch.equal(a, RandomSampler(ratio=0.1, seed=3).select(features))
    assert not torch.equal(a, RandomSampler(ratio=0.1, seed=4).select(features))
    assert RandomSampler(ratio=1.0).select(features).tolist() == list(range(500))
    assert len(RandomSampler(ratio=0.001).select(features)) == 1
