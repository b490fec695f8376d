"""Error rates at a threshold and over candidate thresholds, against a loop over the samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from defectlab.calibration.rates import ErrorRates, candidate_thresholds, error_rates, rate_curve
from defectlab.calibration.scores import CalibrationScores
from defectlab.errors import ConfigError, DataError


def reference(scores: list[float], labels: list[int], threshold: float) -> dict[str, float | None]:
    """The rates by counting sample by sample."""
    fa = sum(1 for s, y in zip(scores, labels) if y == 0 and s >= threshold)
    miss = sum(1 for s, y in zip(scores, labels) if y == 1 and s < threshold)
    tp = sum(1 for s, y in zip(scores, labels) if y == 1 and s >= threshold)
    normals, anomalies = labels.count(0), labels.count(1)
    return {
        "false_alarms": fa,
        "misses": miss,
        "false_alarm_rate": fa / normals if normals else None,
        "miss_rate": miss / anomalies if anomalies else None,
        "precision": tp / (tp + fa) if tp + fa else None,
        "recall": tp / anomalies if anomalies else None,
        "f1": 2 * tp / (2 * tp + fa + miss) if anomalies else None,
    }


def as_dict(rates: ErrorRates) -> dict[str, float | None]:
    return {
        key: getattr(rates, key)
        for key in ("false_alarms", "misses", "false_alarm_rate", "miss_rate", "precision", "recall", "f1")
    }


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key]), key


@pytest.mark.parametrize("seed", range(5))
def test_rates_match_the_loop_on_random_scores_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 8, 40).astype(float).tolist()  # few distinct values: many ties
    labels = rng.integers(0, 2, 40).tolist()
    curve = rate_curve(scores, labels)
    for i, t in enumerate(curve.thresholds):
        want = reference(scores, labels, float(t))
        assert_close(as_dict(error_rates(scores, labels, float(t))), want)
        for key in ("false_alarm_rate", "miss_rate", "precision", "recall", "f1"):
            value = getattr(curve, key)[i]
            assert math.isnan(value) if want[key] is None else value == pytest.approx(want[key]), key


def test_a_score_at_the_threshold_is_flagged() -> None:
    rates = error_rates([1.0, 2.0, 2.0, 3.0], [0, 0, 1, 1], 2.0)
    assert (rates.false_alarms, rates.misses) == (1, 0)
    assert rates.false_alarm_rate == 0.5 and rates.miss_rate == 0.0
    assert rates.precision == pytest.approx(2 / 3) and rates.f1 == pytest.approx(0.8)


def test_without_anomalies_miss_rate_recall_and_f1_are_undefined() -> None:
    rates = error_rates([0.1, 0.2, 0.3], [0, 0, 0], 0.25)
    assert rates.false_alarm_rate == pytest.approx(1 / 3)
    assert rates.miss_rate is None and rates.recall is None and rates.f1 is None
    assert rates.precision == 0.0
    curve = rate_curve([0.1, 0.2, 0.3], [0, 0, 0])
    assert np.isnan(curve.miss_rate).all() and np.isnan(curve.f1).all()


def test_flagging_nothing_leaves_precision_undefined() -> None:
    rates = error_rates([0.1, 0.9], [0, 1], 5.0)
    assert rates.precision is None and rates.miss_rate == 1.0 and rates.f1 == 0.0
    assert error_rates([0.1, 0.9], [1, 1], 0.5).false_alarm_rate is None


def test_candidates_end_just_above_the_largest_score() -> None:
    candidates = candidate_thresholds([3.0, 1.0, 3.0, 2.0])
    assert candidates[:3].tolist() == [1.0, 2.0, 3.0] and candidates[3] > 3.0
    curve = rate_curve([3.0, 1.0, 3.0, 2.0], [0, 0, 1, 1])
    assert curve.false_alarm_rate[0] == 1.0 and curve.false_alarm_rate[-1] == 0.0 and curve.miss_rate[-1] == 1.0
    given = rate_curve([1.0, 2.0], [0, 1], thresholds=[2.0, 0.0])
    assert given.thresholds.tolist() == [0.0, 2.0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ConfigError):
        error_rates([1.0], [0], float("nan"))
    with pytest.raises(DataError):
        error_rates([1.0, 2.0], [0], 1.0)
    with pytest.raises(DataError):
        error_rates([1.0], [2], 1.0)


def test_calibration_scores_round_trip_and_checks() -> None:
    stored = CalibrationScores.of([0.5, 1.5], [0, 1])
    again = CalibrationScores.from_dict(stored.to_dict())
    assert again.scores.tolist() == [0.5, 1.5] and again.labels.tolist() == [0, 1]
    assert (again.n_normal, again.n_anomalous) == (1, 1)
    with pytest.raises(ConfigError, match="invalid"):
        CalibrationScores.from_dict({"scores": [1.0], "labels": [0, 1]})
    with pytest.raises(ConfigError, match="need"):
        CalibrationScores.from_dict({"scores": [1.0]})
