"""Channel statistics and test-time feature standardization against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.components.feature_stats import channel_statistics, match_statistics
from defectlab.errors import DataError


def test_channel_statistics_match_numpy() -> None:
    features = torch.from_numpy(np.random.default_rng(0).normal(2.0, 3.0, (5, 4, 6, 7)).astype(np.float32))
    mean, std = channel_statistics(features)
    flat = features.numpy().transpose(1, 0, 2, 3).reshape(4, -1).astype(np.float64)
    np.testing.assert_allclose(mean.numpy(), flat.mean(1), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), flat.std(1), rtol=1e-5)


def test_matching_maps_one_conditions_statistics_onto_anothers() -> None:
    rng = np.random.default_rng(1)
    reference = torch.from_numpy(rng.normal(0.0, 1.0, (20, 3, 5, 5)).astype(np.float32))
    shifted = reference * torch.tensor([2.0, 0.5, 1.0]).view(1, 3, 1, 1) + torch.tensor([1.0, -3.0, 0.2]).view(1, 3, 1, 1)
    matched = match_statistics(shifted, channel_statistics(shifted), channel_statistics(reference))
    torch.testing.assert_close(matched, reference, rtol=1e-4, atol=1e-4)  # an affine shift per channel is undone exactly


def test_a_constant_channel_does_not_blow_up() -> None:
    features = torch.ones(2, 2, 3, 3)
    out = match_statistics(features, channel_statistics(features), (torch.zeros(2), torch.ones(2)))
    assert bool(torch.isfinite(out).all())


def test_empty_features_are_a_data_error() -> None:
    with pytest.raises(DataError):
        channel_statistics(torch.zeros(0, 3, 2, 2))
