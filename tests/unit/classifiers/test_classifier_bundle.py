"""Classifier bundles: round trip gives identical probabilities; bad bundles are clear ModelErrors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _classifier_data import IMAGE_SIZE
from safetensors.torch import save_file

from defectlab.bundle.classifier import TENSORS, load_classifier_bundle, save_classifier_bundle
from defectlab.bundle.manifest import FORMAT_VERSION
from defectlab.classifiers.registry import build_classifier
from defectlab.classifiers.train import predict
from defectlab.errors import ConfigError, ModelError

NAMES = ("red", "blue", "green")


@pytest.mark.parametrize("kind", ["attention", "smallcnn"])
def test_round_trip_gives_identical_probabilities(kind, tmp_path, val_set):
    model = build_classifier(kind, 3, image_size=IMAGE_SIZE, weights="random", seed=1)
    path = save_classifier_bundle(tmp_path / "bundle", model, NAMES, {"scheme": "defect_type", "best_epoch": 3})
    bundle = load_classifier_bundle(path)
    assert bundle.class_names == NAMES and bundle.training == {"scheme": "defect_type", "best_epoch": 3}
    assert not bundle.model.training and bundle.model.kind == kind
    expected, expected_embeddings = predict(model, val_set.images)
    probabilities, embeddings = predict(bundle.model, val_set.images)
    np.testing.assert_array_equal(probabilities, expected)
    np.testing.assert_array_equal(embeddings, expected_embeddings)


def test_manifest_describes_the_model(tmp_path):
    model = build_classifier("attention", 3, image_size=IMAGE_SIZE, weights="random")
    save_classifier_bundle(tmp_path / "b", model, NAMES, {})
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["kind"] == "classifier"
    assert manifest["model"] == {"kind": "attention", "config": model.config()}
    assert manifest["backbone"] == {
        "name": "efficientnet_lite0",
        "weights": "random",
        "layers": ["blocks.4", "blocks.6"],
        "channels": 432,
        "reduction": 32,
        "frozen": False,
    }
    assert manifest["image_size"] == IMAGE_SIZE and manifest["class_names"] == list(NAMES)
    assert manifest["normalization"] == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert {"torch", "timm", "defectlab"} <= set(manifest["versions"])
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["manifest.json", TENSORS]


def test_saving_replaces_an_existing_bundle_and_leaves_no_temp_dirs(tmp_path):
    first = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=1)
    second = build_classifier("smallcnn", 3, image_size=IMAGE_SIZE, seed=2)
    save_classifier_bundle(tmp_path / "b", first, NAMES[:2])
    save_classifier_bundle(tmp_path / "b", second, NAMES)
    assert load_classifier_bundle(tmp_path / "b").class_names == NAMES
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_class_names_must_match_the_model(tmp_path):
    with pytest.raises(ConfigError, match="2 class names for a model of 3 classes"):
        save_classifier_bundle(tmp_path / "b", build_classifier("smallcnn", 3, image_size=IMAGE_SIZE), NAMES[:2])
    assert not (tmp_path / "b").exists()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "b"
    save_classifier_bundle(path, build_classifier("smallcnn", 3, image_size=IMAGE_SIZE), NAMES)
    return path


def edit_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"kind": "anomaly_detector"}, "kind 'anomaly_detector', not a classifier"),
        ({"format_version": FORMAT_VERSION + 1}, "upgrade defectlab"),
        ({"model": {"kind": "vit", "config": {}}}, "unknown classifier 'vit'"),
        ({"model": {"kind": "smallcnn"}}, "incomplete or malformed"),
        ({"class_names": ["a", "b"]}, "2 class names for 3 classes"),
    ],
)
def test_bad_manifests_are_model_errors(saved, changes, match):
    edit_manifest(saved, **changes)
    with pytest.raises(ModelError, match=match):
        load_classifier_bundle(saved)


def test_missing_corrupt_or_foreign_tensors_are_model_errors(saved, tmp_path):
    with pytest.raises(ModelError, match="manifest.json is missing"):
        load_classifier_bundle(tmp_path / "nowhere")
    (saved / TENSORS).write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read"):
        load_classifier_bundle(saved)
    save_file({"other": torch.zeros(1)}, str(saved / TENSORS))
    with pytest.raises(ModelError, match="does not fit a smallcnn classifier"):
        load_classifier_bundle(saved)
