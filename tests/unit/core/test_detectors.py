"""PatchCore and PaDiM: the estimator contract, references for their scores, state round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from defectlab.detectors.base import Detector
from defectlab.detectors.padim import PaDiM
from defectlab.detectors.patchcore import PatchCore
from defectlab.detectors.registry import DETECTORS, make_detector
from defectlab.errors import ConfigError, DataError, NotFittedError

C, H, W = 8, 8, 8


def normal_features(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, C, H, W)).astype(np.float32))


def with_defect(features: torch.Tensor, shift: float = 6.0) -> torch.Tensor:
    """A shifted 2x2 patch at rows 3-4, cols 5-6 of every image."""
    out = features.clone()
    out[:, :, 3:5, 5:7] += shift
    return out


DETECTOR_FACTORIES = {
    "patchcore-greedy-topk": lambda: PatchCore(coreset_ratio=0.25, projection_dim=4),
    "patchcore-random-max-torch": lambda: PatchCore(coreset_ratio=0.25, sampler="random", index="torch", aggregation="max"),
    "patchcore-reweight": lambda: PatchCore(coreset_ratio=0.25, aggregation="max", reweight=True, num_neighbors=3),
    "padim-max": lambda: PaDiM(n_features=6),
    "padim-topk": lambda: PaDiM(n_features=100, aggregation="topk", top_k=3),
}


@pytest.fixture(params=list(DETECTOR_FACTORIES), ids=list(DETECTOR_FACTORIES))
def make(request):
    return DETECTOR_FACTORIES[request.param]


@pytest.fixture(scope="module")
def train() -> torch.Tensor:
    return normal_features(40, seed=0)


# ---------------------------------------------------------------- the contract


def test_init_only_stores_params(make) -> None:
    det = make()
    params = det.get_params()
    assert all(not name.endswith("_") for name in vars(det))
    assert not det.is_fitted
    clone = type(det)(**params)
    assert clone.get_params() == params


def test_score_and_state_before_fit_raise_not_fitted(make) -> None:
    det = make()
    with pytest.raises(NotFittedError):
        det.score(normal_features(1, 1))
    with pytest.raises(NotFittedError):
        det.state_tensors()


def test_fit_returns_self_and_learns_only_underscore_attributes(make, train) -> None:
    det = make()
    before = dict(vars(det))
    params = det.get_params()
    assert det.fit(train) is det
    assert det.is_fitted
    learned = set(vars(det)) - set(before)
    assert learned and all(name.endswith("_") for name in learned)
    assert det.get_params() == params  # fit does not change parameters


def test_higher_score_means_more_anomalous(make, train) -> None:
    det = make().fit(train)
    normal = normal_features(6, seed=1)
    anomalous = with_defect(normal_features(6, seed=2))
    normal_scores, normal_patches = det.score(normal)
    anomalous_scores, anomalous_patches = det.score(anomalous)
    assert normal_scores.shape == (6,) and normal_patches.shape == (6, H, W)
    assert float(anomalous_scores.min()) > float(normal_scores.max())
    flat = anomalous_patches.reshape(6, -1).argmax(1)
    rows, cols = flat // W, flat % W
    assert ((rows >= 3) & (rows <= 4) & (cols >= 5) & (cols <= 6)).all()
    assert (normal_patches >= 0).all()


def test_state_round_trip_gives_identical_scores(make, train, tmp_path) -> None:
    det = make().fit(train)
    path = tmp_path / "state.safetensors"
    save_file({k: v.contiguous() for k, v in det.state_tensors().items()}, str(path))
    restored = type(det)(**det.get_params()).load_state_tensors(load_file(str(path)))
    assert restored.is_fitted
    test = torch.cat([normal_features(3, 5), with_defect(normal_features(3, 6))])
    a, pa = det.score(test)
    b, pb = restored.score(test)
    assert torch.equal(a, b) and torch.equal(pa, pb)


@pytest.mark.parametrize("bad", [torch.empty(0, C, H, W), torch.randn(C, H, W)])
def test_bad_feature_batches_are_data_errors(make, train, bad) -> None:
    with pytest.raises(DataError):
        make().fit(bad)
    det = make().fit(train)
    with pytest.raises(DataError):
        det.score(bad)


def test_detectors_are_deterministic(make, train) -> None:
    test = with_defect(normal_features(2, 3))
    a = make().fit(train).score(test)
    b = make().fit(train).score(test)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ---------------------------------------------------------------- PatchCore


def test_patchcore_full_bank_scores_are_brute_force_nearest_distances(train) -> None:
    det = PatchCore(coreset_ratio=1.0, aggregation="topk", top_k=5).fit(train)
    bank = train.permute(0, 2, 3, 1).reshape(-1, C).numpy().astype(np.float64)
    assert det.memory_bank_.shape == (40 * H * W, C)
    assert sorted(map(tuple, det.memory_bank_.numpy().tolist())) == sorted(map(tuple, bank.astype(np.float32).tolist()))
    test = with_defect(normal_features(2, 7))
    scores, patches = det.score(test)
    q = test.permute(0, 2, 3, 1).reshape(-1, C).numpy().astype(np.float64)
    nearest = np.sqrt(((q[:, None, :] - bank[None]) ** 2).sum(-1)).min(1).reshape(2, H * W)
    np.testing.assert_allclose(patches.reshape(2, -1).numpy(), nearest, rtol=1e-4, atol=1e-4)
    want = np.sort(nearest, axis=1)[:, ::-1][:, :5].mean(1)
    np.testing.assert_allclose(scores.numpy(), want, rtol=1e-4)


def test_patchcore_bank_is_the_sampled_rows(train) -> None:
    det = PatchCore(coreset_ratio=0.1, sampler="random", seed=3).fit(train)
    patches = train.permute(0, 2, 3, 1).reshape(-1, C)
    chosen = np.sort(np.random.default_rng(3).choice(len(patches), size=round(0.1 * len(patches)), replace=False))
    assert torch.equal(det.memory_bank_, patches[torch.from_numpy(chosen)])


def test_patchcore_reweighting_follows_paper_eq7(train) -> None:
    det = PatchCore(coreset_ratio=0.2, aggregation="max", reweight=True, num_neighbors=4).fit(train)
    plain = PatchCore(coreset_ratio=0.2, aggregation="max").fit(train)
    assert torch.equal(det.memory_bank_, plain.memory_bank_)
    test = torch.cat([normal_features(2, 8), with_defect(normal_features(2, 9))])
    scores, patches = det.score(test)
    bank = det.memory_bank_.numpy().astype(np.float64)
    for i in range(len(test)):
        q = test[i].permute(1, 2, 0).reshape(-1, C).numpy().astype(np.float64)
        d = np.sqrt(((q[:, None] - bank[None]) ** 2).sum(-1))
        worst = d.min(1).argmax()
        star = d[worst].argmin()
        s_star = d[worst, star]
        support = np.argsort(np.sqrt(((bank - bank[star]) ** 2).sum(-1)))[:4]  # N_b(m*), m* included
        weight = 1.0 - np.exp(s_star) / np.exp(np.sqrt(((bank[support] - q[worst]) ** 2).sum(-1))).sum()
        assert 0.0 <= weight <= 1.0
        assert float(scores[i]) == pytest.approx(weight * s_star, rel=1e-4)
    assert torch.equal(patches, plain.score(test)[1])


def test_patchcore_faiss_and_torch_index_agree(train) -> None:
    test = with_defect(normal_features(3, 10))
    a = PatchCore(coreset_ratio=0.3, index="faiss").fit(train).score(test)
    b = PatchCore(coreset_ratio=0.3, index="torch").fit(train).score(test)
    assert torch.allclose(a[0], b[0], atol=1e-2) and torch.allclose(a[1], b[1], atol=1e-2)


def test_patchcore_wrong_channel_count_is_data_error(train) -> None:
    det = PatchCore(coreset_ratio=0.1).fit(train)
    with pytest.raises(DataError, match="channels"):
        det.score(torch.randn(1, C + 1, H, W))


def test_patchcore_scores_other_map_sizes(train) -> None:
    det = PatchCore(coreset_ratio=0.1).fit(train)
    scores, patches = det.score(torch.randn(2, C, 5, 3))
    assert scores.shape == (2,) and patches.shape == (2, 5, 3)


def test_patchcore_reweight_needs_max_aggregation() -> None:
    with pytest.raises(ConfigError, match="max"):
        PatchCore(reweight=True)  # default aggregation is topk
    with pytest.raises(ConfigError, match="max"):
        make_detector("patchcore", {"reweight": True, "aggregation": "topk"})
    assert PatchCore(reweight=True, aggregation="max").reweight


@pytest.mark.parametrize("bad", [{"sampler": "kmeans"}, {"index": "annoy"}, {"aggregation": "mean"}])
def test_patchcore_bad_options_are_config_errors(bad) -> None:
    with pytest.raises(ConfigError):
        PatchCore(**bad)


# ---------------------------------------------------------------- PaDiM


def test_padim_matches_numpy_gaussians_and_scipy_mahalanobis(train) -> None:
    det = PaDiM(n_features=5, regularization=0.1, seed=4).fit(train)
    channels = det.channels_.numpy()
    assert len(channels) == 5 and list(channels) == sorted(set(channels.tolist()))
    assert tuple(det.map_size_.tolist()) == (H, W)
    test = with_defect(normal_features(2, 11))
    scores, patches = det.score(test)
    x_train = train.numpy()[:, channels].astype(np.float64)
    x_test = test.numpy()[:, channels].astype(np.float64)
    want = np.empty((2, H, W))
    for y in range(H):
        for x in range(W):
            pos = x_train[:, :, y, x]
            inv = np.linalg.inv(np.cov(pos, rowvar=False) + 0.1 * np.eye(5))
            for i in range(2):
                want[i, y, x] = scipy_mahalanobis(x_test[i, :, y, x], pos.mean(0), inv)
    np.testing.assert_allclose(patches.numpy(), want, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(scores.numpy(), want.reshape(2, -1).max(1), rtol=1e-3)


def test_padim_uses_all_channels_when_fewer_than_n_features(train) -> None:
    det = PaDiM(n_features=100).fit(train)
    assert det.channels_.tolist() == list(range(C))


def test_padim_other_map_size_is_data_error(train) -> None:
    det = PaDiM(n_features=4).fit(train)
    with pytest.raises(DataError, match="image size"):
        det.score(torch.randn(1, C, H + 1, W))


def test_padim_needs_two_images() -> None:
    with pytest.raises(DataError, match="2"):
        PaDiM().fit(normal_features(1, 0))


def test_padim_bad_aggregation_is_config_error() -> None:
    with pytest.raises(ConfigError):
        PaDiM(aggregation="mean")


# ---------------------------------------------------------------- registry


def test_make_detector_builds_each_kind_with_params() -> None:
    assert set(DETECTORS) == {"patchcore", "padim", "cae"}
    det = make_detector("patchcore", {"coreset_ratio": 0.2, "sampler": "random"})
    assert isinstance(det, PatchCore) and isinstance(det, Detector)
    assert det.coreset_ratio == 0.2 and det.sampler == "random" and det.kind == "patchcore"
    assert make_detector("padim").get_params() == PaDiM().get_params()
    assert make_detector("padim", None).kind == "padim"


def test_make_detector_unknown_kind_or_param_is_config_error() -> None:
    with pytest.raises(ConfigError, match="patchcore"):
        make_detector("fastflow")
    with pytest.raises(ConfigError, match="n_neighbours"):
        make_detector("patchcore", {"n_neighbours": 3})
    with pytest.raises(ConfigError):
        make_detector("padim", {"aggregation": "median"})


# ---------------------------------------------------------------- few-shot adaptation


def test_adapt_accepts_the_new_domain_and_leaves_the_original_alone(make, train) -> None:
    detector = make().fit(train)
    new_domain = normal_features(12, seed=5) * 0.5 + 3.0  # shifted and rescaled normals
    before_shift, _ = detector.score(new_domain[6:])
    before_clean, _ = detector.score(train[:4])
    adapted = detector.adapt(new_domain[:6])
    after_shift, _ = adapted.score(new_domain[6:])
    assert float(after_shift.mean()) < 0.5 * float(before_shift.mean())
    # the original detector is unchanged
    assert torch.equal(detector.score(new_domain[6:])[0], before_shift)
    # a defect in the new domain still stands out after adaptation
    defect_scores, _ = adapted.score(with_defect(new_domain[6:], shift=12.0))
    assert bool((defect_scores > after_shift).all())
    assert before_clean.shape == (4,)


def test_patchcore_adapt_adds_every_patch_of_the_shots_at_ratio_one(train) -> None:
    detector = PatchCore(coreset_ratio=0.1, projection_dim=4, adapt_ratio=1.0).fit(train)
    shots = normal_features(3, seed=9)
    adapted = detector.adapt(shots)
    assert len(adapted.memory_bank_) == len(detector.memory_bank_) + 3 * H * W
    scores, patches = adapted.score(shots)
    assert float(patches.abs().max()) < 1e-3  # every shot patch is in the bank


def test_patchcore_adapt_adds_a_coreset_of_the_shots(train) -> None:
    detector = PatchCore(coreset_ratio=0.1, projection_dim=4, adapt_ratio=0.25).fit(train)
    shots = normal_features(4, seed=9)
    adapted = detector.adapt(shots)
    added = adapted.memory_bank_[len(detector.memory_bank_) :]
    assert len(added) == 4 * H * W // 4
    shot_patches = shots.permute(0, 2, 3, 1).reshape(-1, C)
    exact = torch.cdist(added, shot_patches, compute_mode="donot_use_mm_for_euclid_dist")
    assert bool((exact.min(1).values < 1e-6).all())  # rows of the shots


def test_patchcore_adapt_ratio_is_checked() -> None:
    with pytest.raises(ConfigError, match="adapt_ratio"):
        PatchCore(adapt_ratio=0.0)


def test_adapt_before_fit_and_with_bad_features_fails(train) -> None:
    with pytest.raises(NotFittedError):
        PatchCore().adapt(train)
    with pytest.raises(DataError):
        PatchCore(coreset_ratio=0.25, projection_dim=4).fit(train).adapt(train[:, :3])


def test_patchcore_adapted_scores_equal_a_bank_searched_whole(train) -> None:
    detector = PatchCore(coreset_ratio=0.1, projection_dim=4, adapt_ratio=0.5).fit(train)
    queries = with_defect(normal_features(5, seed=11))
    adapted = detector.adapt(normal_features(3, seed=12) + 1.0)
    twice = adapted.adapt(normal_features(2, seed=13) - 1.0)  # adapting an adapted detector
    for model in (adapted, twice):
        reference = PatchCore(coreset_ratio=0.1, projection_dim=4, index="torch")
        reference.load_state_tensors({"memory_bank": model.memory_bank_})
        got, got_maps = model.score(queries)
        want, want_maps = reference.score(queries)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got_maps, want_maps, rtol=1e-4, atol=1e-4)


def test_adapted_reweighted_scores_equal_a_bank_searched_whole(train) -> None:
    params = {"coreset_ratio": 0.1, "projection_dim": 4, "aggregation": "max", "reweight": True}
    adapted = PatchCore(**params, adapt_ratio=0.5).fit(train).adapt(normal_features(3, seed=12) + 1.0)
    reference = PatchCore(**params, index="torch").load_state_tensors({"memory_bank": adapted.memory_bank_})
    queries = with_defect(normal_features(4, seed=11))
    torch.testing.assert_close(adapted.score(queries)[0], reference.score(queries)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("adapt", [False, True])
def test_patchcore_scoring_leaves_the_model_untouched(train, adapt: bool) -> None:
    detector = PatchCore(coreset_ratio=0.1, projection_dim=4).fit(train)
    if adapt:
        detector = detector.adapt(normal_features(2, seed=3))
    before = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in vars(detector).items()}
    detector.score(with_defect(normal_features(3, seed=4)))
    after = vars(detector)
    assert set(after) == set(before)
    for key, value in before.items():
        assert torch.equal(after[key], value) if isinstance(value, torch.Tensor) else after[key] is value


@pytest.mark.parametrize("kind", ["patchcore", "padim", "cae"])
def test_concurrent_scoring_gives_the_sequential_answers(train, kind: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    params = {"patchcore": {"coreset_ratio": 0.1, "projection_dim": 4}, "padim": {"n_features": 4}, "cae": {"epochs": 2}}
    detector = make_detector(kind, params[kind]).fit(train)
    batches = [with_defect(normal_features(3, seed=s)) if s % 2 else normal_features(3, seed=s) for s in range(8)]
    sequential = [detector.score(b) for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(detector.score, batches * 3))
    for i, (scores, maps) in enumerate(concurrent):
        torch.testing.assert_close(scores, sequential[i % len(batches)][0], rtol=0, atol=0)
        torch.testing.assert_close(maps, sequential[i % len(batches)][1], rtol=0, atol=0)
