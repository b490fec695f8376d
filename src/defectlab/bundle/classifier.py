"""Classifier bundles: a directory with manifest.json (``"kind": "classifier"``) and model.safetensors.

The classifier's payload of the shared manifest (:mod:`defectlab.bundle.manifest`): the model
kind and its constructor config, the backbone, image size, input normalization, class names
and training information. The tensors file holds the whole state dict (backbone included), so loading needs
neither training data nor the original backbone weights file, and no pickle. Writing is atomic
(temp dir + rename).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from defectlab.bundle.manifest import CLASSIFIER_KIND, MANIFEST, new_manifest, read_manifest
from defectlab.classifiers.backbone import BackboneClassifier
from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.registry import classifier_from_config
from defectlab.errors import ConfigError, ModelError
from defectlab.fileio import atomic_write_directory, jsonable

KIND = CLASSIFIER_KIND
TENSORS = "model.safetensors"


@dataclass
class ClassifierBundle:
    """A trained classifier with its class names and provenance."""

    model: ImageClassifier
    class_names: tuple[str, ...]
    training: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def save_classifier_bundle(
    path: str | os.PathLike[str],
    model: ImageClassifier,
    class_names: Sequence[str],
    training_info: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to directory ``path`` atomically (replacing an existing bundle)."""
    if len(class_names) != model.num_classes:
        raise ConfigError(f"{len(class_names)} class names for a model of {model.num_classes} classes")
    manifest = new_manifest(
        KIND,
        model={"kind": model.kind, "config": model.config()},
        backbone=_backbone_info(model),
        image_size=model.image_size,
        normalization=model.normalization(),
        class_names=list(class_names),
        training=training_info or {},
    )
    tensors = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}

    def write(folder: Path) -> None:
        save_file(tensors, str(folder / TENSORS))
        (folder / MANIFEST).write_text(json.dumps(jsonable(manifest), indent=2))

    return atomic_write_directory(Path(path), write)


def load_classifier_bundle(path: str | os.PathLike[str]) -> ClassifierBundle:
    """Load a bundle written by :func:`save_classifier_bundle`; the model is in eval mode."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != KIND:
        raise ModelError(f"{path} is a bundle of kind '{manifest.get('kind')}', not a classifier bundle")
    try:
        kind = manifest["model"]["kind"]
        config = dict(manifest["model"]["config"])
        class_names = tuple(str(name) for name in manifest["class_names"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path / MANIFEST} is incomplete or malformed: {exc!r}") from exc
    try:
        model = classifier_from_config(kind, config)
    except ConfigError as exc:
        raise ModelError(f"{path / MANIFEST} describes no usable classifier: {exc}") from exc
    if len(class_names) != model.num_classes:
        raise ModelError(f"{path / MANIFEST} lists {len(class_names)} class names for {model.num_classes} classes")
    try:
        tensors = load_file(str(path / TENSORS))
    except Exception as exc:  # safetensors raises its own error types for missing or corrupt files
        raise ModelError(f"cannot read {path / TENSORS}: {exc}") from exc
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path / TENSORS} does not fit a {kind} classifier: {str(exc).splitlines()[0]}") from exc
    model.eval()
    return ClassifierBundle(model, class_names, manifest.get("training", {}), manifest)


def _backbone_info(model: ImageClassifier) -> dict[str, Any] | None:
    if not isinstance(model, BackboneClassifier):
        return None
    stage = model.backbone
    return {
        "name": model.backbone_name,
        "weights": model.weights,
        "layers": list(stage.layers),
        "channels": stage.channels,
        "reduction": stage.reduction,
        "frozen": model.backbone_frozen,
    }
