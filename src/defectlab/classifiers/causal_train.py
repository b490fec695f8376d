"""Training the causal classifier on cached backbone feature maps.

Inputs are the frozen backbone's maps of the training images, their stratum (given nuisance
label or discovered cluster), optionally precomputed maps of do(nuisance) views of each image
(the shift suite's, :func:`counterfactual_views`, or the caller's own :class:`Views`, e.g. exact
counterfactuals of a nuisance it applied itself), and the validation maps. Each switch of the
model adds its term:

- backdoor: observational logits ``P(Y | X, z)`` and sampling with inverse-probability weights
  P(y) P(z) / P(y, z), under which class and stratum are independent (the weighting form of
  the adjustment; the class prior is kept);
- counterfactual: the loss on one do-view per image (an image-space view when given, in its own
  stratum when known, else the feature-space stratum swap ``f - p_z + p_z'``) plus
  ``consistency_weight`` x symmetric KL between the interventional predictions of the image and
  its view;
- reweight: ``invariance_weight`` x the class-conditional squared distance between strata of
  the reweighted pooled features, relative to their mean squared norm.

Early stopping, optimizer and schedule are those of :func:`defectlab.classifiers.train.fit_loop`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from defectlab.classifiers.causal import CausalClassifier
from defectlab.classifiers.confounders import build_dictionary, discover_strata, encode_strata, independence_weights
from defectlab.classifiers.labels import LabelledSamples
from defectlab.classifiers.losses import make_loss
from defectlab.classifiers.train import TrainConfig, TrainResult, fit_loop
from defectlab.errors import ConfigError, DataError
from defectlab.shift.corrupt import apply_corruption
from defectlab.shift.materialize import image_seed

CAUSAL_PARTS = ("backdoor", "counterfactual", "reweight")
"""The switchable parts of :class:`~defectlab.classifiers.causal.CausalClassifier`."""

VIEW_CORRUPTIONS = ("brightness", "contrast", "gamma", "gaussian_blur", "gaussian_noise", "vignetting", "style")
"""Nuisances the counterfactual views set by default: lighting, optics, sensor noise, texture/style."""


@dataclass(frozen=True)
class CausalConfig:
    """Options of the causal parts (checked on creation)."""

    consistency_weight: float = 1.0
    invariance_weight: float = 1.0
    views_per_image: int = 2
    view_corruptions: tuple[str, ...] = VIEW_CORRUPTIONS
    view_severity: int = 3

    def __post_init__(self) -> None:
        if self.consistency_weight < 0 or self.invariance_weight < 0:
            raise ConfigError("consistency and invariance weights must be >= 0")
        if self.views_per_image < 0:
            raise ConfigError(f"views_per_image must be >= 0, got {self.views_per_image}")
        if self.views_per_image and not self.view_corruptions:
            raise ConfigError("counterfactual views need at least one corruption")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counterfactual_views(
    images: Sequence[np.ndarray], ids: Sequence[str], config: CausalConfig, seed: int = 42
) -> list[list[np.ndarray]]:
    """``views_per_image`` do(nuisance) versions of each image: each a corruption from
    ``view_corruptions`` drawn per (seed, image id, view), at ``view_severity``, seeded the same way."""
    views = []
    for image, image_id in zip(images, ids, strict=True):
        rng = np.random.default_rng(image_seed(seed, "views", image_id))
        names = rng.choice(len(config.view_corruptions), size=config.views_per_image)
        views.append(
            [
                apply_corruption(
                    image, None, config.view_corruptions[n], config.view_severity, image_seed(seed, str(v), image_id)
                )[0]
                for v, n in enumerate(names)
            ]
        )
    return views


@dataclass(frozen=True)
class Views:
    """do(nuisance) images of each training image, made by the caller in place of :func:`counterfactual_views`.

    ``images[i]``: the same number of views of training image i (e.g. the image with an applied
    nuisance withheld and applied); ``strata`` (N, V): the stratum each view is in, when known
    (None: its image's stratum).
    """

    images: list[list[np.ndarray]]
    strata: np.ndarray | None = None


@dataclass(frozen=True)
class Strata:
    """Nuisance stratum of each training and validation image, the stratum names and their source."""

    train: np.ndarray
    val: np.ndarray
    names: tuple[str, ...]
    source: str


def find_strata(
    source: str, train: LabelledSamples, val: LabelledSamples, train_maps: torch.Tensor, val_maps: torch.Tensor, seed: int = 42
) -> Strata:
    """Strata ``"discovered"`` by k-means on the pooled train + val maps (no labels used), or given by the
    sample metadata key ``source`` (e.g. ``cell_type``)."""
    samples = train.samples + val.samples
    if source == "discovered":
        pooled = torch.cat([train_maps, val_maps]).mean(dim=(2, 3)).numpy()
        codes, names = discover_strata(pooled, seed=seed)
    else:
        missing = [s.id for s in samples if source not in s.metadata]
        if missing:
            raise DataError(f"nuisance '{source}' is not recorded for image '{missing[0]}': use 'discovered' strata")
        codes, names = encode_strata([str(s.metadata[source]) for s in samples])
    return Strata(codes[: len(train)], codes[len(train) :], names, source)


def fit_causal_model(
    model: CausalClassifier,
    train: LabelledSamples,
    val: LabelledSamples,
    train_maps: torch.Tensor,
    val_maps: torch.Tensor,
    strata: Strata,
    config: TrainConfig,
    causal: CausalConfig,
    maps_of: Callable[[list[np.ndarray]], torch.Tensor],
    progress: bool = True,
    views: Views | None = None,
) -> TrainResult:
    """Set the confounder dictionary, make the counterfactual views' maps (``maps_of``) and train the head.

    The views are ``views`` when given, else ``causal.views_per_image`` of :func:`counterfactual_views`.
    """
    pooled = train_maps.mean(dim=(2, 3)).numpy()
    model.set_dictionary(build_dictionary(pooled, strata.train, train.labels, strata.names, strata.source))
    view_maps, view_strata = None, None
    if model.counterfactual and (views is not None or causal.views_per_image > 0):
        images = (
            views.images
            if views is not None
            else counterfactual_views(train.images, [s.id for s in train.samples], causal, config.seed)
        )
        counts = {len(image_views) for image_views in images}
        if len(images) != len(train) or len(counts) != 1 or 0 in counts:
            raise DataError(f"each of the {len(train)} training images needs the same number (>= 1) of views")
        flat = maps_of([view for image_views in images for view in image_views])
        view_maps = flat.view(len(train), len(images[0]), *flat.shape[1:])
        view_strata = None if views is None else views.strata
    return train_causal_head(
        model,
        train_maps,
        train.labels,
        strata.train,
        val_maps,
        val.labels,
        config,
        causal,
        views=view_maps,
        val_strata=strata.val,
        progress=progress,
        view_strata=view_strata,
    )


def train_causal_head(
    model: CausalClassifier,
    train_maps: torch.Tensor,
    labels: np.ndarray,
    strata: np.ndarray,
    val_maps: torch.Tensor,
    val_labels: np.ndarray,
    config: TrainConfig,
    causal: CausalConfig,
    views: torch.Tensor | None = None,
    val_strata: np.ndarray | None = None,
    progress: bool = True,
    view_strata: np.ndarray | None = None,
) -> TrainResult:
    """Train the head of ``model`` (its dictionary already set) on cached maps; returns the history.

    ``views`` (N, V, C, h, w): maps of do(nuisance) views of each image, in the strata ``view_strata``
    (N, V) when given, else in their image's. With ``val_strata`` the kept epoch is the one with the
    best validation accuracy under the same independence weights (see
    :func:`~defectlab.classifiers.train.fit_loop`).
    """
    _check(model, train_maps, labels, strata, views, view_strata)
    started = time.perf_counter()
    model.set_backbone_frozen(True)
    model.fit_standardizer(train_maps)
    loss_fn = make_loss(config.loss)
    targets = torch.from_numpy(labels)
    z = torch.from_numpy(strata)
    view_z = None if view_strata is None else torch.from_numpy(view_strata.astype(np.int64))
    weights = independence_weights(labels, strata) if model.backdoor else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)

        def batch_loss(idx: np.ndarray) -> torch.Tensor:
            maps, y, zi = train_maps[idx], targets[idx], z[idx]
            loss = loss_fn(_train_logits(model, maps, zi), y)
            if model.counterfactual:
                cf_maps, cf_z = _counterfactual(model, maps, zi, views, idx, generator, view_z)
                loss = loss + loss_fn(_train_logits(model, cf_maps, cf_z), y)
                loss = loss + causal.consistency_weight * _symmetric_kl(
                    model.forward_features_map(maps), model.forward_features_map(cf_maps)
                )
            if model.reweight and causal.invariance_weight > 0:
                loss = loss + causal.invariance_weight * _invariance_penalty(model.pooled(maps), y, zi)
            return loss

        def order(rng: np.random.Generator) -> np.ndarray:
            if weights is None:
                return rng.permutation(len(labels))
            return rng.choice(len(labels), size=len(labels), p=weights / weights.sum())

        result = fit_loop(
            model,
            batch_loss,
            order,
            model.forward_features_map,
            lambda idx: val_maps[idx],
            val_labels,
            config,
            progress,
            val_groups=val_strata,
        )
    result.seconds = time.perf_counter() - started
    return result


def _train_logits(model: CausalClassifier, maps: torch.Tensor, strata: torch.Tensor) -> torch.Tensor:
    if model.backdoor:
        return model.observational_logits(maps, strata)
    return model.forward_features_map(maps)


def _counterfactual(
    model: CausalClassifier,
    maps: torch.Tensor,
    strata: torch.Tensor,
    views: torch.Tensor | None,
    idx: np.ndarray,
    generator: torch.Generator,
    view_strata: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One do-view per image and its stratum: a precomputed image-space view (in its ``view_strata`` when
    given, else in its image's stratum) or the feature-space stratum swap, half each when both exist
    (only the swap without views; only views with a single stratum)."""
    k = model.num_strata
    swapped = (strata + torch.randint(1, max(k, 2), strata.shape, generator=generator)) % k if k > 1 else strata
    shift = (model.prototypes[swapped] - model.prototypes[strata])[:, :, None, None]
    swap_maps = maps + shift
    if views is None:
        return swap_maps, swapped
    pick = torch.randint(0, views.shape[1], (len(idx),), generator=generator)
    rows = torch.from_numpy(idx)
    view_maps_ = views[rows, pick]
    view_z = strata if view_strata is None else view_strata[rows, pick]
    if k == 1:
        return view_maps_, view_z
    use_view = torch.rand(len(idx), generator=generator) < 0.5
    return torch.where(use_view[:, None, None, None], view_maps_, swap_maps), torch.where(use_view, view_z, swapped)


def _symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    log_a, log_b = F.log_softmax(logits_a, dim=1), F.log_softmax(logits_b, dim=1)
    return 0.5 * (
        F.kl_div(log_a, log_b, log_target=True, reduction="batchmean")
        + F.kl_div(log_b, log_a, log_target=True, reduction="batchmean")
    )


def _invariance_penalty(pooled: torch.Tensor, labels: torch.Tensor, strata: torch.Tensor) -> torch.Tensor:
    """Mean over classes and stratum pairs present of ||E[f | y, a] - E[f | y, b]||^2 / E||f||^2."""
    scale = pooled.pow(2).sum(dim=1).mean() + 1e-8
    terms = []
    for y in labels.unique():
        means = [pooled[(labels == y) & (strata == s)].mean(dim=0) for s in strata[labels == y].unique()]
        terms += [(means[i] - means[j]).pow(2).sum() for i in range(len(means)) for j in range(i + 1, len(means))]
    if not terms:
        return pooled.sum() * 0.0
    return torch.stack(terms).mean() / scale


def _check(
    model: CausalClassifier,
    maps: torch.Tensor,
    labels: np.ndarray,
    strata: np.ndarray,
    views: torch.Tensor | None,
    view_strata: np.ndarray | None = None,
) -> None:
    if not len(maps) == len(labels) == len(strata):
        raise DataError(f"{len(maps)} feature maps, {len(labels)} labels and {len(strata)} strata")
    if len(strata) and (strata.min() < 0 or strata.max() >= model.num_strata):
        raise DataError(f"strata must be in 0..{model.num_strata - 1}")
    if views is not None and (views.ndim != 5 or len(views) != len(maps) or views.shape[2:] != maps.shape[1:]):
        raise DataError(f"views of shape {tuple(views.shape)} do not match maps of shape {tuple(maps.shape)}")
    if view_strata is not None:
        if views is None or view_strata.shape != tuple(views.shape[:2]):
            raise DataError(f"view strata of shape {view_strata.shape} need views of shape (N, V, ...) to match")
        if len(view_strata) and (view_strata.min() < 0 or view_strata.max() >= model.num_strata):
            raise DataError(f"view strata must be in 0..{model.num_strata - 1}")
