"""Image-level metrics against slow, obvious reference implementations."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from defectlab.errors import ConfigError, DataError
from defectlab.metrics.image import (
    ThresholdMetrics,
    auprc,
    auroc,
    confusion_matrix,
    f1_at,
    pr_curve,
    roc_curve,
    threshold_metrics,
)


def reference_auroc(labels, scores):
    positives = [s for y, s in zip(labels, scores) if y == 1]
    negatives = [s for y, s in zip(labels, scores) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(positives, negatives))
    return wins / (len(positives) * len(negatives))


def reference_average_precision(labels, scores):
    """Sum over distinct thresholds (descending) of (recall step) x precision."""
    n_pos = sum(labels)
    area, previous_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        flagged = [y for y, s in zip(labels, scores) if s >= t]
        precision, recall = sum(flagged) / len(flagged), sum(flagged) / n_pos
        area += (recall - previous_recall) * precision
        previous_recall = recall
    return area


def reference_counts(labels, scores, threshold):
    tp = fp = tn = fn = 0
    for y, s in zip(labels, scores):
        predicted = s >= threshold
        tp += y == 1 and predicted
        fp += y == 0 and predicted
        tn += y == 0 and not predicted
        fn += y == 1 and not predicted
    return tp, fp, tn, fn


two_class_data = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
        st.lists(st.integers(0, 6), min_size=n, max_size=n),  # small integers: many ties
    )
)


@settings(max_examples=150, deadline=None)
@given(two_class_data)
def test_auroc_and_auprc_match_references_with_ties(data):
    labels, scores = data
    assert auroc(labels, scores) == pytest.approx(reference_auroc(labels, scores), abs=1e-12)
    assert auprc(labels, scores) == pytest.approx(reference_average_precision(labels, scores), abs=1e-12)


def test_ranking_metrics_on_continuous_random_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels
    assert auroc(labels, scores) == pytest.approx(reference_auroc(labels, scores), abs=1e-12)
    assert auroc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auprc(labels, scores) == pytest.approx(reference_average_precision(labels, scores), abs=1e-12)


def test_ranking_metrics_perfect_inverted_and_constant():
    labels = [0, 0, 1, 1]
    assert auroc(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auprc(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(labels, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auroc(labels, [5, 5, 5, 5]) == 0.5
    assert auprc(labels, [5, 5, 5, 5]) == 0.5  # prevalence


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_ranking_metrics_are_nan_with_one_class(labels):
    assert np.isnan(auroc(labels, [0.1, 0.5, 0.9]))
    assert np.isnan(auprc(labels, [0.1, 0.5, 0.9]))


@pytest.mark.parametrize(
    ("labels", "scores"),
    [
        ([], []),
        ([0, 1], [0.5]),
        ([0, 1], [0.5, np.nan]),
        ([0, 1], [0.5, np.inf]),
        ([0, 2], [0.5, 0.6]),
        ([[0, 1]], [[0.5, 0.6]]),
        ([0, 1], ["a", "b"]),
    ],
)
def test_bad_inputs_raise_data_error(labels, scores):
    for fn in (auroc, auprc, roc_curve, pr_curve):
        with pytest.raises(DataError):
            fn(labels, scores)
    with pytest.raises(DataError):
        threshold_metrics(labels, scores, 0.5)


@settings(max_examples=100, deadline=None)
@given(two_class_data, st.integers(-1, 8))
def test_threshold_metrics_match_reference(data, threshold):
    labels, scores = data
    tp, fp, tn, fn = reference_counts(labels, scores, threshold)
    result = threshold_metrics(labels, scores, threshold)
    assert (result.tp, result.fp, result.tn, result.fn) == (tp, fp, tn, fn)
    assert result.accuracy == pytest.approx((tp + tn) / len(labels))
    assert result.recall == pytest.approx(tp / (tp + fn))
    assert result.precision == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
    p, r = result.precision, result.recall
    assert result.f1 == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)
    assert f1_at(labels, scores, threshold) == result.f1
    expected_f1 = skm.f1_score(labels, np.asarray(scores) >= threshold, zero_division=0.0)
    assert result.f1 == pytest.approx(expected_f1)


def test_threshold_rule_is_greater_or_equal():
    result = threshold_metrics([0, 1], [0.4, 0.5], 0.5)
    assert (result.tp, result.fp, result.tn, result.fn) == (1, 0, 1, 0)
    assert result.f1 == 1.0


def test_threshold_metrics_degenerate_cases():
    nothing_flagged = threshold_metrics([0, 1], [0.1, 0.2], 1.0)
    assert nothing_flagged.precision == 0.0 and nothing_flagged.f1 == 0.0 and nothing_flagged.recall == 0.0
    no_anomalies = threshold_metrics([0, 0], [0.1, 0.9], 0.5)
    assert np.isnan(no_anomalies.recall) and np.isnan(no_anomalies.f1)
    assert no_anomalies.accuracy == 0.5 and no_anomalies.precision == 0.0
    assert ThresholdMetrics.from_counts(tp=3, fp=1, tn=5, fn=1).f1 == pytest.approx(0.75)
    with pytest.raises(ConfigError):
        threshold_metrics([0, 1], [0.1, 0.2], float("nan"))


def test_confusion_matrix_layout_matches_sklearn():
    rng = np.random.default_rng(1)
    labels, preds = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    expected = skm.confusion_matrix(labels, preds, labels=[0, 1])
    np.testing.assert_array_equal(confusion_matrix(labels, preds), expected)
    np.testing.assert_array_equal(confusion_matrix([1, 1], [True, True]), [[0, 0], [0, 2]])
    with pytest.raises(DataError):
        confusion_matrix([0, 1], [1])
    with pytest.raises(DataError):
        confusion_matrix([0, 1], [0.5, 1])


def test_curves_match_references():
    labels = [0, 0, 1, 1, 0, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9]
    fpr, tpr, thresholds = roc_curve(labels, scores)
    assert np.isinf(thresholds[0]) and np.all(np.diff(thresholds) < 0)
    for f, t, threshold in zip(fpr[1:], tpr[1:], thresholds[1:]):
        tp, fp, tn, fn = reference_counts(labels, scores, threshold)
        assert (f, t) == pytest.approx((fp / (fp + tn), tp / (tp + fn)))
    assert np.trapezoid(tpr, fpr) == pytest.approx(reference_auroc(labels, scores))
    precision, recall, thresholds = pr_curve(labels, scores)
    assert len(precision) == len(recall) == len(thresholds) + 1
    assert (precision[-1], recall[-1]) == (1.0, 0.0)
    for p, r, threshold in zip(precision, recall, thresholds):
        tp, fp, tn, fn = reference_counts(labels, scores, threshold)
        assert (p, r) == pytest.approx((tp / (tp + fp), tp / (tp + fn)))


@pytest.mark.parametrize("curve", [roc_curve, pr_curve])
def test_curves_need_both_classes(curve):
    with pytest.raises(DataError, match="both normal and anomalous"):
        curve([0, 0], [0.1, 0.2])
