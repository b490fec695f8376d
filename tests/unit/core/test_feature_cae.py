"""FeatureCAE: the estimator contract, reconstruction-error scores, early stopping, seeding, state and bundles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from defectlab.bundle.io import load_bundle, save_bundle
from defectlab.data.sample import Sample
from defectlab.detectors.feature_cae import FeatureCAE
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.errors import ConfigError, DataError, ModelError, NotFittedError
from defectlab.workflows.detection import FitOptions, fit_bundle

C, H, W, RANK = 16, 8, 8, 3
BASIS = np.random.default_rng(0).normal(size=(RANK, C))
SMALL = {"hidden": 16, "latent": RANK, "epochs": 40, "batch_size": 256, "lr": 1e-2, "patience": 5}


def normal_features(n: int, seed: int) -> torch.Tensor:
    """Normal patches lie near a RANK-dimensional subspace of the C channels."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, H, W, RANK)) @ BASIS + 0.05 * rng.normal(size=(n, H, W, C))
    return torch.from_numpy(f.transpose(0, 3, 1, 2).astype(np.float32))


def with_defect(features: torch.Tensor, shift: float = 3.0) -> torch.Tensor:
    """A 2x2 patch at rows 3-4, cols 5-6 moved off the normal subspace."""
    out = features.clone()
    direction = torch.from_numpy(np.random.default_rng(1).normal(size=C).astype(np.float32))
    out[:, :, 3:5, 5:7] += shift * direction.view(1, C, 1, 1)
    return out


@pytest.fixture(scope="module")
def train() -> torch.Tensor:
    return normal_features(12, seed=1)


@pytest.fixture(scope="module")
def fitted(train) -> FeatureCAE:
    return FeatureCAE(**SMALL).fit(train)


def test_init_only_stores_params_and_registry_builds_it() -> None:
    det = make_detector("cae", SMALL)
    assert isinstance(det, FeatureCAE) and det.kind == "cae" and not det.is_fitted
    assert FeatureCAE(**det.get_params()).get_params() == det.get_params()


@pytest.mark.parametrize("bad", [{"latent": 0}, {"val_fraction": 0.0}, {"val_fraction": 1.0}, {"lr": 0.0}, {"epochs": 0}])
def test_bad_params_are_config_errors(bad) -> None:
    with pytest.raises(ConfigError):
        make_detector("cae", bad)


def test_score_and_state_before_fit_raise_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        FeatureCAE().score(normal_features(1, 2))
    with pytest.raises(NotFittedError):
        FeatureCAE().state_tensors()


def test_anomalous_patches_score_higher_and_the_map_peaks_there(fitted) -> None:
    normal_scores, normal_maps = fitted.score(normal_features(4, seed=2))
    anomalous_scores, anomalous_maps = fitted.score(with_defect(normal_features(4, seed=3)))
    assert normal_scores.shape == (4,) and normal_maps.shape == (4, H, W)
    assert float(anomalous_scores.min()) > float(normal_scores.max())
    flat = anomalous_maps.reshape(4, -1).argmax(1)
    rows, cols = flat // W, flat % W
    assert ((rows >= 3) & (rows <= 4) & (cols >= 5) & (cols <= 6)).all()


def reconstruction_error(det: FeatureCAE, features: torch.Tensor) -> torch.Tensor:
    """Reference: mean over channels of the squared reconstruction error of the standardized features."""
    x = (features - det.mean_.view(1, C, 1, 1)) / det.std_.view(1, C, 1, 1)
    with torch.no_grad():
        return (det.network_(x) - x).pow(2).mean(1)


def test_patch_map_is_the_position_normalized_error_and_image_score_its_top_k_mean(fitted, train) -> None:
    features = with_defect(normal_features(3, seed=4))
    scores, maps = fitted.score(features)
    train_errors = reconstruction_error(fitted, train)
    want_maps = (reconstruction_error(fitted, features) - train_errors.mean(0)) / train_errors.std(0)
    torch.testing.assert_close(maps, want_maps)
    flat = maps.reshape(3, -1).numpy().astype(np.float64)
    want = np.sort(flat, axis=1)[:, ::-1][:, : fitted.top_k].mean(1)
    np.testing.assert_allclose(scores.numpy(), want, rtol=1e-5)


def test_without_position_normalization_the_map_is_the_plain_error(train) -> None:
    det = FeatureCAE(**{**SMALL, "epochs": 3, "normalize_positions": False}).fit(train)
    features = with_defect(normal_features(2, seed=12))
    _, maps = det.score(features)
    torch.testing.assert_close(maps, reconstruction_error(det, features))
    assert (maps >= 0).all()
    assert "error_mean" not in det.state_tensors()
    assert det.score(features[:, :, :4])[1].shape == (2, 4, W)  # any map size


def test_position_normalization_fixes_the_map_size(fitted) -> None:
    with pytest.raises(DataError, match="feature map"):
        fitted.score(normal_features(1, seed=13)[:, :, :4])


def test_top_k_is_clipped_to_the_map_size(train) -> None:
    det = FeatureCAE(**{**SMALL, "epochs": 2, "top_k": 10_000}).fit(train)
    scores, maps = det.score(normal_features(2, seed=5))
    torch.testing.assert_close(scores, maps.reshape(2, -1).mean(1))


def test_early_stopping_keeps_the_best_weights(fitted, train) -> None:
    history = fitted.history_
    assert 1 <= len(history) <= SMALL["epochs"]
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    _, held_out = fitted._split(train)
    x = (held_out - fitted.mean_.view(1, C, 1, 1)) / fitted.std_.view(1, C, 1, 1)
    with torch.no_grad():
        loss = float((fitted.network_(x) - x).pow(2).mean())
    assert loss == pytest.approx(min(h["val_loss"] for h in history), rel=1e-2)  # weights rounded to float16


def test_training_stops_on_a_plateau(train) -> None:
    det = FeatureCAE(hidden=8, latent=2, batch_norm=False, lr=1e-12, epochs=50, patience=3).fit(train)
    assert len(det.history_) == 4  # the first epoch sets the best loss, three more without progress


def test_fits_are_seeded_and_leave_the_global_rng_alone(train) -> None:
    params = {**SMALL, "epochs": 5}
    test = with_defect(normal_features(2, seed=6))
    rng_before = torch.get_rng_state()
    a = FeatureCAE(**params).fit(train)
    assert torch.equal(torch.get_rng_state(), rng_before)
    b = FeatureCAE(**params).fit(train)
    other = FeatureCAE(**{**params, "seed": 7}).fit(train)
    assert a.history_ == b.history_
    assert torch.equal(a.score(test)[1], b.score(test)[1])
    assert not torch.equal(a.score(test)[1], other.score(test)[1])


def test_state_round_trip_gives_identical_scores(fitted, tmp_path) -> None:
    path = tmp_path / "state.safetensors"
    state = fitted.state_tensors()
    assert state["network.0.weight"].dtype == torch.float16  # half the bundle size
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    restored = FeatureCAE(**fitted.get_params()).load_state_tensors(load_file(str(path)))
    test = torch.cat([normal_features(2, 8), with_defect(normal_features(2, 9))])
    a, pa = fitted.score(test)
    b, pb = restored.score(test)
    assert torch.equal(a, b) and torch.equal(pa, pb)
    for got, want in zip(restored.history_, fitted.history_, strict=True):
        assert got == pytest.approx(want)  # float32 in the file
    with pytest.raises(ModelError, match="hidden"):
        FeatureCAE(**{**fitted.get_params(), "hidden": 9}).load_state_tensors(load_file(str(path)))


@pytest.mark.parametrize(
    "bad", [torch.empty(0, C, H, W), torch.randn(C, H, W), torch.randn(2, C + 1, H, W)], ids=["empty", "3d", "channels"]
)
def test_bad_feature_batches_are_data_errors(fitted, bad) -> None:
    with pytest.raises(DataError):
        fitted.score(bad)
    if bad.ndim != 4 or len(bad) == 0:
        with pytest.raises(DataError):
            FeatureCAE(**SMALL).fit(bad)


def test_one_image_is_too_few_to_hold_one_out() -> None:
    with pytest.raises(DataError, match="2 normal images"):
        FeatureCAE(**SMALL).fit(normal_features(1, seed=10))


def test_bundle_round_trip_and_auto_threshold_is_mean_plus_3_std(random_config, image_factory, tmp_path) -> None:
    images = image_factory(9, seed=30)
    train = [Sample(image, 0, f"good/{i}") for i, image in enumerate(images[:6])]
    val = [Sample(images[6], 0, "val/good0"), Sample(images[7], 0, "val/good1"), Sample(255 - images[8], 1, "val/bad")]
    options = FitOptions(detector="cae", detector_params={"hidden": 32, "latent": 8, "epochs": 3}, features=random_config)
    bundle, _ = fit_bundle(train, val, options)
    assert "f1" in bundle.thresholds and bundle.default_threshold == "mean_std"
    assert bundle.threshold.params == {"k": 3.0}
    loaded = load_bundle(save_bundle(tmp_path / "cae", bundle))
    assert isinstance(loaded.model.detector, FeatureCAE)
    assert loaded.model.detector.get_params() == bundle.model.detector.get_params()
    before, after = bundle.model.predict(images[6:]), loaded.model.predict(images[6:])
    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_array_equal(after.maps, before.maps)


def test_anomaly_model_upsamples_the_error_map(fitted) -> None:
    model = AnomalyModel(fitted)
    prediction = model.predict_features(with_defect(normal_features(1, seed=11)))
    assert prediction.maps.shape == (1, model.features.image_size, model.features.image_size)
