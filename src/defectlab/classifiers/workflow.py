"""Classifier jobs behind the command line: label, split, train, evaluate and save; classify files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.backbones.registry import get_spec
from defectlab.classifiers.backbone import DEFAULT_BACKBONE
from defectlab.classifiers.bundle import ClassifierBundle, save_classifier_bundle
from defectlab.classifiers.labels import check_scheme, label_samples
from defectlab.classifiers.registry import build_classifier, classifier_class
from defectlab.classifiers.splits import load_or_create_stratified_split
from defectlab.classifiers.train import TrainConfig, evaluate_classifier, predict, train_classifier
from defectlab.data.imageio import load_image
from defectlab.data.sample import Sample


@dataclass(frozen=True)
class ClassifierJob:
    """What to train: class scheme, model kind, backbone, input size and training options."""

    scheme: str = "defect_type"
    model: str = "attention"
    backbone: str = DEFAULT_BACKBONE
    weights: str = "default"
    image_size: int = 224
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:  # fail on bad names before any data is read
        check_scheme(self.scheme)
        classifier_class(self.model)
        get_spec(self.backbone)


def default_mode(model: str) -> str:
    """``"head"`` (cached frozen features) for the attention classifier, else ``"finetune"``."""
    return "head" if model == "attention" else "finetune"


def train_classifier_bundle(
    samples: Sequence[Sample],
    job: ClassifierJob,
    out: str | os.PathLike[str],
    split_path: str | os.PathLike[str],
    dataset: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Label ``samples``, split them (stored at ``split_path``), train, evaluate and save a bundle at ``out``.

    Returns the training information written to the bundle (sizes, val/test metrics, history).
    """
    data = label_samples(samples, job.scheme)
    split = load_or_create_stratified_split(split_path, data, job.train.seed)
    train, val, test = data.split(split)
    num_classes = len(data.class_names)
    model = build_classifier(job.model, num_classes, job.image_size, job.backbone, job.weights, job.train.seed)
    result = train_classifier(model, train, val, job.train, progress=progress)
    info = {
        "dataset": dataset or {},
        "scheme": job.scheme,
        "split": {"path": str(Path(split_path).resolve()), "rule": split.rule, "seed": split.seed},
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "dropped": len(samples) - len(data),
        "config": job.train.to_dict(),
        "val": evaluate_classifier(model, val, job.train.batch_size),
        "test": evaluate_classifier(model, test, job.train.batch_size),
        **result.to_dict(),
    }
    save_classifier_bundle(out, model, data.class_names, info)
    return info


def classify_files(bundle: ClassifierBundle, paths: Sequence[Path], batch_size: int = 32) -> list[dict[str, Any]]:
    """Class, confidence and per-class probabilities of each image file, read batch by batch."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        probabilities, _ = predict(bundle.model, [load_image(path) for path in chunk], batch_size)
        for path, probs in zip(chunk, probabilities, strict=True):
            best = int(np.argmax(probs))
            rows.append(
                {
                    "path": str(path),
                    "class": bundle.class_names[best],
                    "confidence": float(probs[best]),
                    "probabilities": dict(zip(bundle.class_names, map(float, probs), strict=True)),
                }
            )
    return rows
