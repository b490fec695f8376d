"""Fit a routed (multi-category) model: one detector per category plus the category router."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from defectlab.backbones.cache import FeatureCache
from defectlab.data.sample import Sample
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ConfigError, DataError
from defectlab.fileio import atomic_write_text
from defectlab.pipelines.routed import RoutedModel
from defectlab.pipelines.router import CategoryRouter
from defectlab.workflows.detection import FitOptions, fit_bundle

ROUTER_ONLY_RULE = "router-only share of the defective test images"


@dataclass
class CategoryData:
    """One category's training and validation samples (the split's train and val parts), and images
    only the router learns from (see :func:`router_only_split`)."""

    train: Sequence[Sample]
    val: Sequence[Sample] = ()
    router_only: Sequence[Sample] = ()


def router_only_split(test: Sequence[Sample], share: float, path: Path, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(router-only images, remaining test images): a seeded ``share`` of the defective test images moves
    to the router's training, for splits with no validation part to show it defective images (ELPV).
    The ids are saved in ``path`` and reused while share and seed are unchanged."""
    if not 0.0 <= share < 1.0:
        raise ConfigError(f"the router-only share must be in [0, 1), got {share}")
    stored = json.loads(path.read_text()) if path.is_file() else None
    if stored is None or stored.get("share") != share or stored.get("seed") != seed:
        defective = sorted(s.id for s in test if s.label == 1)
        count = int(round(share * len(defective)))
        chosen = sorted(np.random.default_rng(seed).choice(defective, count, replace=False).tolist()) if count else []
        stored = {"rule": ROUTER_ONLY_RULE, "share": share, "seed": seed, "ids": chosen}
        atomic_write_text(path, json.dumps(stored, indent=1) + "\n")
    ids = set(stored["ids"])
    return [s for s in test if s.id in ids], [s for s in test if s.id not in ids]


@dataclass
class RoutedFit:
    """The fitted model and what the fit cost (seconds per detector, for the router, in all)."""

    model: RoutedModel
    seconds: dict[str, float] = field(default_factory=dict)


def fit_routed_model(
    data: Mapping[str, CategoryData],
    options: FitOptions,
    detectors: Mapping[str, str] | None = None,
    router: CategoryRouter | None = None,
    cache: FeatureCache | None = None,
    dataset: str = "",
    progress: bool = False,
) -> RoutedFit:
    """Fit one detector per category (``detectors`` may name a kind per category; default
    ``options.detector``) and the router on every image of known category outside the test parts (training
    normals and the validation images, defective ones included), sharing features."""
    if len(data) < 2:
        raise DataError(f"routing needs at least two categories, got {list(data)}")
    empty = [name for name, part in data.items() if not any(s.label == 0 for s in part.train)]
    if empty:
        raise DataError(f"categories {empty} have no good (normal) training images")
    router = router or CategoryRouter(seed=options.seed)
    bundles, seconds = {}, {}
    start = time.perf_counter()
    shared = None
    for name, part in data.items():
        kind = (detectors or {}).get(name, options.detector)
        params = options.detector_params if kind == options.detector else {"seed": options.seed}
        model = AnomalyModel(make_detector(kind, params), options.features, num_threads=options.num_threads, cache=cache)
        if shared is not None:
            model.share_extractor(shared)
        category_options = replace(options, detector=kind, detector_params=params)
        bundles[name], seconds[name] = fit_bundle(part.train, part.val, category_options, model, name, dataset, progress)
        shared = model.extractor
    router_start = time.perf_counter()
    feats, labels = [], []
    for name, part in data.items():
        images = router_images(part.train, part.val, part.router_only)
        feats.append(bundles[name].model.extract(images, progress=progress))
        labels += [name] * len(images)
    router.fit(torch.cat(feats), labels)
    seconds["router"] = time.perf_counter() - router_start
    seconds["total"] = time.perf_counter() - start
    model = RoutedModel(router, bundles, options.features, cache=cache)
    return RoutedFit(model, {k: round(v, 3) for k, v in seconds.items()})


def router_images(train: Sequence[Sample], val: Sequence[Sample], router_only: Sequence[Sample] = ()) -> list[np.ndarray]:
    """A category's router training images: its normal training images, every validation image and the
    router-only ones (defective ones too: the router learns what the product looks like, in any condition)."""
    return [s.image for s in train if s.label == 0] + [s.image for s in [*val, *router_only]]
