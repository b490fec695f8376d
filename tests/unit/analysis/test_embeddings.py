"""Patch-embedding sampling (mask coverage, atypical patches, seeding) and 2-D projection."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from defectlab.analysis.embeddings import project_2d, sample_patch_embeddings
from defectlab.errors import ConfigError, DataError


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread():
    """One OpenMP/BLAS thread: on a shared 2-core machine t-SNE's thread pool otherwise stalls badly."""
    with threadpool_limits(1):
        yield


def position_features(n, h=8, w=8, noise_channels=2, seed=0):
    """(n, 2 + noise_channels, h, w) features whose first two channels are each patch's row and column."""
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    where = torch.stack([rows, cols]).float().expand(n, 2, h, w)
    noise = torch.from_numpy(np.random.default_rng(seed).normal(size=(n, noise_channels, h, w))).float()
    return torch.cat([where, noise], dim=1)


def two_clusters(n_per_cluster=40, dims=20, gap=4.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0, 1, (n_per_cluster, dims)), rng.normal(gap, 1, (n_per_cluster, dims))])
    return X, np.repeat([0, 1], n_per_cluster)


def nearest_neighbour_agreement(coords, labels):
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return float((labels[distances.argmin(axis=1)] == labels).mean())


# sample_patch_embeddings


def test_shapes_and_dtypes_with_and_without_masks():
    features = position_features(5)
    labels = np.array([0, 0, 1, 0, 1])
    masks = np.zeros((5, 32, 32), dtype=np.uint8)
    masks[[2, 4], 8:24, 8:24] = 255
    for mask_arg in (masks, None):
        X, anomalous, image_index = sample_patch_embeddings(features, labels, mask_arg, per_image=6)
        assert X.shape == (30, 4) and X.dtype == np.float32
        assert anomalous.shape == image_index.shape == (30,)
        assert anomalous.dtype == image_index.dtype == np.int64
        assert image_index.tolist() == np.repeat(np.arange(5), 6).tolist()
        assert set(anomalous[np.isin(image_index, [0, 1, 3])].tolist()) == {0}


def test_rows_are_the_feature_vectors_of_distinct_positions():
    features = position_features(3)
    X, _, image_index = sample_patch_embeddings(features, np.array([0, 1, 0]), per_image=10)
    for i in range(3):
        rows = X[image_index == i]
        r, c = rows[:, 0].astype(int), rows[:, 1].astype(int)
        assert len(set(zip(r.tolist(), c.tolist()))) == 10
        np.testing.assert_array_equal(rows, features[i][:, r, c].T.numpy())
        assert np.all(np.diff(8 * r + c) > 0)  # positions ascending


def test_per_image_is_capped_by_the_number_of_patches():
    X, _, image_index = sample_patch_embeddings(position_features(2, h=3, w=2), np.array([0, 1]), per_image=50)
    assert X.shape == (12, 4)
    assert np.bincount(image_index).tolist() == [6, 6]


def test_sampling_is_seeded():
    features = position_features(4)
    labels = np.array([0, 1, 0, 1])
    masks = np.zeros((4, 16, 16), dtype=np.uint8)
    masks[[1, 3], :8, :8] = 1
    first = sample_patch_embeddings(features, labels, masks, per_image=8, seed=3)
    again = sample_patch_embeddings(features, labels, masks, per_image=8, seed=3)
    other = sample_patch_embeddings(features, labels, masks, per_image=8, seed=4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_anomalous_patches_are_where_the_mask_covers_half_a_patch_or_more():
    features = position_features(2)  # 8 x 8 patches, each 4 x 4 pixels of a 32 x 32 mask
    masks = np.zeros((2, 32, 32), dtype=np.uint8)
    masks[1, 8:16, 16:28] = 255  # patch rows 2-3, columns 4-6: full coverage
    masks[1, 16:18, 16:20] = 255  # patch (4, 4): exactly half covered -> anomalous
    masks[1, 24:25, 0:4] = 255  # patch (6, 0): a quarter covered -> normal
    X, anomalous, image_index = sample_patch_embeddings(features, np.array([0, 1]), masks, per_image=64)
    defect = {(2, 4), (2, 5), (2, 6), (3, 4), (3, 5), (3, 6), (4, 4)}
    rows = X[image_index == 1][:, :2].astype(int)
    picked = {tuple(rc) for rc in rows[anomalous[image_index == 1] == 1].tolist()}
    assert picked == defect
    assert anomalous[image_index == 0].sum() == 0


def test_anomalous_images_draw_half_their_patches_from_the_defect():
    features = position_features(1)
    masks = np.zeros((1, 8, 8), dtype=np.uint8)
    masks[0, 0:4, 0:5] = 1  # 20 of 64 patches
    for per_image, expected in [(16, 8), (7, 4), (50, 20)]:  # half rounded up, or every defect patch
        _, anomalous, _ = sample_patch_embeddings(features, np.array([1]), masks, per_image=per_image)
        assert anomalous.size == per_image and anomalous.sum() == expected
    masks[0] = 1
    masks[0, 7, 7] = 0  # one normal patch left: the rest of the sample comes from the defect
    _, anomalous, _ = sample_patch_embeddings(features, np.array([1]), masks, per_image=10)
    assert anomalous.sum() == 9


def test_small_defects_are_found_more_often_than_by_uniform_sampling():
    masks = np.zeros((20, 64, 64), dtype=np.uint8)
    masks[:, 0:16, 0:16] = 1  # 4 of 64 patches
    _, anomalous, _ = sample_patch_embeddings(position_features(20), np.ones(20, int), masks, per_image=8)
    assert anomalous.mean() == pytest.approx(0.5)  # uniform sampling would give 1/16


def test_masks_smaller_than_the_feature_map_are_read_nearest():
    features = position_features(1)
    masks = np.zeros((1, 4, 4), dtype=np.uint8)
    masks[0, 1, 2] = 1  # patch rows 2-3, columns 4-5
    X, anomalous, _ = sample_patch_embeddings(features, np.array([1]), masks, per_image=64)
    picked = {tuple(rc) for rc in X[anomalous == 1][:, :2].astype(int).tolist()}
    assert picked == {(2, 4), (2, 5), (3, 4), (3, 5)}


def test_anomalous_image_with_an_empty_mask_has_only_normal_patches():
    _, anomalous, _ = sample_patch_embeddings(
        position_features(2), np.array([0, 1]), np.zeros((2, 16, 16), dtype=np.uint8), per_image=5
    )
    assert anomalous.tolist() == [0] * 10


def test_without_masks_anomalous_images_show_their_most_atypical_patches():
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.normal(0, 0.1, (6, 16, 8, 8)) + 1.0).float()
    features[:, :, 0, 0] += 5.0  # bright in every image: typical for its position, so never chosen
    blob = [(1, 1), (1, 2), (5, 6), (6, 6), (7, 0)]
    for r, c in blob:
        features[4, :, r, c] += torch.linspace(-3, 3, 16)  # same mean, very different pattern
    labels = np.array([0, 0, 0, 0, 1, 0])
    X, anomalous, image_index = sample_patch_embeddings(features, labels, per_image=5)
    chosen = X[image_index == 4]
    expected = np.stack([features[4, :, r, c].numpy() for r, c in blob])
    np.testing.assert_array_equal(chosen, expected)
    assert anomalous.tolist() == np.repeat(labels, 5).tolist()


def test_without_masks_the_reference_is_the_normal_images_only():
    features = torch.zeros(3, 2, 4, 4)
    features[1] = 10.0  # a second anomalous image must not shift the normal mean
    features[2, :, 3, 3] = 1.0
    X, _, image_index = sample_patch_embeddings(features, np.array([0, 1, 1]), per_image=1)
    np.testing.assert_array_equal(X[image_index == 2], [[1.0, 1.0]])


def test_only_normal_images_need_no_reference():
    X, anomalous, _ = sample_patch_embeddings(position_features(3), np.zeros(3, int), per_image=4)
    assert X.shape == (12, 4) and anomalous.sum() == 0


@pytest.mark.parametrize(
    ("features", "labels", "masks", "message"),
    [
        (torch.zeros(2, 3, 4), np.array([0, 1]), None, r"\(N, C, h, w\)"),
        (np.zeros((2, 3, 4, 4)), np.array([0, 1]), None, "torch.Tensor"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.int64), np.array([0, 1]), None, "floating-point"),
        (torch.zeros(0, 3, 4, 4), np.array([]), None, "empty"),
        (torch.full((2, 3, 4, 4), float("nan")), np.array([0, 1]), None, "NaN"),
        (torch.zeros(2, 3, 4, 4), np.array([0, 1, 0]), None, "differ in length"),
        (torch.zeros(2, 3, 4, 4), np.array([0, 2]), None, "only 0"),
        (torch.zeros(2, 3, 4, 4), np.array([0, 1]), np.zeros((3, 8, 8)), r"masks must have shape \(2, H, W\)"),
        (torch.zeros(2, 3, 4, 4), np.array([0, 1]), np.zeros((2, 8)), "masks must have shape"),
        (torch.zeros(2, 3, 4, 4), np.array([1, 1]), None, "needs normal images"),
    ],
)
def test_sampling_rejects_bad_data(features, labels, masks, message):
    with pytest.raises(DataError, match=message):
        sample_patch_embeddings(features, labels, masks)


def test_per_image_must_be_positive():
    with pytest.raises(ConfigError, match="per_image"):
        sample_patch_embeddings(position_features(2), np.array([0, 1]), per_image=0)


# project_2d


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_separated_clusters_stay_separated(method):
    X, labels = two_clusters()
    coords, kept = project_2d(X, method=method)
    assert coords.shape == (80, 2) and coords.dtype == np.float64
    np.testing.assert_array_equal(kept, np.arange(80))
    assert nearest_neighbour_agreement(coords, labels) == 1.0
    centroids = np.stack([coords[labels == k].mean(axis=0) for k in (0, 1)])
    nearest_centroid = np.linalg.norm(coords[:, None] - centroids[None], axis=-1).argmin(axis=1)
    assert (nearest_centroid == labels).all()


def test_pca_is_standardized_pca_and_differs_from_tsne():
    X, _ = two_clusters(n_per_cluster=15)
    X[:, 3] *= 1000.0  # standardization makes the scale of a feature irrelevant
    coords, _ = project_2d(X, method="pca")
    expected = PCA(n_components=2).fit_transform(StandardScaler().fit_transform(X))
    np.testing.assert_allclose(coords, expected, atol=1e-9)
    tsne, _ = project_2d(X, method="tsne")
    assert tsne.shape == coords.shape and not np.allclose(tsne, coords)


def test_projection_is_seeded():
    X, _ = two_clusters(n_per_cluster=15)
    first, kept = project_2d(X, method="tsne", seed=1, max_points=20)
    again, kept_again = project_2d(X, method="tsne", seed=1, max_points=20)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(kept, kept_again)
    _, kept_other = project_2d(X, method="pca", seed=2, max_points=20)
    assert not np.array_equal(kept, kept_other)


def test_subsampling_keeps_at_most_max_points_in_order():
    X, _ = two_clusters(n_per_cluster=50, dims=5)
    coords, kept = project_2d(X, method="pca", max_points=30)
    assert coords.shape == (30, 2) and kept.shape == (30,)
    assert np.all(np.diff(kept) > 0) and kept.min() >= 0 and kept.max() < 100
    np.testing.assert_allclose(coords, project_2d(X[kept], method="pca")[0])


def test_constant_features_are_tolerated():
    X, labels = two_clusters(n_per_cluster=10, dims=4)
    X = np.column_stack([X, np.full(20, 7.0)])
    coords, _ = project_2d(X, method="pca")
    assert np.isfinite(coords).all()
    assert nearest_neighbour_agreement(coords, labels) == 1.0


def test_five_points_are_enough_for_tsne():
    coords, kept = project_2d(np.random.default_rng(0).normal(size=(5, 3)), method="tsne")
    assert coords.shape == (5, 2) and np.isfinite(coords).all()
    assert kept.tolist() == [0, 1, 2, 3, 4]


def test_projection_rejects_bad_options():
    X, _ = two_clusters(n_per_cluster=5)
    with pytest.raises(ConfigError, match="umap"):
        project_2d(X, method="umap")
    with pytest.raises(ConfigError, match="max_points"):
        project_2d(X, max_points=4)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros((4, 3)), "at least 5 points"),
        (np.zeros(10), "2-D"),
        (np.zeros((10, 1)), "at least 2 features"),
        (np.array([[np.nan, 1.0]] * 6), "NaN"),
    ],
)
def test_projection_rejects_bad_data(X, message):
    with pytest.raises(DataError, match=message):
        project_2d(X, method="pca")
