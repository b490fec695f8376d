"""AnomalyModel: images in, scores and pixel maps out (untrained backbone, tiny images)."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.backbones.cache import FeatureCache
from defectlab.components.anomaly_map import to_anomaly_map
from defectlab.detectors.model import AnomalyModel, Prediction
from defectlab.detectors.padim import PaDiM
from defectlab.detectors.patchcore import PatchCore
from defectlab.errors import DataError, NotFittedError


def with_square(image: np.ndarray, y: int = 36, x: int = 12, size: int = 12) -> np.ndarray:
    out = image.copy()
    out[y : y + size, x : x + size] = 0
    out[y + 2 : y + size - 2, x + 2 : x + size - 2] = 255
    return out


@pytest.fixture(scope="module")
def fitted(random_config, image_factory) -> AnomalyModel:
    return AnomalyModel(PatchCore(coreset_ratio=0.1), random_config, sigma=2.0, batch_size=3).fit(image_factory(8, seed=1))


def test_predict_shapes_and_types(fitted, image_factory) -> None:
    pred = fitted.predict(image_factory(5, seed=2))
    assert isinstance(pred, Prediction)
    assert pred.scores.shape == (5,) and pred.scores.dtype == np.float64
    assert pred.maps.shape == (5, 64, 64) and pred.maps.dtype == np.float32
    assert np.isfinite(pred.scores).all() and (pred.maps >= 0).all()


def test_predict_equals_detector_on_extracted_features(fitted, image_factory) -> None:
    images = image_factory(4, seed=3)
    pred = fitted.predict(images)  # batch by batch (batch_size 3)
    features = fitted.extractor.extract(images)
    scores, patches = fitted.detector.score(features)
    np.testing.assert_allclose(pred.scores, scores.numpy(), rtol=1e-5)
    np.testing.assert_allclose(pred.maps, to_anomaly_map(patches, 64, 2.0).numpy(), rtol=1e-5, atol=1e-6)


def test_defect_images_score_higher(fitted, image_factory) -> None:
    # An untrained backbone's deep layers see the whole 64 px image, so only image scores are
    # checked here; localization is covered with the real weights in tests/integration/core.
    normal = image_factory(4, seed=4)
    defect = [with_square(img) for img in image_factory(4, seed=5)]
    p_normal, p_defect = fitted.predict(normal), fitted.predict(defect)
    assert p_defect.scores.min() > p_normal.scores.max()
    assert p_defect.maps.mean() > p_normal.maps.mean()


def test_cache_gives_same_predictions(fitted, image_factory, tmp_path) -> None:
    images = image_factory(3, seed=6)
    plain = fitted.predict(images)
    cached = AnomalyModel(fitted.detector, fitted.features, sigma=2.0, cache=FeatureCache(tmp_path))
    first, second = cached.predict(images), cached.predict(images)
    np.testing.assert_allclose(first.scores, plain.scores, rtol=1e-5)
    np.testing.assert_array_equal(first.scores, second.scores)
    np.testing.assert_array_equal(first.maps, second.maps)
    assert len(list(tmp_path.rglob("*.npy"))) == 3


def test_padim_model(random_config, image_factory) -> None:
    model = AnomalyModel(PaDiM(n_features=20), random_config, sigma=2.0).fit(image_factory(6, seed=7))
    pred = model.predict([with_square(image_factory(1, seed=8)[0])] + image_factory(2, seed=9))
    assert pred.maps.shape == (3, 64, 64)
    assert pred.scores[0] > pred.scores[1:].max()


def test_empty_inputs_are_data_errors(random_config, fitted) -> None:
    with pytest.raises(DataError, match="training"):
        AnomalyModel(PatchCore(), random_config).fit([])
    with pytest.raises(DataError):
        fitted.predict([])


def test_predict_before_fit_is_not_fitted_error(random_config, image_factory) -> None:
    with pytest.raises(NotFittedError):
        AnomalyModel(PatchCore(), random_config).predict(image_factory(1))


def test_extractor_is_built_lazily_once(random_config) -> None:
    model = AnomalyModel(PatchCore(), random_config)
    assert model._extractor is None
    assert model.extractor is model.extractor


def test_predict_without_maps_gives_the_same_scores() -> None:
    import numpy as np

    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.detectors.model import AnomalyModel
    from defectlab.detectors.padim import PaDiM

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(4)]
    model = AnomalyModel(PaDiM(n_features=8), FeatureConfig(image_size=32, weights="random")).fit(images)
    full, lean = model.predict(images), model.predict(images, with_maps=False)
    np.testing.assert_array_equal(full.scores, lean.scores)
    assert full.maps.shape == (4, 32, 32) and lean.maps.shape == (4, 0, 0)


def test_matched_model_scores_standardized_features(fitted, image_factory) -> None:
    from defectlab.components.feature_stats import channel_statistics, match_statistics

    condition = [np.clip(img.astype(int) // 2 + 40, 0, 255).astype(np.uint8) for img in image_factory(6, seed=7)]
    matched = fitted.matched_to(condition)
    assert matched is not fitted and not hasattr(fitted, "condition_statistics_")  # the original is untouched
    features = fitted.extractor.extract(condition[:3])
    want = fitted.detector.score(
        match_statistics(features, channel_statistics(fitted.extractor.extract(condition)), fitted.reference_statistics_)
    )[0]
    np.testing.assert_allclose(matched.predict(condition[:3]).scores, want.numpy(), rtol=1e-5)


def test_matched_to_needs_a_fit_and_images(random_config, fitted, image_factory) -> None:
    from defectlab.errors import ConfigError

    with pytest.raises(ConfigError, match="fitted in this process"):
        AnomalyModel(PatchCore(), random_config).matched_to(image_factory(2, seed=1))
    with pytest.raises(DataError):
        fitted.matched_to([])
