"""DefectRegionModel: learns defect patches from masks; LocalizedStage2 pools with it; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.errors import DataError, NotFittedError
from defectlab.pipelines.cascade import LocalizedStage2
from defectlab.pipelines.localize import DefectRegionModel, anomaly_weighted_embedding


def planted(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 4, 8, 8) features whose channel 0 is raised inside a random 2x2-patch defect; masks at 32 px."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 4, 8, 8, generator=g)
    masks = torch.zeros(n, 32, 32)
    for i in range(n):
        r, c = torch.randint(0, 7, (2,), generator=g).tolist()
        features[i, 0, r : r + 2, c : c + 2] += 4.0
        masks[i, 4 * r : 4 * r + 8, 4 * c : 4 * c + 8] = 1.0
    return features, masks


def test_region_model_finds_the_planted_defect_patches() -> None:
    features, masks = planted(30, seed=0)
    normal = torch.randn(20, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    model = DefectRegionModel(seed=0).fit(features, masks, normal)
    test, test_masks = planted(10, seed=2)
    probabilities = model.probabilities(test)
    inside = test_masks[:, ::4, ::4] > 0
    assert probabilities.shape == (10, 8, 8)
    assert probabilities[inside].mean() > 0.85 and probabilities[~inside].mean() < 0.1
    restored = DefectRegionModel().load_state_arrays(model.state_arrays("r."), "r.")
    torch.testing.assert_close(restored.probabilities(test), probabilities)


def test_localized_stage2_pools_with_the_region_probability_times_the_map() -> None:
    features, masks = planted(12, seed=3)
    region = DefectRegionModel(seed=0).fit(features, masks, torch.randn(6, 4, 8, 8))
    maps = torch.rand(12, 8, 8, generator=torch.Generator().manual_seed(4))
    stage2 = LocalizedStage2(("a", "b"), region=region)
    expected = anomaly_weighted_embedding(features, maps * region.probabilities(features), stage2.quantile)
    np.testing.assert_allclose(stage2.embed(features, maps), expected)
    np.testing.assert_allclose(LocalizedStage2(("a", "b")).embed(features, maps), anomaly_weighted_embedding(features, maps))


def test_region_model_bad_input() -> None:
    features, masks = planted(4, seed=5)
    with pytest.raises(DataError, match="no patch is more than half inside"):
        DefectRegionModel().fit(features, torch.zeros_like(masks), features)
    with pytest.raises(DataError, match="expected"):
        DefectRegionModel().fit(features, masks[:3], features)
    with pytest.raises(DataError, match="do not match"):
        DefectRegionModel().fit(features, masks, torch.zeros(2, 5, 8, 8))
    with pytest.raises(NotFittedError):
        DefectRegionModel().probabilities(features)
