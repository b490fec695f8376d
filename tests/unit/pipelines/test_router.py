"""The category router: routing, calibrated unknown detection, state round trip, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.errors import ConfigError, DataError, NotFittedError
from defectlab.pipelines.router import UNKNOWN, CategoryRouter, image_embedding


def category_features(centre: float, n: int, seed: int, channels: int = 8) -> torch.Tensor:
    """(n, C, 4, 4) features whose channel means sit near ``centre`` (one "product")."""
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(-1, 1, channels).view(1, channels, 1, 1) * centre
    return base + 0.3 * torch.randn(n, channels, 4, 4, generator=g)


@pytest.fixture(scope="module")
def fitted() -> CategoryRouter:
    feats = torch.cat([category_features(1.0, 100, 0), category_features(-1.0, 100, 1), category_features(3.0, 100, 2)])
    labels = ["a"] * 100 + ["b"] * 100 + ["c"] * 100
    return CategoryRouter(accept=0.95).fit(feats, labels)


def test_embedding_is_spatial_mean_and_std() -> None:
    feats = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    expected = np.concatenate([feats.numpy().reshape(2, 3, 4).mean(2), feats.numpy().reshape(2, 3, 4).std(2)], axis=1)
    np.testing.assert_allclose(image_embedding(feats, "mean_std"), expected)


def test_median_iqr_embedding_is_spatial_median_and_iqr_and_ignores_a_small_defect() -> None:
    feats = torch.randn(70, 3, 5, 5, generator=torch.Generator().manual_seed(0))  # more images than one batch
    flat = feats.numpy().reshape(70, 3, 25)
    low, median, high = np.quantile(flat, [0.25, 0.5, 0.75], axis=2)
    np.testing.assert_allclose(
        image_embedding(feats, "median_iqr"), np.concatenate([median, high - low], axis=1), rtol=1e-5, atol=1e-6
    )
    defect = feats.clone()
    defect[:, :, 0, :2] = 50.0  # two of 25 patches far off: the mean and std move, the median and IQR barely
    robust = np.abs(image_embedding(defect, "median_iqr") - image_embedding(feats, "median_iqr")).mean()
    plain = np.abs(image_embedding(defect, "mean_std") - image_embedding(feats, "mean_std")).mean()
    assert robust < 0.25 and plain > 10 * robust
    with pytest.raises(ConfigError, match="embedding"):
        image_embedding(feats, "max")


def test_limits_accept_their_share_of_each_categorys_out_of_fold_images() -> None:
    g = torch.Generator().manual_seed(3)
    feats = torch.cat([torch.randn(100, 8, 4, 4, generator=g) * 0.2 + 1.0, torch.randn(100, 8, 4, 4, generator=g) * 2.0 - 3.0])
    router = CategoryRouter(accept=0.9, folds=5).fit(feats, ["a"] * 100 + ["b"] * 100)
    fresh = torch.cat([torch.randn(400, 8, 4, 4, generator=g) * 0.2 + 1.0, torch.randn(400, 8, 4, 4, generator=g) * 2.0 - 3.0])
    refused = router.route(fresh).category == UNKNOWN
    assert 0.03 <= refused[:400].mean() <= 0.2 and 0.03 <= refused[400:].mean() <= 0.2  # about 1 - accept each


def test_routes_known_categories(fitted: CategoryRouter) -> None:
    routing = fitted.route(torch.cat([category_features(1.0, 20, 10), category_features(3.0, 20, 11)]))
    names = [fitted.categories[k] if k != UNKNOWN else "?" for k in routing.category]
    assert fitted.categories == ("a", "b", "c")
    assert list(routing.predicted) == [0] * 20 + [2] * 20
    assert np.mean(np.array(names) == np.array(["a"] * 20 + ["c"] * 20)) >= 0.85  # a few may be refused (limits at accept .95)


def test_unknown_product_is_refused_not_misrouted(fitted: CategoryRouter) -> None:
    g = torch.Generator().manual_seed(5)
    alien = torch.randn(30, 8, 4, 4, generator=g) * 3.0 + 5.0  # nothing like a, b or c
    routing = fitted.route(alien)
    assert np.all(routing.category == UNKNOWN)
    assert np.all(routing.distance > 1.0)  # over the limit of whichever category the head names


def test_limits_accept_the_calibration_share(fitted: CategoryRouter) -> None:
    fresh = torch.cat([category_features(c, 200, 20 + i) for i, c in enumerate((1.0, -1.0, 3.0))])
    refused = np.mean(fitted.route(fresh).category == UNKNOWN)
    assert refused < 0.15  # limits at 95% on held-out data: about 5% refused


def test_distance_matches_a_direct_mahalanobis(fitted: CategoryRouter) -> None:
    x = category_features(1.0, 3, 30)
    state = fitted.state
    routing = fitted.route(x)
    z = (image_embedding(x, fitted.embedding) - state["mean"]) / state["std"]
    direct = []
    for zi, k in zip(z, routing.predicted, strict=True):  # the head's category's own Gaussian and limit
        diff = (zi - state["centres"][k]) / state["scales"][k]
        direct.append(float(np.sqrt(diff @ state["precision"][k] @ diff)) / state["distance_limit"][k])
    np.testing.assert_allclose(routing.distance, direct, rtol=1e-8)


def test_each_category_has_its_own_spread() -> None:
    """A tight and a loose category: each limit follows its own spread, so an image as far from the
    tight one as the loose one's images lie from theirs is refused, not routed."""
    g = torch.Generator().manual_seed(9)
    tight = torch.randn(60, 8, 4, 4, generator=g) * 0.1 + 1.0
    loose = torch.randn(60, 8, 4, 4, generator=g) * 1.0 - 4.0
    router = CategoryRouter(accept=0.95).fit(torch.cat([tight, loose]), ["tight"] * 60 + ["loose"] * 60)
    limits = router.limits
    assert set(limits) == {"tight", "loose"} and all(v["distance"] > 0 for v in limits.values())
    drifted = torch.randn(20, 8, 4, 4, generator=g) * 0.6 + 1.0  # tight's mean, loose-like spread
    assert np.mean(router.route(drifted).category == UNKNOWN) >= 0.9


def test_old_shared_covariance_state_is_refused(fitted: CategoryRouter) -> None:
    tensors = fitted.state_tensors()
    tensors["router.precision"] = tensors["router.precision"][0]
    with pytest.raises(DataError, match="refit"):
        CategoryRouter().load_state_tensors(tensors, fitted.categories)


def test_state_round_trip(fitted: CategoryRouter) -> None:
    x = category_features(-1.0, 5, 40)
    restored = CategoryRouter(**fitted.get_params()).load_state_tensors(fitted.state_tensors(), fitted.categories)
    a, b = fitted.route(x), restored.route(x)
    np.testing.assert_array_equal(a.category, b.category)
    np.testing.assert_allclose(a.distance, b.distance)
    assert restored.limits == fitted.limits


def test_two_categories_work() -> None:
    feats = torch.cat([category_features(1.0, 30, 0), category_features(-1.0, 30, 1)])
    router = CategoryRouter().fit(feats, ["x"] * 30 + ["y"] * 30)
    assert list(router.route(category_features(-1.0, 5, 2)).predicted) == [1] * 5


def test_bad_input() -> None:
    with pytest.raises(NotFittedError):
        CategoryRouter().route(category_features(1.0, 2, 0))
    with pytest.raises(DataError, match="at least two categories"):
        CategoryRouter().fit(category_features(1.0, 10, 0), ["a"] * 10)
    with pytest.raises(DataError, match="at least 5 per category"):
        CategoryRouter().fit(category_features(1.0, 12, 0), ["a"] * 10 + ["b"] * 2)
    with pytest.raises(DataError, match="labels for"):
        CategoryRouter().fit(category_features(1.0, 10, 0), ["a"] * 9)
    with pytest.raises(ConfigError):
        CategoryRouter(accept=1.0)
    router = CategoryRouter().fit(
        torch.cat([category_features(1.0, 10, 0), category_features(-1, 10, 1)]), ["a"] * 10 + ["b"] * 10
    )
    with pytest.raises(DataError, match="channels"):
        router.route(torch.zeros(2, 5, 4, 4))


def test_precomputed_embeddings_route_like_features(fitted: CategoryRouter) -> None:
    feats = torch.cat([category_features(1.0, 20, 50), category_features(-1.0, 20, 51)])
    labels = ["a"] * 20 + ["b"] * 20
    from_features = CategoryRouter(folds=2).fit(feats, labels)
    from_embeddings = CategoryRouter(folds=2).fit_embeddings(image_embedding(feats), labels)
    assert from_features.limits == from_embeddings.limits
    x = category_features(1.0, 4, 52)
    np.testing.assert_allclose(from_features.route(x).distance, from_embeddings.route_embeddings(image_embedding(x)).distance)
    with pytest.raises(DataError, match=r"expected shape \(N, 16\)"):
        fitted.route_embeddings(np.zeros((2, 5)))
    with pytest.raises(DataError, match="non-empty"):
        CategoryRouter().fit_embeddings(np.zeros((0, 4)), [])
