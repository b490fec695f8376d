"""Open-set ceiling: how much of the localized cascade's gap is localization, how much the features.

For each split config (default: the three synthetic steel splits), with the study's data, split
and stage-1 detector (PatchCore on the detectors' frozen patch features, cached), the same linear
and open-set heads (:class:`~defectlab.pipelines.openset.LinearHead`,
:class:`~defectlab.pipelines.openset.OpenSetHead`, thresholds on validation images) are fitted on
three embeddings of each defect image:

- ``whole``: the patch features averaged over the whole image;
- ``stage1``: averaged with the stage-1 anomaly-map weights (the localized cascade's stage 2);
- ``true_mask``: averaged over the defect's ground-truth mask (synthetic data has masks): the best
  that any localization could give these frozen features.

Each region embedding is concatenated with the whole-image average, as in the cascade. Printed per
split: closed-set accuracy of the known classes and known-vs-unknown AUROC of every open-set
score, on the test part (no test image is used for any fit or threshold).

    python benchmarks/openset_ceiling.py [configs/openset_A.yaml ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.data.sample import Sample
from defectlab.detectors.registry import make_detector
from defectlab.experiments.jobs import load_job_config
from defectlab.experiments.openset.runner import ensure_data
from defectlab.metrics.image import auroc
from defectlab.pipelines.localize import anomaly_weighted_embedding
from defectlab.pipelines.openset import METHODS, LinearHead, OpenSetHead
from defectlab.workflows.openset.data import apply_split, load_or_create_split, read_samples
from defectlab.workflows.openset.models import Backbones, labels_of

DEFAULT_CONFIGS = ("configs/openset_A.yaml", "configs/openset_B.yaml", "configs/openset_C.yaml")


def mask_embedding(features: torch.Tensor, samples: list[Sample]) -> np.ndarray:
    """(N, 2C): [features averaged over each image's true defect mask, whole-image average]."""
    masks = torch.from_numpy(np.stack([s.mask for s in samples]).astype(np.float32))
    weights = F.adaptive_avg_pool2d(masks[:, None], features.shape[-2:])[:, 0]
    tiny = weights.flatten(1).sum(1) <= 0
    if tiny.any():  # a defect smaller than a patch: the patches it touches
        weights[tiny] = F.adaptive_max_pool2d(masks[tiny][:, None], features.shape[-2:])[:, 0]
    weights = weights / weights.flatten(1).sum(1)[:, None, None]
    local = torch.einsum("nchw,nhw->nc", features.float(), weights)
    return torch.cat([local, features.float().mean(dim=(2, 3))], dim=1).numpy()


def evaluate(
    name: str,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    y_train: np.ndarray,
    known_test: np.ndarray,
    y_test: np.ndarray,
    classes: tuple[str, ...],
    accept: float,
) -> dict[str, float]:
    """Closed-set accuracy and the AUROC of every open-set score for one embedding."""
    linear = LinearHead().fit(train, y_train)
    head = OpenSetHead(classes, accept).fit(train, y_train, val, linear.logits(val), linear.final_layer())
    logits = linear.logits(test)
    accuracy = float((logits[known_test].argmax(axis=1) == y_test[known_test]).mean())
    scores = head.scores(test, logits)
    row = {"embedding": name, "closed_set_accuracy": accuracy}
    row.update({method: auroc((~known_test).astype(int), scores[method]) for method in METHODS})
    return row


def run_split(path: Path, cache: FeatureCache) -> list[dict[str, float]]:
    _, config = load_job_config(path)
    ensure_data(config, print)
    defects, normals = read_samples(config)
    config.split_dir.mkdir(parents=True, exist_ok=True)
    data = apply_split(load_or_create_split(config.split_dir / "split.json", defects, normals, config), defects, normals)
    backbones = Backbones(config, cache)
    detector = make_detector(config.stage1.detector, {**config.stage1.params, "seed": config.seed})
    detector.fit(backbones.features([s.image for s in data.good_train], progress=True))
    parts = {name: getattr(data, name) for name in ("train", "val", "test")}
    features = {name: backbones.features([s.image for s in samples], progress=True) for name, samples in parts.items()}
    maps = {name: detector.score(f)[1] for name, f in features.items()}
    known = data.known
    y_train, y_test = (
        labels_of(data.train, known),
        np.array([known.index(s.defect_type) if s.defect_type in known else -1 for s in data.test]),
    )
    known_test = y_test >= 0
    embeddings = {
        "whole": {n: f.float().mean(dim=(2, 3)).numpy() for n, f in features.items()},
        "stage1": {n: anomaly_weighted_embedding(features[n], maps[n], config.quantile) for n in parts},
        "true_mask": {n: mask_embedding(features[n], parts[n]) for n in parts},
    }
    rows = []
    for name, e in embeddings.items():
        row = evaluate(name, e["train"], e["val"], e["test"], y_train, known_test, y_test, known, config.accept)
        rows.append({"split": config.name, **row})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path, default=[Path(c) for c in DEFAULT_CONFIGS])
    parser.add_argument("--json", type=Path, help="Also write the rows to this JSON file.")
    args = parser.parse_args()
    cache = FeatureCache(default_cache_dir())
    rows = [row for path in args.configs for row in run_split(path, cache)]
    header = ["split", "embedding", "closed_set_accuracy", *METHODS]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in header))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
