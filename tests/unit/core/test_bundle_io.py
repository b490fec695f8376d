"""Model bundles: exact round trip, atomic replacement, and clear errors for bad bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import defectlab.bundle.io as bundle_io
from defectlab.bundle.io import Bundle, load_bundle, save_bundle, training_fingerprint
from defectlab.bundle.manifest import FORMAT_VERSION, read_manifest
from defectlab.calibration.thresholds import Threshold
from defectlab.calibration.thresholds_io import read_thresholds_json
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.padim import PaDiM
from defectlab.detectors.patchcore import PatchCore
from defectlab.errors import ModelError


def make_bundle(detector, config, images, value: float = 1.5) -> Bundle:
    model = AnomalyModel(detector, config, sigma=2.0).fit(images)
    return Bundle(
        model=model,
        thresholds={
            "mean_std": Threshold(value, "mean_std", {"k": 3.0}),
            "quantile": Threshold(value + 1, "quantile", {"accept": 0.95}),
        },
        default_threshold="mean_std",
        training={"category": "tiles", "n_train": len(images)},
        score_stats={"normal_mean": 0.5, "normal_std": 0.1},
    )


@pytest.fixture(scope="module")
def bundles(random_config, image_factory) -> dict[str, Bundle]:
    train = image_factory(6, seed=20)
    return {
        "patchcore": make_bundle(PatchCore(coreset_ratio=0.2, aggregation="max", reweight=True), random_config, train),
        "padim": make_bundle(PaDiM(n_features=16, aggregation="topk", top_k=4), random_config, train, value=2.5),
    }


@pytest.mark.parametrize("kind", ["patchcore", "padim"])
def test_round_trip_gives_identical_predictions(kind, bundles, tmp_path: Path, image_factory) -> None:
    bundle = bundles[kind]
    images = image_factory(3, seed=21)
    before = bundle.model.predict(images)
    path = save_bundle(tmp_path / "models" / kind, bundle)
    assert path == tmp_path / "models" / kind
    assert sorted(p.name for p in path.iterdir()) == ["detector.safetensors", "manifest.json", "thresholds.json"]
    loaded = load_bundle(path)
    after = loaded.model.predict(images)
    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_array_equal(after.maps, before.maps)
    assert loaded.model.detector.get_params() == bundle.model.detector.get_params()
    assert loaded.model.features.to_dict() == bundle.model.features.to_dict()  # layers stored resolved
    assert loaded.model.sigma == 2.0
    assert loaded.thresholds == bundle.thresholds
    assert loaded.threshold == bundle.threshold
    assert loaded.training == bundle.training and loaded.score_stats == bundle.score_stats
    assert loaded.manifest["format_version"] == FORMAT_VERSION
    assert loaded.manifest["detector"]["kind"] == kind
    assert read_thresholds_json(path / "thresholds.json") == {"tiles": bundle.threshold}
    assert bundle.manifest == loaded.manifest


def test_bundle_normalized_scores(bundles) -> None:
    bundle = bundles["patchcore"]  # normal mean 0.5, threshold 1.5
    np.testing.assert_allclose(bundle.normalized(np.array([0.0, 0.5, 1.0, 1.5, 2.5, 9.0])), [0.0, 0.0, 0.25, 0.5, 1.0, 1.0])


def test_saving_over_an_existing_bundle_replaces_it_cleanly(bundles, tmp_path: Path) -> None:
    path = tmp_path / "model"
    save_bundle(path, bundles["patchcore"])
    save_bundle(path, bundles["padim"])
    assert read_manifest(path)["detector"]["kind"] == "padim"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _fail(*_args, **_kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("where", ["save_file", "write_thresholds_json"])
def test_failed_write_keeps_previous_bundle_and_leaves_no_temp(where, bundles, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model"
    save_bundle(path, bundles["patchcore"])
    before = _snapshot(path)
    monkeypatch.setattr(bundle_io, where, _fail)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(path, bundles["padim"])
    assert _snapshot(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    monkeypatch.undo()
    assert load_bundle(path).model.detector.kind == "patchcore"


def test_failed_first_write_leaves_nothing(bundles, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bundle_io, "save_file", _fail)
    with pytest.raises(OSError):
        save_bundle(tmp_path / "model", bundles["padim"])
    assert list(tmp_path.iterdir()) == []


def test_future_format_version_asks_to_upgrade(bundles, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "model", bundles["padim"])
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 999
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="upgrade"):
        read_manifest(path)
    with pytest.raises(ModelError, match="999"):
        load_bundle(path)


def test_missing_manifest_is_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="manifest.json"):
        read_manifest(tmp_path)
    with pytest.raises(ModelError):
        load_bundle(tmp_path / "does-not-exist")


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"])
def test_corrupt_manifest_is_model_error(text: str, bundles, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "model", bundles["padim"])
    (path / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelError, match="JSON"):
        load_bundle(path)


def test_incomplete_manifest_is_model_error(bundles, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "model", bundles["padim"])
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["detector"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="incomplete"):
        load_bundle(path)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "delete"])
def test_corrupt_tensors_are_model_error(damage: str, bundles, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "model", bundles["patchcore"])
    tensors = path / "detector.safetensors"
    if damage == "garbage":
        tensors.write_bytes(b"\x00\x01garbage" * 50)
    elif damage == "truncate":
        tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])
    else:
        tensors.unlink()
    with pytest.raises(ModelError, match="detector.safetensors"):
        load_bundle(path)


def test_training_fingerprint_ignores_order_but_not_content(image_factory) -> None:
    images = image_factory(3, seed=22)
    assert training_fingerprint(images) == training_fingerprint(images[::-1])
    changed = [img.copy() for img in images]
    changed[1][0, 0, 0] ^= 1
    assert training_fingerprint(changed) != training_fingerprint(images)


@pytest.mark.parametrize("document", [[1, 2], "a string", None])
def test_manifest_that_is_not_an_object_is_model_error(document, bundles, tmp_path: Path) -> None:
    path = save_bundle(tmp_path / "model", bundles["padim"])
    (path / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ModelError, match="manifest"):
        load_bundle(path)


def test_tensors_of_another_detector_are_model_error(bundles, tmp_path: Path) -> None:
    padim = save_bundle(tmp_path / "padim", bundles["padim"])
    patchcore = save_bundle(tmp_path / "patchcore", bundles["patchcore"])
    (patchcore / "detector.safetensors").write_bytes((padim / "detector.safetensors").read_bytes())
    with pytest.raises(ModelError, match="memory_bank"):
        load_bundle(patchcore)


def test_an_aligned_model_round_trips_with_its_template(random_config, image_factory, tmp_path: Path) -> None:
    from defectlab.components.align import Aligner

    train = image_factory(5, seed=30)
    model = AnomalyModel(PatchCore(coreset_ratio=0.2), random_config, sigma=2.0, aligner=Aligner(working_size=32, sigma=1.0))
    bundle = make_bundle(model.detector, random_config, train)
    bundle.model = model.fit(train)
    loaded = load_bundle(save_bundle(tmp_path / "aligned", bundle))
    assert loaded.manifest["alignment"] == bundle.model.aligner.params()
    np.testing.assert_array_equal(loaded.model.aligner.template_, bundle.model.aligner.template_)
    images = image_factory(3, seed=31)
    before, after = bundle.model.predict(images), loaded.model.predict(images)
    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_array_equal(after.aligned, before.aligned)
    assert (
        load_bundle(
            save_bundle(tmp_path / "plain", make_bundle(PatchCore(coreset_ratio=0.2), random_config, train))
        ).model.aligner
        is None
    )
