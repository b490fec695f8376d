"""Grad-CAM (Selvaraju et al., 2017) of a classifier's last convolutional feature map.

Each channel of the map returned by ``model.cam_layer()`` is weighted by the spatial mean of the
target logit's gradient; the weighted channels are summed and the positive part is upsampled to
the model's input size and min-max scaled to [0, 1] (``pytorch_grad_cam.GradCAM``), then resized
bilinearly to the image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from defectlab.classifiers.base import ImageClassifier
from defectlab.errors import ConfigError, DataError
from defectlab.explain.overlay import resize_map


def image_shape(images: Sequence[np.ndarray]) -> tuple[int, int]:
    """The (H, W) shared by ``images``, a non-empty sequence of uint8 HxWx3 arrays."""
    if len(images) == 0:
        raise DataError("no images to explain")
    shapes = {np.shape(image) for image in images}
    bad = [image for image in images if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3]
    if bad:
        raise DataError(f"images must be uint8 HxWx3, got {bad[0].dtype} {bad[0].shape}")
    if len(shapes) > 1:
        raise DataError(f"images must share one size to give one map array, got shapes {sorted(shapes)}")
    height, width, _ = shapes.pop()
    return height, width


def target_list(model: ImageClassifier, target_classes: Sequence[int] | None, count: int) -> list[int] | None:
    """``target_classes`` as ints, checked against the image count and the model's classes."""
    if target_classes is None:
        return None
    targets = [int(c) for c in target_classes]
    if len(targets) != count:
        raise DataError(f"got {len(targets)} target classes for {count} images")
    wrong = [c for c in targets if not 0 <= c < model.num_classes]
    if wrong:
        raise ConfigError(f"target class {wrong[0]} is not one of the model's {model.num_classes} classes")
    return targets


def gradcam_maps(
    model: ImageClassifier,
    images: Sequence[np.ndarray],
    target_classes: Sequence[int] | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """(N, H, W) Grad-CAM maps in [0, 1] of same-size uint8 HxWx3 images.

    ``target_classes``: one class per image; None explains each image's predicted class.
    Gradients flow from a grad-requiring input, so a frozen backbone works too; the model runs in
    eval mode, and its training mode, parameters' ``requires_grad`` and ``.grad`` are restored.
    """
    from pytorch_grad_cam import GradCAM  # a slow import (torchvision, ttach): only when used
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    height, width = image_shape(images)
    targets = target_list(model, target_classes, len(images))
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    layer = model.cam_layer()
    was_training = model.training
    saved = [(parameter, parameter.requires_grad, parameter.grad) for parameter in model.parameters()]
    cam = GradCAM(model, [layer])  # hooks the layer, puts the model in eval mode
    maps: list[np.ndarray] = []
    try:
        model.requires_grad_(False)  # gradients reach the hooked map through the input, not the weights
        with torch.enable_grad():
            for start in range(0, len(images), batch_size):
                batch = model.preprocess(images[start : start + batch_size]).requires_grad_(True)
                chosen = None if targets is None else targets[start : start + batch_size]
                outputs = None if chosen is None else [ClassifierOutputTarget(c) for c in chosen]
                maps.extend(cam(batch, outputs))  # None: each image's predicted class
    finally:
        cam.activations_and_grads.release()
        for parameter, requires_grad, grad in saved:
            parameter.requires_grad_(requires_grad)
            parameter.grad = grad
        model.train(was_training)
    return np.stack([np.clip(resize_map(m, height, width), 0.0, 1.0) for m in maps]).astype(np.float32)
