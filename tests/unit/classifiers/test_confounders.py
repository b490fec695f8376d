"""The confounder dictionary: strata given or discovered, class-balanced prototypes, prior, group weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from defectlab.classifiers.confounders import (
    ConfounderDictionary,
    build_dictionary,
    discover_strata,
    encode_strata,
    independence_weights,
)
from defectlab.errors import ConfigError, DataError


def planted_clusters(per_cluster: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in 8 dimensions and their true labels."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * 8, [10.0] * 4 + [0.0] * 4, [0.0] * 4 + [10.0] * 4])
    truth = np.repeat(np.arange(3), per_cluster)
    return centres[truth] + rng.normal(0.0, 0.5, (len(truth), 8)), truth


def test_encode_strata_uses_sorted_names():
    index, names = encode_strata(["poly", "mono", "poly", "mono", "thin"])
    assert names == ("mono", "poly", "thin")
    np.testing.assert_array_equal(index, [1, 0, 1, 0, 2])
    assert index.dtype == np.int64
    index, names = encode_strata([3, 1, 3])  # non-strings are named by str()
    assert names == ("1", "3") and index.tolist() == [1, 0, 1]
    with pytest.raises(DataError, match="no nuisance labels"):
        encode_strata([])


def test_discover_strata_picks_the_planted_number_of_clusters():
    pooled, truth = planted_clusters()
    found, names = discover_strata(pooled, seed=0)
    assert names == ("cluster0", "cluster1", "cluster2")
    assert found.dtype == np.int64 and found.shape == truth.shape
    assert adjusted_rand_score(truth, found) == 1.0
    again, _ = discover_strata(pooled, seed=0)
    np.testing.assert_array_equal(found, again)


def test_discover_strata_with_an_explicit_k():
    pooled, truth = planted_clusters()
    found, names = discover_strata(pooled, k=2, seed=0)
    assert names == ("cluster0", "cluster1") and set(found.tolist()) == {0, 1}
    found, names = discover_strata(pooled, k=3, seed=0)
    assert len(names) == 3 and adjusted_rand_score(truth, found) == 1.0
    found, names = discover_strata(pooled, k=1)
    assert names == ("cluster0",) and not found.any()


@pytest.mark.parametrize(
    ("pooled", "k", "error", "match"),
    [
        (np.zeros(10), None, DataError, "pooled features"),
        (np.zeros((3, 4)), None, DataError, "N >= 4"),
        (np.random.default_rng(0).normal(size=(10, 3)), 0, ConfigError, r"1\.\.5"),
        (np.random.default_rng(0).normal(size=(10, 3)), 6, ConfigError, r"1\.\.5, got 6"),
    ],
)
def test_discover_strata_rejects_bad_inputs(pooled, k, error, match):
    with pytest.raises(error, match=match):
        discover_strata(pooled, k=k)


def imbalanced_training_set(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratum 0: 90 images of class 0, 10 of class 1; stratum 1: 20 and 20; classes shift the features."""
    rng = np.random.default_rng(seed)
    strata = np.array([0] * 100 + [1] * 40)
    labels = np.array([0] * 90 + [1] * 10 + [0] * 20 + [1] * 20)
    pooled = rng.normal(size=(140, 5)) + 4.0 * labels[:, None] + 2.0 * strata[:, None] * np.arange(5)
    return pooled, strata, labels


def test_prototypes_are_the_mean_of_the_class_means():
    pooled, strata, labels = imbalanced_training_set()
    dictionary = build_dictionary(pooled, strata, labels, ["a", "b"], "given")
    assert dictionary.names == ("a", "b") and dictionary.source == "given" and len(dictionary) == 2
    assert dictionary.prototypes.shape == (2, 5) and dictionary.prototypes.dtype == np.float32
    for z in range(2):
        class_means = []
        for y in range(2):
            rows = [pooled[i] for i in range(len(pooled)) if strata[i] == z and labels[i] == y]
            class_means.append(np.sum(rows, axis=0) / len(rows))
        np.testing.assert_allclose(dictionary.prototypes[z], (class_means[0] + class_means[1]) / 2, rtol=1e-5)
    # the 90/10 stratum's prototype is not its plain mean (which the class mix pulls towards class 0)
    plain_mean = pooled[strata == 0].mean(axis=0)
    assert np.abs(dictionary.prototypes[0] - plain_mean).min() > 1.0


def test_a_stratum_with_one_class_gets_that_class_mean():
    pooled, strata, labels = imbalanced_training_set()
    labels = np.where(strata == 1, 1, labels)
    dictionary = build_dictionary(pooled, strata, labels, ["a", "b"], "given")
    np.testing.assert_allclose(dictionary.prototypes[1], pooled[strata == 1].mean(axis=0), rtol=1e-5)


def test_prior_is_the_stratum_frequency():
    pooled, strata, labels = imbalanced_training_set()
    dictionary = build_dictionary(pooled, strata, labels, ["a", "b"], "given")
    np.testing.assert_allclose(dictionary.prior, [100 / 140, 40 / 140], rtol=1e-6)
    assert np.isclose(dictionary.prior.sum(), 1.0)


def test_build_dictionary_rejects_missing_strata_and_mismatched_inputs():
    pooled, strata, labels = imbalanced_training_set()
    with pytest.raises(DataError, match="stratum 'c' has no training images"):
        build_dictionary(pooled, strata, labels, ["a", "b", "c"], "given")
    with pytest.raises(DataError, match="stratum 'a' has no training images"):
        build_dictionary(pooled, strata + 1, labels, ["a", "b", "c"], "given")
    with pytest.raises(DataError, match="139 strata"):
        build_dictionary(pooled, strata[:-1], labels, ["a", "b"], "given")


def test_dictionary_checks_its_shapes_and_prior():
    prototypes = np.zeros((2, 3), np.float32)
    with pytest.raises(DataError, match="shapes disagree"):
        ConfounderDictionary(prototypes, np.array([0.5, 0.5], np.float32), ("a", "b", "c"), "given")
    with pytest.raises(DataError, match="shapes disagree"):
        ConfounderDictionary(np.zeros(3, np.float32), np.array([1.0], np.float32), ("a",), "given")
    with pytest.raises(DataError, match="probability vector"):
        ConfounderDictionary(prototypes, np.array([0.7, 0.7], np.float32), ("a", "b"), "given")
    with pytest.raises(DataError, match="probability vector"):
        ConfounderDictionary(prototypes, np.array([1.5, -0.5], np.float32), ("a", "b"), "given")


def test_independence_weights_make_label_and_stratum_independent_and_keep_the_marginals():
    rng = np.random.default_rng(1)
    labels = rng.choice(3, size=200, p=[0.6, 0.3, 0.1])
    strata = np.where(rng.random(200) < 0.8, labels % 2, 1 - labels % 2)
    weights = independence_weights(labels, strata)
    assert weights.shape == (200,) and weights.dtype == np.float32
    assert np.isclose(weights.mean(), 1.0, rtol=1e-5)
    total = weights.sum()
    for y in np.unique(labels):
        assert weights[labels == y].sum() / total == pytest.approx(np.mean(labels == y), rel=1e-4)
    for z in np.unique(strata):
        assert weights[strata == z].sum() / total == pytest.approx(np.mean(strata == z), rel=1e-4)
    for y in np.unique(labels):
        for z in np.unique(strata):
            joint = weights[(labels == y) & (strata == z)].sum() / total
            assert joint == pytest.approx(np.mean(labels == y) * np.mean(strata == z), rel=1e-4)


def test_independence_weights_are_one_when_label_and_stratum_are_already_independent():
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    strata = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(independence_weights(labels, strata), 1.0)
