"""Calibration scores stored in detector bundles, and setting a bundle's threshold by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle import io as bundle_io
from defectlab.bundle import load
from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.bundle.io import CALIBRATION, load_bundle, save_bundle
from defectlab.bundle.manifest import MANIFEST
from defectlab.calibration.thresholds_io import read_thresholds_json
from defectlab.data.sample import Sample
from defectlab.errors import ConfigError, ModelError
from defectlab.workflows.detection import FitOptions, fit_bundle

SIZE = 64


def textured(seed: int, spot: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    image = 110 + 30 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    image = np.repeat(image[..., None], 3, axis=2) + rng.normal(0, 4, (SIZE, SIZE, 3))
    if spot:
        image[20:32, 20:32] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PatchCore fitted on 6 normals, calibrated on 4 normals and 2 spotted images."""
    train = [Sample(image=textured(s), label=0, id=f"train/{s}") for s in range(6)]
    val = [Sample(image=textured(s), label=0, id=f"val/{s}") for s in range(6, 10)]
    val += [Sample(image=textured(s, spot=True), label=1, id=f"val/spot{s}") for s in range(10, 12)]
    options = FitOptions(detector_params={"coreset_ratio": 0.5}, features=FeatureConfig(weights="random", image_size=SIZE))
    bundle, _ = fit_bundle(train, val, options, category="tex")
    return save_bundle(tmp_path_factory.mktemp("bundle") / "tex", bundle)


@pytest.fixture
def bundle_dir(fitted: Path, tmp_path: Path) -> Path:
    """A fresh copy of the fitted bundle (tests below rewrite it)."""
    import shutil

    return Path(shutil.copytree(fitted, tmp_path / "tex"))


def test_calibration_scores_are_stored_and_read_back(fitted: Path) -> None:
    bundle = load_bundle(fitted)
    assert json.loads((fitted / MANIFEST).read_text())["calibration_scores"] == CALIBRATION
    assert bundle.calibration is not None and bundle.calibration.labels.tolist() == [0, 0, 0, 0, 1, 1]
    normals = bundle.calibration.scores[:4]
    assert bundle.score_stats["normal_mean"] == pytest.approx(normals.mean())
    assert bundle.calibration.scores[4:].min() > normals.max()  # the spots score above the normals


def test_bundles_without_calibration_scores_still_load(bundle_dir: Path) -> None:
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    del manifest["calibration_scores"]
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    (bundle_dir / CALIBRATION).unlink()
    assert load_bundle(bundle_dir).calibration is None
    assert load(bundle_dir).calibration is None


def test_a_damaged_calibration_file_is_a_one_line_model_error(bundle_dir: Path) -> None:
    (bundle_dir / CALIBRATION).write_text('{"scores": [1.0], "labels": [0, 1]}')
    with pytest.raises(ModelError, match="calibration scores") as info:
        load_bundle(bundle_dir)
    assert "\n" not in str(info.value)


def test_set_threshold_changes_decisions_and_is_saved(bundle_dir: Path) -> None:
    predictor = load(bundle_dir)
    assert isinstance(predictor, DetectorPredictor)
    images = [textured(20), textured(21, spot=True)]
    normal, spot = (p.score for p in predictor.predict(images))
    assert spot > normal
    f1 = predictor.threshold
    predictor.set_threshold((normal + spot) / 2, by="first")
    assert [p.is_anomalous for p in predictor.predict(images)] == [False, True]
    threshold = predictor.set_threshold(normal / 2, by="test")
    assert (threshold.method, threshold.value) == ("manual", normal / 2)
    after = predictor.predict(images)
    assert [p.is_anomalous for p in after] == [True, True] and after[0].threshold == normal / 2
    assert predictor.describe()["default_threshold"] == "manual"

    reloaded = load(bundle_dir)
    assert [p.is_anomalous for p in reloaded.predict(images)] == [True, True]
    assert reloaded.model_id == predictor.model_id  # same model, creation time kept
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    first, second = manifest["threshold_history"]
    assert first["by"] == "first" and first["previous"] == f1.to_dict()
    assert (second["value"], second["by"], second["previous"]["value"]) == (normal / 2, "test", (normal + spot) / 2)
    assert manifest["thresholds"]["f1"] == f1.to_dict()  # the calibrated thresholds stay
    assert read_thresholds_json(bundle_dir / "thresholds.json")["tex"].value == normal / 2
    assert load_bundle(bundle_dir).calibration is not None  # the other files are carried over


def test_a_failed_write_leaves_the_old_bundle(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = load(bundle_dir)
    old = predictor.threshold

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bundle_io, "write_thresholds_json", broken)
    with pytest.raises(OSError, match="disk full"):
        predictor.set_threshold(old.value * 2, by="test")
    assert predictor.threshold == old  # the live predictor keeps deciding with the old threshold
    assert load_bundle(bundle_dir).threshold == old
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == ["tex"]  # no temporary folder left


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), True])
def test_bad_thresholds_are_refused(bundle_dir: Path, value: float) -> None:
    predictor = load(bundle_dir)
    with pytest.raises(ConfigError, match="positive finite"):
        predictor.set_threshold(value, by="test")
    assert load_bundle(bundle_dir).default_threshold == "f1"
