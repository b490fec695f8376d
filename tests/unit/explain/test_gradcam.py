"""Grad-CAM maps match a hand-written Grad-CAM, at image resolution, and leave the model as it was."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import defectlab.explain as explain
from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.baselines import SmallCNN
from defectlab.classifiers.model import AttentionClassifier
from defectlab.errors import ConfigError, DataError
from defectlab.explain.gradcam import gradcam_maps

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def _small_cnn() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(3, image_size=32, widths=(4, 8)).eval()


def _frozen_attention() -> AttentionClassifier:
    torch.manual_seed(0)
    return AttentionClassifier(2, image_size=64, weights="random", freeze_backbone=True).eval()


def _min_max(cam: torch.Tensor) -> torch.Tensor:
    cam = cam - cam.amin(dim=(-2, -1), keepdim=True)
    return cam / (cam.amax(dim=(-2, -1), keepdim=True) + 1e-7)


def reference_gradcam(model: ImageClassifier, images: list[np.ndarray], targets: list[int]) -> np.ndarray:
    """Grad-CAM by hand: hook the map, weights = spatial mean gradient, ReLU(weighted sum), then as
    pytorch_grad_cam: min-max, bilinear upsampling to the input size, min-max again."""
    captured = []
    handle = model.cam_layer().register_forward_hook(lambda _m, _i, out: captured.append(out))
    batch = model.preprocess(images).requires_grad_(True)
    logits = model(batch)
    handle.remove()
    (grads,) = torch.autograd.grad(logits[torch.arange(len(images)), targets].sum(), captured[0])
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * captured[0]).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(_min_max(cam), size=images[0].shape[:2], mode="bilinear", align_corners=False)
    return _min_max(cam[:, 0]).numpy()


def test_maps_are_in_unit_range_at_the_image_size_and_independent_of_batching():
    model = _small_cnn()
    images = _images(3, 48, 40)
    maps = gradcam_maps(model, images)
    assert maps.shape == (3, 48, 40) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert (maps.max(axis=(1, 2)) > 0.9).all()  # min-max scaled per image, then resized
    np.testing.assert_allclose(gradcam_maps(model, images, batch_size=2), maps, atol=1e-6)


@pytest.mark.parametrize("build", [_small_cnn, _frozen_attention], ids=["smallcnn", "attention-frozen"])
def test_maps_equal_a_hand_written_gradcam(build):
    model = build()
    size = model.image_size
    images = _images(3, size, size, seed=1)
    with torch.no_grad():
        predicted = model(model.preprocess(images)).argmax(dim=1).tolist()
    np.testing.assert_allclose(gradcam_maps(model, images), reference_gradcam(model, images, predicted), atol=1e-5)
    others = [(c + 1) % model.num_classes for c in predicted]
    explained = gradcam_maps(model, images, target_classes=others)
    np.testing.assert_allclose(explained, reference_gradcam(model, images, others), atol=1e-5)


def test_frozen_backbone_state_and_training_mode_are_restored():
    model = AttentionClassifier(2, image_size=64, weights="random", freeze_backbone=True)  # training mode
    marker = torch.ones_like(model.final.weight)
    model.final.weight.grad = marker
    maps = gradcam_maps(model, _images(2, 64, 64))
    assert maps.shape == (2, 64, 64) and maps.max() > 0.0
    assert model.training and not model.backbone.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.final.parameters())
    assert model.final.weight.grad is marker
    assert all(p.grad is None for name, p in model.named_parameters() if name != "final.weight")


def test_runs_in_eval_mode_even_under_no_grad():
    model = SmallCNN(2, image_size=32, widths=(4, 8)).train()
    stats = model.body[1].running_mean.clone()
    with torch.no_grad():
        maps = gradcam_maps(model, _images(2, 32, 32))
    assert maps.shape == (2, 32, 32) and maps.max() > 0.0
    assert torch.equal(model.body[1].running_mean, stats)  # batch norm was not updated
    assert model.training


def test_bad_inputs():
    model = _small_cnn()
    with pytest.raises(DataError, match="no images"):
        gradcam_maps(model, [])
    with pytest.raises(DataError, match="one size"):
        gradcam_maps(model, _images(1, 32, 32) + _images(1, 40, 32))
    with pytest.raises(DataError, match="uint8 HxWx3"):
        gradcam_maps(model, [np.zeros((32, 32), np.uint8)])
    with pytest.raises(DataError, match="2 target classes for 1 images"):
        gradcam_maps(model, _images(1, 32, 32), target_classes=[0, 1])
    with pytest.raises(ConfigError, match="target class 3"):
        gradcam_maps(model, _images(1, 32, 32), target_classes=[3])
    with pytest.raises(ConfigError, match="batch size"):
        gradcam_maps(model, _images(1, 32, 32), batch_size=0)


def test_package_exports_lazily():
    assert explain.gradcam_maps is gradcam_maps
    with pytest.raises(AttributeError):
        explain.saliency_maps  # noqa: B018
    code = "import sys, defectlab.explain.overlay; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
