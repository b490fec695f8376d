"""Classifier jobs behind the command line: label, split, train, evaluate and save;
evaluate a saved bundle on the test part of its stored split."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from defectlab.backbones.registry import get_spec
from defectlab.bundle.classifier import ClassifierBundle, save_classifier_bundle
from defectlab.classifiers.backbone import DEFAULT_BACKBONE
from defectlab.classifiers.causal import CausalClassifier
from defectlab.classifiers.causal_train import CAUSAL_PARTS, CausalConfig, find_strata, fit_causal_model
from defectlab.classifiers.labels import LabelledSamples, check_scheme, label_samples
from defectlab.classifiers.registry import build_classifier, classifier_class
from defectlab.classifiers.splits import load_or_create_stratified_split, stratified_rule
from defectlab.classifiers.train import (
    TrainConfig,
    TrainResult,
    evaluate_classifier,
    feature_maps,
    predict,
    train_classifier,
)
from defectlab.data.sample import Sample
from defectlab.data.splits import Split, category_name
from defectlab.errors import ConfigError, DataError, ModelError
from defectlab.metrics.classification import classification_metrics


@dataclass(frozen=True)
class ClassifierJob:
    """What to train: class scheme, model kind, backbone, input size and training options."""

    scheme: str = "defect_type"
    model: str = "attention"
    backbone: str = DEFAULT_BACKBONE
    weights: str = "default"
    image_size: int = 224
    train: TrainConfig = field(default_factory=TrainConfig)
    strata: str = "discovered"
    parts: tuple[str, ...] = ("backdoor",)
    causal: CausalConfig = field(default_factory=CausalConfig)

    def __post_init__(self) -> None:  # fail on bad names before any data is read
        check_scheme(self.scheme)
        classifier_class(self.model)
        get_spec(self.backbone)
        bad = sorted(set(self.parts) - set(CAUSAL_PARTS))
        if bad or not self.parts:
            raise ConfigError(f"causal parts must be some of {', '.join(CAUSAL_PARTS)}, got {list(self.parts)}")
        if self.model == "causal" and self.train.mode != "head":
            raise ConfigError("the causal classifier trains its head on cached backbone maps: use mode 'head'")


def default_mode(model: str) -> str:
    """``"head"`` (cached frozen features) for the attention and causal classifiers, else ``"finetune"``."""
    return "head" if model in ("attention", "causal") else "finetune"


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
    extra: dict[str, Any] = {}
    if job.model == "causal":
        model, result, extra = _train_causal(job, train, val, num_classes, progress)
    else:
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
        **extra,
        **result.to_dict(),
    }
    save_classifier_bundle(out, model, data.class_names, info)
    return info


def _train_causal(
    job: ClassifierJob, train: LabelledSamples, val: LabelledSamples, num_classes: int, progress: bool
) -> tuple[CausalClassifier, TrainResult, dict[str, Any]]:
    """The causal classifier: backbone maps once, strata (discovered or given), dictionary, views, head."""
    seed = job.train.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = CausalClassifier(num_classes, job.image_size, job.backbone, job.weights)

    def maps_of(images: Sequence[np.ndarray]) -> torch.Tensor:
        return feature_maps(probe, images, job.train.batch_size, progress)

    train_maps, val_maps = maps_of(train.images), maps_of(val.images)
    strata = find_strata(job.strata, train, val, train_maps, val_maps, seed)
    switches = {part: part in job.parts for part in CAUSAL_PARTS}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CausalClassifier(num_classes, job.image_size, job.backbone, job.weights, num_strata=len(strata.names), **switches)
    result = fit_causal_model(model, train, val, train_maps, val_maps, strata, job.train, job.causal, maps_of, progress)
    extra = {"strata": {"source": strata.source, "names": list(strata.names)}, "causal": job.causal.to_dict()}
    return model, result, extra


def stored_split_path(bundle: ClassifierBundle, bundle_dir: str | os.PathLike[str]) -> Path:
    """The split JSON ``train-classifier`` wrote for the bundle at ``bundle_dir``.

    The path recorded in the bundle if that file exists, else ``<bundle>.split.json`` beside the
    bundle (where ``train-classifier`` puts it, so a moved pair still works).
    """
    bundle_dir = Path(bundle_dir)
    recorded = (bundle.training.get("split") or {}).get("path")
    candidates = [Path(recorded)] if recorded else []
    candidates.append(bundle_dir.with_name(f"{bundle_dir.name}.split.json"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise ConfigError(f"split file of {bundle_dir} not found at {tried}: pass --split (the JSON train-classifier wrote)")


def evaluate_classifier_bundle(
    bundle: ClassifierBundle, samples: Sequence[Sample], split_path: str | os.PathLike[str], batch_size: int = 32
) -> dict[str, Any]:
    """Metrics of ``bundle`` on the test part of the stored split at ``split_path`` (never re-drawn).

    Returns JSON-ready ``scheme``, ``classes``, ``n_test``, the
    :func:`~defectlab.metrics.classification.classification_metrics`, ``per_class`` counts
    (``n`` true, ``predicted``, ``correct``) and ``confusion_matrix`` (rows: true class, columns:
    predicted class, in ``classes`` order).
    """
    scheme = bundle.training.get("scheme")
    if not isinstance(scheme, str):
        raise ModelError("the classifier bundle records no class scheme (training.scheme)")
    data = label_samples(samples, scheme)
    if data.class_names != bundle.class_names:
        raise DataError(
            f"the data has classes {', '.join(data.class_names)} but the bundle predicts "
            f"{', '.join(bundle.class_names)}: evaluate on the dataset it was trained on"
        )
    split = Split.load(split_path)
    if split.rule != stratified_rule(scheme) or split.category != category_name(data.samples):
        raise DataError(
            f"split file {split_path} (rule {split.rule!r}, category {split.category!r}) is not a "
            f"{stratified_rule(scheme)!r} split of category {category_name(data.samples)!r}: "
            "pass the split train-classifier wrote for this bundle and data"
        )
    test = data.split(split)[2]
    if len(test) == 0:
        raise DataError(f"split file {split_path} has no test samples")
    probabilities, _ = predict(bundle.model, test.images, batch_size)
    num_classes = len(bundle.class_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (test.labels, probabilities.argmax(axis=1)), 1)
    per_class = {
        name: {"n": int(confusion[k].sum()), "predicted": int(confusion[:, k].sum()), "correct": int(confusion[k, k])}
        for k, name in enumerate(bundle.class_names)
    }
    return {
        "scheme": scheme,
        "classes": list(bundle.class_names),
        "n_test": len(test),
        **classification_metrics(test.labels, probabilities),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }
