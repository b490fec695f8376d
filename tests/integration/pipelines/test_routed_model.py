"""Routed (multi-category) models on synthetic MVTec-format data: fit, route, score, save, load, bad bundles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import load_bundle, save_bundle
from defectlab.data.mvtec import read_mvtec
from defectlab.data.splits import apply, make_split
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.errors import DataError, ModelError
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, UNKNOWN_SCORE, load_routed_bundle, save_routed_bundle
from defectlab.workflows.detection import FitOptions
from defectlab.workflows.routing import CategoryData, fit_routed_model

CATEGORIES = {"tiles": "texture", "bolts": "object", "fabric": "texture", "stranger": "object"}
CONFIG = FeatureConfig(weights="random", image_size=64)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, tuple[list, list, list]]:
    root = generate_synthetic_dataset(
        tmp_path_factory.mktemp("routed"),
        categories=CATEGORIES,
        n_train=24,
        n_test_good=6,
        n_test_defect_per_type=2,
        size=64,
        seed=3,
    )
    out = {}
    for name in CATEGORIES:
        samples = read_mvtec(root, name)
        out[name] = apply(make_split(samples, "mvtec", 42), samples)
    return out


@pytest.fixture(scope="module")
def fitted(data):
    known = {name: CategoryData(*data[name][:2]) for name in ("tiles", "bolts", "fabric")}
    options = FitOptions(detector="patchcore", detector_params={"coreset_ratio": 0.1}, features=CONFIG)
    return fit_routed_model(known, options, detectors={"fabric": "padim"})


def test_routes_known_categories_and_scores_with_their_detector(fitted, data) -> None:
    model = fitted.model
    assert model.categories == ("bolts", "fabric", "tiles")
    assert {n: b.model.detector.kind for n, b in model.bundles.items()} == {
        "tiles": "patchcore",
        "bolts": "patchcore",
        "fabric": "padim",
    }
    for name in model.categories:
        test = data[name][2]
        prediction = model.predict([s.image for s in test])
        routed_to = np.array(prediction.categories)
        good = np.array([s.label == 0 for s in test])
        assert np.mean(routed_to[good] == name) >= 0.8
        assert set(routed_to) <= {name, UNKNOWN_CATEGORY}  # never a silent wrong route
        routed = [i for i, c in enumerate(prediction.categories) if c == name]
        direct = model.bundles[name].model.predict([test[i].image for i in routed]).scores
        np.testing.assert_allclose(prediction.scores[routed], direct, rtol=1e-5)  # same as the category's own detector
        assert np.all(prediction.thresholds[routed] == model.bundles[name].threshold.value)
    assert set(fitted.seconds) >= {"tiles", "bolts", "fabric", "router", "total"}


def test_unknown_product_is_called_unknown(fitted, data) -> None:
    stranger = [s.image for s in data["stranger"][0]]
    prediction = fitted.model.predict(stranger)
    assert np.mean(np.array(prediction.categories) == UNKNOWN_CATEGORY) >= 0.8
    unknown = np.array(prediction.categories) == UNKNOWN_CATEGORY
    assert np.all(prediction.is_anomalous[unknown]) and np.all(np.isnan(prediction.scores[unknown]))


def test_relative_scores_and_maps_flag_unknown_images(fitted, data) -> None:
    images = [s.image for s in data["stranger"][0][:3] + data["tiles"][2][:3]]
    prediction = fitted.model.predict(images)
    unknown = prediction.unknown
    assert unknown.any() and not unknown.all()
    relative, maps = prediction.relative_scores(), prediction.relative_maps()
    np.testing.assert_allclose(relative[~unknown], prediction.scores[~unknown] / prediction.thresholds[~unknown])
    np.testing.assert_allclose(maps[~unknown], prediction.maps[~unknown] / prediction.thresholds[~unknown, None, None])
    assert np.all(relative[unknown] == UNKNOWN_SCORE) and np.all(maps[unknown] == UNKNOWN_SCORE)
    with pytest.raises(DataError, match="without maps"):
        fitted.model.predict(images, with_maps=False).relative_maps()


def test_round_trip(fitted, data, tmp_path: Path) -> None:
    path = save_routed_bundle(tmp_path / "routed", fitted.model, {"dataset": "synthetic"})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["kind"] == "routed" and set(manifest["categories"]) == {"tiles", "bolts", "fabric"}
    assert manifest["categories"]["fabric"]["detector"] == "padim"
    loaded = load_routed_bundle(path)
    images = [s.image for s in data["tiles"][2][:4]] + [s.image for s in data["stranger"][2][:2]]
    before, after = fitted.model.predict(images), loaded.predict(images)
    assert before.categories == after.categories
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)
    thresholds = json.loads((path / "thresholds.json").read_text())
    assert set(thresholds) >= {"tiles", "bolts", "fabric"} or "thresholds" in thresholds


def test_bad_routed_bundles(fitted, tmp_path: Path) -> None:
    path = save_routed_bundle(tmp_path / "routed", fitted.model)
    broken = tmp_path / "missing"
    shutil.copytree(path, broken)
    shutil.rmtree(broken / "categories" / "bolts")
    with pytest.raises(ModelError, match="routes to category 'bolts' but has no detector"):
        load_routed_bundle(broken)
    mismatched = tmp_path / "mismatched"
    shutil.copytree(path, mismatched)
    other = load_bundle(mismatched / "categories" / "tiles")
    other.model.features = FeatureConfig(weights="random", image_size=96)
    save_bundle(mismatched / "categories" / "tiles", other)
    with pytest.raises(ModelError, match="needs one backbone configuration"):
        load_routed_bundle(mismatched)
    (tmp_path / "norouter").mkdir()
    shutil.copytree(path, tmp_path / "norouter" / "b")
    (tmp_path / "norouter" / "b" / "router.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="router.safetensors"):
        load_routed_bundle(tmp_path / "norouter" / "b")
    with pytest.raises(ModelError, match="not an anomaly-detector bundle"):
        load_bundle(path)


def test_category_without_good_images_is_refused(data) -> None:
    anomalous_only = [s for s in data["tiles"][2] if s.label == 1]
    parts = {"tiles": CategoryData(anomalous_only), "bolts": CategoryData(*data["bolts"][:2])}
    with pytest.raises(DataError, match=r"\['tiles'\] have no good"):
        fit_routed_model(parts, FitOptions(features=CONFIG))


def test_router_learns_from_training_normals_and_every_validation_image(data) -> None:
    from defectlab.workflows.routing import router_images

    train, val = data["tiles"][0], data["tiles"][1]
    images = router_images(train, val)
    assert len(images) == sum(s.label == 0 for s in train) + len(val)
    assert any(s.label == 1 for s in val)  # the defective validation images are among them
    assert all(any(a is s.image for s in [*train, *val]) for a in images)
