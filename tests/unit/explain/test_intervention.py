"""Intervention attribution finds exactly the region a toy model reads; mask_share on hand-made maps."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.baselines import SmallCNN
from defectlab.errors import ConfigError, DataError
from defectlab.explain.intervention import counterfactual, intervention_maps, mask_share

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32
WEIGHT = 40.0


class TopLeftBrightness(ImageClassifier):
    """Two classes: logit 0 is 0, logit 1 is WEIGHT x the mean brightness (0..1) of the top-left quadrant."""

    kind: ClassVar[str] = "toy"

    def __init__(self) -> None:
        super().__init__(2, SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        self.final = nn.Linear(1, 2)
        with torch.no_grad():
            self.final.weight.copy_(torch.tensor([[0.0], [WEIGHT]]))
            self.final.bias.zero_()

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        half = images.shape[-1] // 2
        return images[:, :, :half, :half].mean(dim=(1, 2, 3))[:, None]


def _dots() -> np.ndarray:
    """Black, with single white pixels every 4 px in the top-left quadrant (4 per 8 px cell)."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[1 : SIZE // 2 : 4, 1 : SIZE // 2 : 4] = 255
    return image


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("background", ["blur", "mean"])
def test_attribution_lies_only_in_the_quadrant_the_model_reads(background):
    image = _dots()
    maps = intervention_maps(TopLeftBrightness(), [image], grid=4, background=background)
    assert maps.shape == (1, SIZE, SIZE) and maps.dtype == np.float32
    quadrant = np.zeros((SIZE, SIZE), bool)
    quadrant[: SIZE // 2, : SIZE // 2] = True
    assert (maps[0][quadrant] > 0.01).all()
    np.testing.assert_allclose(maps[0][~quadrant], 0.0, atol=1e-6)
    # Each quadrant cell holds 4 of the 16 dots: replacing it leaves 12 (blur) or 12 dots plus the fill colour.
    fill = counterfactual(image, 4, background)[0, 0, 0] / 255.0
    brightness = 16 / 256
    expected = _sigmoid(WEIGHT * brightness) - _sigmoid(WEIGHT * (brightness * 12 / 16 + fill * 64 / 256))
    np.testing.assert_allclose(maps[0][quadrant], expected, rtol=1e-4)
    assert mask_share(maps[0], quadrant) == pytest.approx(1.0)


def test_target_class_batching_and_default_prediction():
    model = TopLeftBrightness()
    images = [_dots(), _dots()[::-1].copy()]  # the second has its dots bottom-left: nothing to explain
    predicted = intervention_maps(model, images, grid=4)
    np.testing.assert_allclose(predicted, intervention_maps(model, images, target_classes=[1, 0], grid=4), atol=1e-7)
    np.testing.assert_allclose(intervention_maps(model, images, grid=4, batch_size=5), predicted, atol=1e-6)
    against = intervention_maps(model, images, target_classes=[0, 0], grid=4)
    np.testing.assert_allclose(against[0], -predicted[0], atol=1e-6)  # evidence for 1 is evidence against 0
    np.testing.assert_allclose(predicted[1], 0.0, atol=1e-6)


def test_uneven_grid_covers_the_image_and_the_model_mode_is_restored():
    torch.manual_seed(0)
    model = SmallCNN(2, image_size=32, widths=(4,)).train()
    image = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    maps = intervention_maps(model, [image], grid=3)
    assert maps.shape == (1, 30, 40) and np.isfinite(maps).all()
    assert len(np.unique(maps[0])) == 9
    assert model.training


def test_blur_background_removes_small_structure_and_keeps_edges():
    assert counterfactual(_dots(), 4).max() == 0
    halves = np.zeros((SIZE, SIZE, 3), np.uint8)
    halves[:, SIZE // 2 :] = 200
    np.testing.assert_array_equal(counterfactual(halves, 4), halves)
    np.testing.assert_array_equal(counterfactual(halves, 4, "mean"), np.full_like(halves, 100))


def test_bad_inputs():
    model = TopLeftBrightness()
    with pytest.raises(DataError, match="no images"):
        intervention_maps(model, [])
    for grid in (0, SIZE + 1):
        with pytest.raises(ConfigError, match="grid"):
            intervention_maps(model, [_dots()], grid=grid)
    with pytest.raises(ConfigError, match="background"):
        intervention_maps(model, [_dots()], background="noise")
    with pytest.raises(ConfigError, match="batch size"):
        intervention_maps(model, [_dots()], batch_size=0)
    with pytest.raises(DataError, match="target classes"):
        intervention_maps(model, [_dots()], target_classes=[0, 1])


def test_mask_share_on_hand_made_maps():
    attribution = np.array([[1.0, -1.0], [3.0, 0.0]])
    assert mask_share(attribution, np.array([[1, 0], [0, 0]])) == pytest.approx(0.25)
    assert mask_share(attribution, np.array([[0, 255], [255, 255]], np.uint8)) == pytest.approx(0.75)
    assert mask_share(attribution, np.array([[False, True], [False, True]])) == 0.0  # only negative mass inside
    assert math.isnan(mask_share(attribution, np.zeros((2, 2))))
    assert math.isnan(mask_share(-np.abs(attribution), np.ones((2, 2))))
    with pytest.raises(DataError, match="one shape"):
        mask_share(attribution, np.ones((2, 3)))
    with pytest.raises(DataError, match="non-finite"):
        mask_share(np.array([[np.nan, 1.0]]), np.ones((1, 2)))
