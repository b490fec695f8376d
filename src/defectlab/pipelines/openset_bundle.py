"""Open-set bundles: the stage-1 detector, the classifier and both open-set heads, in one directory.

Layout: ``manifest.json`` (``"kind": "openset"``: known classes, acceptance, the heads'
thresholds and kappa, the localized pooling quantile, training information), ``stage1/`` (a
detector bundle whose threshold accepts the configured share of held-out normal images),
``classifier/`` (a classifier bundle over the known classes) and ``heads.safetensors`` (the
Gaussians of the whole-image and localized heads and the localized linear head). Written
atomically; loading needs no training data and no pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from defectlab.bundle.classifier import ClassifierBundle, load_classifier_bundle, save_classifier_bundle
from defectlab.bundle.io import Bundle, load_bundle, save_bundle
from defectlab.bundle.manifest import MANIFEST, OPENSET_KIND, new_manifest, read_manifest
from defectlab.errors import ModelError
from defectlab.fileio import atomic_write_directory, jsonable
from defectlab.pipelines.cascade import LocalizedStage2
from defectlab.pipelines.localize import DefectRegionModel
from defectlab.pipelines.openset import LinearHead, OpenSetHead

HEADS = "heads.safetensors"


@dataclass
class OpenSetBundle:
    """Everything an open-set cascade needs at inference time."""

    stage1: Bundle
    classifier: ClassifierBundle
    whole: OpenSetHead
    localized: LocalizedStage2
    manifest: dict[str, Any]

    @property
    def known(self) -> tuple[str, ...]:
        return self.whole.class_names


def save_openset_bundle(path: str | os.PathLike[str], bundle: OpenSetBundle, training: dict[str, Any]) -> Path:
    """Write ``bundle`` to directory ``path`` atomically."""
    whole, localized = bundle.whole, bundle.localized
    manifest = new_manifest(
        OPENSET_KIND,
        known=list(bundle.known),
        accept=whole.accept,
        stage1_threshold=bundle.stage1.threshold.value,
        whole={
            "thresholds": whole.thresholds,
            "kappa": whole.kappa,
            "covariance": whole.scorers["mahalanobis"].covariance_estimator,
        },
        localized={
            "thresholds": localized.head.thresholds,
            "kappa": localized.head.kappa,
            "quantile": localized.quantile,
            "covariance": localized.head.scorers["mahalanobis"].covariance_estimator,
            "seed": localized.seed,
            "region_model": localized.region is not None,
        },
        training=training,
    )
    arrays = {
        **whole.state_arrays("whole."),
        **localized.head.state_arrays("localized."),
        **localized.linear.state_arrays("linear."),
    }
    if localized.region is not None:
        arrays.update(localized.region.state_arrays("region."))

    def write(folder: Path) -> None:
        save_bundle(folder / "stage1", bundle.stage1)
        save_classifier_bundle(
            folder / "classifier", bundle.classifier.model, bundle.classifier.class_names, bundle.classifier.training
        )
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, str(folder / HEADS))
        (folder / MANIFEST).write_text(json.dumps(jsonable(manifest), indent=2))

    result = atomic_write_directory(Path(path), write)
    bundle.manifest = manifest
    return result


def load_openset_bundle(path: str | os.PathLike[str]) -> OpenSetBundle:
    """Load a bundle written by :func:`save_openset_bundle`."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("kind") != OPENSET_KIND:
        raise ModelError(f"{path} is a bundle of kind '{manifest.get('kind')}', not an open-set bundle")
    for part in ("stage1", "classifier"):
        if not (path / part / MANIFEST).is_file():
            raise ModelError(f"{path} lacks its {part} bundle at {path / part}")
    stage1 = load_bundle(path / "stage1")
    classifier = load_classifier_bundle(path / "classifier")
    try:
        arrays = {k: v.numpy() for k, v in load_file(str(path / HEADS)).items()}
    except Exception as exc:  # safetensors raises its own error types for missing or corrupt files
        raise ModelError(f"cannot read {path / HEADS}: {exc}") from exc
    try:
        known = tuple(manifest["known"])
        whole_info, local_info = manifest["whole"], manifest["localized"]
        whole = OpenSetHead(known, manifest["accept"]).load_state(
            arrays, "whole.", whole_info["thresholds"], whole_info["kappa"], whole_info["covariance"]
        )
        region = DefectRegionModel().load_state_arrays(arrays, "region.") if local_info["region_model"] else None
        localized = LocalizedStage2(known, manifest["accept"], local_info["quantile"], local_info["seed"], region)
        localized.head = OpenSetHead(known, manifest["accept"]).load_state(
            arrays, "localized.", local_info["thresholds"], local_info["kappa"], local_info["covariance"]
        )
        localized.linear = LinearHead(seed=local_info["seed"]).load_state_arrays(arrays, "linear.")
    except KeyError as exc:
        raise ModelError(f"{path} is incomplete: {exc} is missing from its manifest or {HEADS}") from exc
    if classifier.class_names != known:
        raise ModelError(f"{path}: the classifier's classes {classifier.class_names} are not the known classes {known}")
    return OpenSetBundle(stage1, classifier, whole, localized, manifest)
