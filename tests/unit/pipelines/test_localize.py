"""Localization helpers: region weights and anomaly-weighted pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.errors import ConfigError, DataError
from defectlab.pipelines.localize import anomaly_weighted_embedding, region_weights


def test_region_weights_keep_the_hot_region() -> None:
    maps = torch.zeros(1, 10, 10)
    maps[0, 2:4, 5:7] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    weights = region_weights(maps, quantile=0.9)
    assert weights.sum().item() == pytest.approx(1.0)
    assert weights[0, 2:4, 5:7].sum().item() == pytest.approx(1.0)  # everything outside is at or below the 90% quantile
    assert weights[0, 3, 6] > weights[0, 2, 5]


def test_flat_map_gives_uniform_weights() -> None:
    weights = region_weights(torch.ones(2, 4, 4))
    assert torch.allclose(weights, torch.full((2, 4, 4), 1 / 16))


def test_weighted_embedding_matches_a_direct_average() -> None:
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 4, 4, generator=g)
    maps = torch.zeros(2, 8, 8)
    maps[0, 0:2, 0:2] = 5.0  # patch (0, 0) after area pooling to 4x4
    maps[1, 6:8, 2:4] = 5.0  # patch (3, 1)
    embedding = anomaly_weighted_embedding(features, maps, quantile=0.9)
    np.testing.assert_allclose(embedding[0, :3], features[0, :, 0, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(embedding[1, :3], features[1, :, 3, 1].numpy(), rtol=1e-5)
    np.testing.assert_allclose(embedding[:, 3:], features.mean(dim=(2, 3)).numpy(), rtol=1e-5)


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        region_weights(torch.ones(1, 2, 2), quantile=1.0)
    with pytest.raises(DataError, match="expected"):
        anomaly_weighted_embedding(torch.ones(2, 3, 4, 4), torch.ones(1, 8, 8))
