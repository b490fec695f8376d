"""Train a classifier: AdamW + cosine schedule, early stopping on validation macro-F1, seeded.

Two modes. ``"head"`` freezes the backbone of a backbone classifier, computes every image's
feature map once (resize only, no augmentation) and trains the layers after it on those cached
maps: fast. ``"finetune"`` trains every trainable parameter end to end on freshly augmented
images each epoch (see :mod:`defectlab.classifiers.augment`); the small CNN trains this way.

Seeding: the global torch RNG is seeded inside ``torch.random.fork_rng`` (the caller's state is
restored afterwards), the batch order comes from ``numpy.random.default_rng(seed)`` and the
augmentation pipeline is seeded too, so a run is repeatable on the same machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from tqdm.auto import tqdm

from defectlab.classifiers.augment import train_pipeline
from defectlab.classifiers.backbone import BackboneClassifier
from defectlab.classifiers.base import ImageClassifier
from defectlab.classifiers.confounders import independence_weights
from defectlab.classifiers.labels import LabelledSamples
from defectlab.classifiers.losses import LOSSES, make_loss
from defectlab.errors import ConfigError, DataError

MODES = ("head", "finetune")
"""Training modes accepted by :class:`TrainConfig`."""

Batch = Callable[[np.ndarray], torch.Tensor]
"""Model inputs for the given sample indices."""


@dataclass(frozen=True)
class TrainConfig:
    """Training options (checked on creation)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "focal"
    patience: int = 5
    seed: int = 42
    mode: str = "head"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss '{self.loss}'; valid: {', '.join(LOSSES)}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown training mode '{self.mode}'; valid: {', '.join(MODES)}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0, got lr={self.lr}, weight_decay={self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """Per-epoch history (train_loss, val_loss, val_accuracy, val_macro_f1, val_selection, lr) and the kept epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_macro_f1: float = 0.0
    best_val_selection: float = 0.0
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classification_scores(labels: Sequence[int] | np.ndarray, predictions: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (over the classes present in labels or predictions)."""
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", zero_division=0)),
    }


def train_classifier(
    model: ImageClassifier,
    train: LabelledSamples,
    val: LabelledSamples,
    config: TrainConfig,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place; it ends in eval mode holding the weights of the best validation epoch."""
    _check_inputs(model, train, val, config)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        forward, train_inputs, val_inputs = _feeds(model, train, val, config, progress)
        result = _fit(model, forward, train_inputs, val_inputs, train.labels, val.labels, config, progress)
    result.seconds = time.perf_counter() - started
    return result


def train_on_maps(
    model: BackboneClassifier,
    train_maps: torch.Tensor,
    train_labels: np.ndarray,
    val_maps: torch.Tensor,
    val_labels: np.ndarray,
    config: TrainConfig,
    progress: bool = True,
) -> TrainResult:
    """Head-mode training on precomputed frozen-backbone maps (:func:`feature_maps`), e.g. shared by many models."""
    if len(train_maps) != len(train_labels) or len(val_maps) != len(val_labels):
        raise DataError("feature maps and labels differ in length")
    started = time.perf_counter()
    model.set_backbone_frozen(True)
    model.fit_standardizer(train_maps)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        result = _fit(
            model,
            model.forward_features_map,
            lambda idx: train_maps[idx],
            lambda idx: val_maps[idx],
            train_labels,
            val_labels,
            config,
            progress,
        )
    result.seconds = time.perf_counter() - started
    return result


def predict_maps(model: BackboneClassifier, maps: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, K) from precomputed backbone maps, in eval mode."""
    model.eval()
    with torch.inference_mode():
        logits = [model.forward_features_map(maps[i : i + batch_size]) for i in range(0, len(maps), batch_size)]
    return torch.softmax(torch.cat(logits), dim=1).numpy()


def predict(
    model: ImageClassifier, images: Sequence[np.ndarray], batch_size: int = 32, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, K), embeddings (N, D)) of uint8 HxWx3 images, in eval mode."""
    if len(images) == 0:
        raise DataError("no images to classify")
    model.eval()
    probabilities, embeddings = [], []
    with torch.inference_mode():
        for batch in _image_batches(model, images, batch_size, "classify", progress):
            embedding = model.embed(batch)
            probabilities.append(torch.softmax(model.logits(embedding), dim=1))
            embeddings.append(embedding)
    return torch.cat(probabilities).numpy(), torch.cat(embeddings).numpy()


def evaluate_classifier(model: ImageClassifier, data: LabelledSamples, batch_size: int = 32) -> dict[str, float]:
    """Accuracy and macro-F1 of ``model`` on ``data``."""
    probabilities, _ = predict(model, data.images, batch_size)
    return classification_scores(data.labels, probabilities.argmax(axis=1))


def _check_inputs(model: ImageClassifier, train: LabelledSamples, val: LabelledSamples, config: TrainConfig) -> None:
    for name, part in (("training", train), ("validation", val)):
        if len(part) == 0:
            raise DataError(f"the {name} set is empty")
        if len(part.class_names) != model.num_classes:
            raise ConfigError(f"the {name} set has {len(part.class_names)} classes but the model predicts {model.num_classes}")
    if config.mode == "head" and not isinstance(model, BackboneClassifier):
        raise ConfigError(f"mode 'head' needs a pretrained backbone; train '{model.kind}' with mode 'finetune'")


def _feeds(
    model: ImageClassifier, train: LabelledSamples, val: LabelledSamples, config: TrainConfig, progress: bool
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Batch, Batch]:
    """(forward, train inputs, val inputs) for the training mode."""
    if config.mode == "head":
        assert isinstance(model, BackboneClassifier)  # checked by _check_inputs
        model.set_backbone_frozen(True)
        train_maps = feature_maps(model, train.images, config.batch_size, progress)
        val_maps = feature_maps(model, val.images, config.batch_size, progress)
        model.fit_standardizer(train_maps)
        return model.forward_features_map, lambda idx: train_maps[idx], lambda idx: val_maps[idx]
    if isinstance(model, BackboneClassifier):  # map statistics of the pretrained backbone, kept while fine-tuning
        model.fit_standardizer(feature_maps(model, train.images, config.batch_size, progress))
    augment = train_pipeline(model.image_size, config.seed)
    train_images, val_images = train.images, val.images
    return (
        model,
        lambda idx: model.preprocess([train_images[i] for i in idx], augment),
        lambda idx: model.preprocess([val_images[i] for i in idx]),
    )


def feature_maps(
    model: BackboneClassifier, images: Sequence[np.ndarray], batch_size: int = 32, progress: bool = False
) -> torch.Tensor:
    """Frozen backbone feature maps (N, C, h, w) of uint8 images (resize only), usable as training inputs."""
    model.eval()
    with torch.no_grad():  # not inference_mode: the cached maps feed autograd later
        return torch.cat([model.features(x) for x in _image_batches(model, images, batch_size, "features", progress)])


def _image_batches(
    model: ImageClassifier, images: Sequence[np.ndarray], batch_size: int, desc: str, progress: bool
) -> Iterator[torch.Tensor]:
    """Preprocessed (resize only) batches of ``images``, with a progress bar."""
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", disable=not progress, leave=False):
        yield model.preprocess(images[start : start + batch_size])


def _fit(
    model: ImageClassifier,
    forward: Callable[[torch.Tensor], torch.Tensor],
    train_inputs: Batch,
    val_inputs: Batch,
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    config: TrainConfig,
    progress: bool,
) -> TrainResult:
    loss_fn = make_loss(config.loss)
    targets = torch.from_numpy(train_labels)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        return loss_fn(forward(train_inputs(idx)), targets[idx])

    def order(rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(train_labels))

    return fit_loop(model, batch_loss, order, forward, val_inputs, val_labels, config, progress)


BatchLoss = Callable[[np.ndarray], torch.Tensor]
"""The training loss of the samples with the given indices."""

EpochOrder = Callable[[np.random.Generator], np.ndarray]
"""The sample indices of one epoch, in order (a permutation, or a resampling)."""


def fit_loop(
    model: ImageClassifier,
    batch_loss: BatchLoss,
    epoch_order: EpochOrder,
    forward: Callable[[torch.Tensor], torch.Tensor],
    val_inputs: Batch,
    val_labels: np.ndarray,
    config: TrainConfig,
    progress: bool,
    val_groups: np.ndarray | None = None,
) -> TrainResult:
    """The shared loop: AdamW + cosine schedule, validation each epoch, early stopping, best weights kept.

    The kept epoch maximizes validation macro-F1, or, with ``val_groups`` (e.g. the nuisance
    stratum of each validation image), the validation accuracy under inverse-probability
    weights P(y) P(g) / P(y, g) (class and group made independent), so a model that leans on
    the nuisance is not the one selected. Call inside a seeded
    ``torch.random.fork_rng``; the epoch order draws from ``numpy.random.default_rng(config.seed)``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    loss_fn = make_loss(config.loss)
    rng = np.random.default_rng(config.seed)
    result = TrainResult(best_val_selection=-1.0)
    best_state: dict[str, torch.Tensor] = {}
    since_best = 0
    bar = tqdm(range(1, config.epochs + 1), desc=f"train {model.kind}", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        losses, seen = [], 0
        for idx in _batches(epoch_order(rng), config.batch_size):
            loss = batch_loss(idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item() * len(idx))
            seen += len(idx)
        lr = schedule.get_last_lr()[0]
        schedule.step()
        record = {"epoch": epoch, "train_loss": sum(losses) / seen, "lr": lr}
        record.update(_validate(model, forward, val_inputs, val_labels, loss_fn, config.batch_size, val_groups))
        result.history.append(record)
        bar.set_postfix(
            loss=f"{record['train_loss']:.3f}",
            val_acc=f"{record['val_accuracy']:.3f}",
            val_f1=f"{record['val_macro_f1']:.3f}",
        )
        if record["val_selection"] > result.best_val_selection:
            result.best_epoch, result.best_val_selection, since_best = epoch, record["val_selection"], 0
            result.best_val_macro_f1 = record["val_macro_f1"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
            if since_best >= config.patience:
                result.stopped_early = epoch < config.epochs
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return result


def _batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Index batches of ``order``; a trailing batch of one joins the previous one (batch norm needs two)."""
    starts = list(range(0, len(order), batch_size))
    if len(starts) > 1 and len(order) - starts[-1] == 1:
        starts.pop()
    ends = starts[1:] + [len(order)]
    for start, end in zip(starts, ends, strict=True):
        yield order[start:end]


def _validate(
    model: ImageClassifier,
    forward: Callable[[torch.Tensor], torch.Tensor],
    val_inputs: Batch,
    val_labels: np.ndarray,
    loss_fn: nn.Module,
    batch_size: int,
    val_groups: np.ndarray | None = None,
) -> dict[str, float]:
    """Validation loss, accuracy, macro-F1 and the selection score (model in eval mode)."""
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([forward(val_inputs(idx)) for idx in _batches(np.arange(len(val_labels)), batch_size)])
        loss = float(loss_fn(logits, torch.from_numpy(val_labels)))
    predictions = logits.argmax(dim=1).numpy()
    scores = classification_scores(val_labels, predictions)
    selection = scores["macro_f1"] if val_groups is None else _independence_accuracy(val_labels, predictions, val_groups)
    return {
        "val_loss": loss,
        "val_accuracy": scores["accuracy"],
        "val_macro_f1": scores["macro_f1"],
        "val_selection": selection,
    }


def _independence_accuracy(labels: np.ndarray, predictions: np.ndarray, groups: np.ndarray) -> float:
    """Accuracy weighted by P(y) P(g) / P(y, g): as if class and group were independent."""
    weights = independence_weights(labels, groups)
    return float(np.average(predictions == labels, weights=weights))
