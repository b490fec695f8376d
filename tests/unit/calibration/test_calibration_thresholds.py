"""Threshold selection: semantics of `score >= threshold`, brute-force references, dispatch."""

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from defectlab.calibration.thresholds import (
    Threshold,
    acceptance_quantile_threshold,
    calibrate,
    f1_optimal_threshold,
    mean_std_threshold,
)
from defectlab.errors import ConfigError, DataError


def reference_f1(labels, scores, threshold):
    tp = sum(1 for y, s in zip(labels, scores) if y == 1 and s >= threshold)
    flagged = sum(1 for s in scores if s >= threshold)
    return 2 * tp / (flagged + sum(labels))


def reference_best_threshold(labels, scores):
    """Try every distinct score from the highest down; keep the first strict improvement."""
    best_t, best_f1 = None, -1.0
    for t in sorted(set(scores), reverse=True):
        f1 = reference_f1(labels, scores, t)
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return best_t


labelled = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(any),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(labelled)
def test_f1_optimal_threshold_matches_brute_force(data):
    labels, scores = data
    threshold = f1_optimal_threshold(labels, scores)
    assert threshold == reference_best_threshold(labels, scores)
    assert threshold in scores


def test_f1_optimal_threshold_examples():
    assert f1_optimal_threshold([0, 1, 0, 1], [1, 2, 3, 4]) == 2  # F1 0.8 at t=2
    # F1 is 2/3 at both t=4 and t=1: the higher threshold wins
    assert f1_optimal_threshold([1, 0, 0, 1], [4, 3, 2, 1]) == 4
    assert f1_optimal_threshold([0, 1, 1], [0.5, 0.5, 0.5]) == 0.5  # all equal: flag all
    assert f1_optimal_threshold([1, 1], [0.2, 0.7]) == 0.2  # only anomalies: flag all
    assert f1_optimal_threshold([0, 0, 1], [0.1, 0.2, 0.9]) == 0.9  # separable: the anomaly's score


@pytest.mark.parametrize(
    ("labels", "scores"),
    [([0, 0], [0.1, 0.2]), ([], []), ([0, 1], [0.1]), ([0, 1], [0.1, np.nan])],
)
def test_f1_optimal_threshold_bad_input(labels, scores):
    with pytest.raises(DataError):
        f1_optimal_threshold(labels, scores)


def test_mean_std_threshold():
    scores = [0.1, 0.4, 0.35, 0.2, 0.3]
    expected = statistics.mean(scores) + 2.5 * statistics.stdev(scores)
    assert mean_std_threshold(scores, k=2.5) == pytest.approx(expected)
    assert mean_std_threshold(scores) == pytest.approx(statistics.mean(scores) + 3 * statistics.stdev(scores))


@pytest.mark.parametrize(
    ("scores", "k", "error"),
    [
        ([0.3, 0.3, 0.3], 3.0, DataError),  # std 0 would flag every normal score
        ([0.3], 3.0, DataError),
        ([], 3.0, DataError),
        ([0.1, np.nan], 3.0, DataError),
        ([0.1, 0.2], math.inf, ConfigError),
        ([0.1, 0.2], math.nan, ConfigError),
    ],
)
def test_mean_std_threshold_bad_input(scores, k, error):
    with pytest.raises(error):
        mean_std_threshold(scores, k=k)


def accepted_fraction(scores, threshold):
    return float(np.mean(np.asarray(scores) < threshold))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 8).map(float), min_size=1, max_size=40),
    st.sampled_from([0.01, 0.07, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_acceptance_quantile_is_the_smallest_accepting_threshold(scores, accept):
    threshold = acceptance_quantile_threshold(scores, accept)
    required = math.ceil(round(accept * len(scores), 9))
    assert np.sum(np.asarray(scores) < threshold) >= required
    # the largest accepted score itself would flag that score and no longer accept enough
    largest_accepted = max(s for s in scores if s < threshold)
    assert np.sum(np.asarray(scores) < largest_accepted) < required
    assert threshold == np.nextafter(largest_accepted, np.inf)


def test_acceptance_quantile_examples():
    scores = np.arange(100, dtype=float)  # 0..99
    threshold = acceptance_quantile_threshold(scores, 0.95)
    assert accepted_fraction(scores, threshold) == 0.95
    assert 94 < threshold < 95 and not Threshold(threshold, "quantile").is_anomalous(94.0)
    assert Threshold(threshold, "quantile").is_anomalous(95.0)
    assert accepted_fraction(scores, acceptance_quantile_threshold(scores, 0.07)) == 0.07  # 0.07*100 > 7 in floats
    assert accepted_fraction(scores, acceptance_quantile_threshold(scores, 1.0)) == 1.0
    assert accepted_fraction([2.0, 2.0, 2.0], acceptance_quantile_threshold([2.0, 2.0, 2.0], 0.5)) == 1.0
    assert accepted_fraction([5.0], acceptance_quantile_threshold([5.0], 0.95)) == 1.0


@pytest.mark.parametrize("accept", [0.0, -0.5, 1.01, math.nan])
def test_acceptance_quantile_rejects_bad_accept(accept):
    with pytest.raises(ConfigError):
        acceptance_quantile_threshold([0.1, 0.2], accept)


def test_acceptance_quantile_rejects_bad_scores():
    with pytest.raises(DataError):
        acceptance_quantile_threshold([], 0.9)
    with pytest.raises(DataError):
        acceptance_quantile_threshold([0.1, np.inf], 0.9)


def test_threshold_record_round_trip_and_rule():
    threshold = Threshold(0.5, "mean_std", {"k": 3.0})
    assert Threshold.from_dict(threshold.to_dict()) == threshold
    assert threshold.to_dict() == {"value": 0.5, "method": "mean_std", "params": {"k": 3.0}}
    np.testing.assert_array_equal(threshold.is_anomalous([0.4, 0.5, 0.6]), [False, True, True])
    assert Threshold.from_dict({"value": 1, "method": "f1"}) == Threshold(1.0, "f1", {})


@pytest.mark.parametrize(
    "data",
    [
        {"method": "f1"},
        {"value": 0.5},
        {"value": "0.5", "method": "f1"},
        {"value": True, "method": "f1"},
        {"value": 0.5, "method": "f1", "params": [1]},
        {"value": 0.5, "method": "magic"},
        {"value": math.nan, "method": "f1"},
        [0.5, "f1"],
    ],
)
def test_threshold_from_dict_rejects_bad_entries(data):
    with pytest.raises(ConfigError):
        Threshold.from_dict(data)


def test_calibrate_dispatches_by_name():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=50)
    labels = np.r_[np.zeros(50), np.ones(10)]
    scores = np.r_[normal, rng.normal(3, 1, 10)]
    assert calibrate("f1", labels=labels, scores=scores) == Threshold(f1_optimal_threshold(labels, scores), "f1")
    assert calibrate("mean_std", normal) == Threshold(mean_std_threshold(normal), "mean_std", {"k": 3.0})
    assert calibrate("mean_std", normal, k=2.0).value == mean_std_threshold(normal, 2.0)
    assert calibrate("quantile", normal) == Threshold(acceptance_quantile_threshold(normal), "quantile", {"accept": 0.95})
    assert calibrate("quantile", normal, accept=0.8).params == {"accept": 0.8}


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("otsu", {"normal_scores": [0.1, 0.2]}, "unknown"),
        ("f1", {"labels": [0, 0], "scores": [0.1, 0.2]}, "anomalous"),
        ("f1", {"normal_scores": [0.1, 0.2]}, "labels and scores"),
        ("mean_std", {"labels": [0, 1], "scores": [0.1, 0.2]}, "normal_scores"),
        ("quantile", {}, "normal_scores"),
        ("quantile", {"normal_scores": [0.1, 0.2], "k": 2.0}, "k is a parameter"),
        ("mean_std", {"normal_scores": [0.1, 0.2], "accept": 0.9}, "accept is a parameter"),
    ],
)
def test_calibrate_config_errors(method, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        calibrate(method, **kwargs)
