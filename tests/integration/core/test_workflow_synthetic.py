"""fit_bundle + evaluate_bundle end to end on a synthetic MVTec category."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import load_bundle, save_bundle, training_fingerprint
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ConfigError, DataError
from defectlab.workflows.detection import FitOptions, evaluate_bundle, fit_bundle, split_holdout

DETECTORS = {"patchcore": {"coreset_ratio": 0.1}, "padim": {}}


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory) -> FeatureCache:
    """Shared by the detectors so each image is embedded once per feature config."""
    return FeatureCache(tmp_path_factory.mktemp("features"))


@pytest.mark.weights
@pytest.mark.parametrize("detector", list(DETECTORS))
def test_bundled_weights_reach_high_image_and_pixel_auroc(detector, texture_split, feature_cache, tmp_path) -> None:
    train, test = texture_split
    options = FitOptions(detector=detector, detector_params=DETECTORS[detector], features=FeatureConfig(image_size=128))
    model = AnomalyModel(make_detector(detector, DETECTORS[detector]), options.features, cache=feature_cache)
    bundle, _ = fit_bundle(train, [], options, model=model, category="texture", dataset="synthetic")
    result = evaluate_bundle(bundle, test, n_examples=3, n_bootstrap=100)
    assert result.metrics["image_auroc"] >= 0.9
    assert result.metrics["pixel_auroc"] >= 0.9
    assert result.metrics["aupro"] is not None and result.metrics["aupro"] > 0.5
    low, high = result.intervals["image_auroc"]
    assert low <= result.metrics["image_auroc"] <= high
    # the saved and reloaded bundle (no cache, fresh backbone) scores identically
    loaded = load_bundle(save_bundle(tmp_path / "bundle", bundle))
    again = evaluate_bundle(loaded, test, n_examples=3, n_bootstrap=100)
    np.testing.assert_allclose(again.scores, result.scores, rtol=1e-4, atol=1e-5)
    assert again.metrics["image_auroc"] == pytest.approx(result.metrics["image_auroc"])


# ------------------------------------------------------- workflow mechanics (untrained backbone)

RANDOM = FeatureConfig(weights="random", image_size=64)


def _options(**kw) -> FitOptions:
    return FitOptions(detector="patchcore", detector_params={"coreset_ratio": 0.05}, features=RANDOM, **kw)


def test_holdout_calibration_when_there_is_no_validation_set(texture_split) -> None:
    train, test = texture_split
    bundle, seconds = fit_bundle(train, [], _options(holdout=0.2, seed=3), category="texture")
    fit_part, _ = split_holdout(train, 0.2, 3)
    assert bundle.training["n_train"] == 16 and bundle.training["n_calibration"] == 4
    assert bundle.training["calibration"] == "holdout 20% of training normals"
    assert bundle.training["fingerprint"] == training_fingerprint([s.image for s in fit_part])
    assert bundle.default_threshold == "mean_std"  # no anomalies to optimise F1 on
    assert set(bundle.thresholds) == {"mean_std", "quantile"}
    assert seconds > 0 and bundle.training["fit_seconds"] == pytest.approx(seconds, abs=1e-3)
    assert bundle.score_stats["normal_std"] >= 0


def test_extra_normals_join_the_fit_but_never_the_calibration(texture_split) -> None:
    train, _ = texture_split
    extra = [replace(s, image=np.ascontiguousarray(s.image[:, ::-1]), id=f"{s.id}#flip") for s in train[:3]]
    bundle, _ = fit_bundle(train, [], _options(holdout=0.2, seed=3), category="texture", extra=extra)
    fit_part, _ = split_holdout(train, 0.2, 3)
    assert bundle.training["n_train"] == 16 + 3 and bundle.training["n_calibration"] == 4
    assert bundle.training["fingerprint"] == training_fingerprint([s.image for s in fit_part + extra])


def test_augment_adds_corrupted_copies_of_the_fitted_normals_only(texture_split) -> None:
    from defectlab.shift.family import corrupted_copies

    train, _ = texture_split
    bundle, _ = fit_bundle(train, [], _options(holdout=0.2, seed=3, augment="photometric", augment_copies=2), category="t")
    fit_part, _ = split_holdout(train, 0.2, 3)
    copies = corrupted_copies(fit_part, "photometric", 2, seed=3)
    assert bundle.training["n_train"] == 16 * 3 and bundle.training["n_calibration"] == 4
    assert bundle.training["fingerprint"] == training_fingerprint([s.image for s in fit_part + copies])


def test_validation_with_anomalies_gives_f1_threshold(texture_split) -> None:
    train, test = texture_split
    val = test[::2]
    bundle, _ = fit_bundle(train, val, _options())
    assert bundle.training["n_train"] == len(train) and bundle.training["n_calibration"] == len(val)
    assert bundle.training["calibration"] == "validation set"
    assert bundle.default_threshold == "f1" and bundle.threshold.method == "f1"
    assert bundle.threshold.value in set(bundle.model.predict([s.image for s in val]).scores.tolist())
    assert fit_bundle(train, val, _options(threshold="quantile"))[0].default_threshold == "quantile"


def test_evaluate_bundle_result(texture_split) -> None:
    train, test = texture_split
    bundle, _ = fit_bundle(train, [], _options())
    result = evaluate_bundle(bundle, test, n_examples=4, n_bootstrap=50)
    assert result.detector == "patchcore"
    assert result.labels.tolist() == [s.label for s in test]
    assert result.ids == [s.id for s in test]
    assert result.threshold == bundle.threshold.value
    scores = [e.score for e in result.most_anomalous]
    assert scores == sorted(scores, reverse=True) and scores[0] == result.scores.max()
    assert [e.score for e in result.least_anomalous][0] == result.scores.min()
    assert all(e.image.shape == (64, 64, 3) and e.anomaly_map.shape == (64, 64) for e in result.most_anomalous)
    assert 0.0 <= result.metrics["pixel_auroc"] <= 1.0
    without_masks = evaluate_bundle(bundle, [replace(s, mask=None) for s in test], n_bootstrap=20)
    assert without_masks.metrics["pixel_auroc"] is None and without_masks.metrics["aupro"] is None
    assert without_masks.metrics["image_auroc"] == pytest.approx(result.metrics["image_auroc"])


def test_workflow_errors(texture_split) -> None:
    train, test = texture_split
    with pytest.raises(ConfigError, match="threshold"):
        fit_bundle(train, [], _options(threshold="otsu"))
    with pytest.raises(DataError, match="normal"):
        fit_bundle([s for s in test if s.label == 1], [], _options())
    with pytest.raises(DataError, match="too few"):
        fit_bundle(train[:5], [], _options())
    with pytest.raises(ConfigError, match="anomalous"):
        fit_bundle(train, [], _options(threshold="f1"))
    bundle, _ = fit_bundle(train, [], _options())
    with pytest.raises(DataError, match="empty"):
        evaluate_bundle(bundle, [])
