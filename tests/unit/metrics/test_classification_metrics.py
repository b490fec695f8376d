"""Classification metrics, group accuracies and Causal Effect Strength against sklearn and plain loops."""

import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from defectlab.errors import ConfigError, DataError
from defectlab.metrics import (
    causal_effect_strength,
    classification_metrics,
    group_accuracies,
    group_report,
    interventional_difference,
    mean_group_accuracy,
    observational_difference,
    robustness_index,
    worst_group_accuracy,
)


def random_probabilities(rng, n, k):
    logits = rng.normal(size=(n, k)) * 2
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def sklearn_balanced_accuracy(labels, predictions):
    with warnings.catch_warnings():  # sklearn warns when predictions hold classes absent from labels
        warnings.simplefilter("ignore")
        return skm.balanced_accuracy_score(labels, predictions)


# ---------------------------------------------------------------- classification_metrics


@pytest.mark.parametrize("k", [2, 3, 5])
def test_metrics_match_sklearn_when_every_class_is_present(k):
    rng = np.random.default_rng(k)
    labels = np.concatenate([np.arange(k), rng.integers(0, k, 60)])
    probabilities = random_probabilities(rng, labels.size, k)
    probabilities[np.arange(labels.size), labels] += rng.uniform(0, 1, labels.size)  # some signal
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predictions = probabilities.argmax(axis=1)
    result = classification_metrics(labels, probabilities)
    expected_auroc = (
        skm.roc_auc_score(labels, probabilities[:, 1])
        if k == 2
        else skm.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    )
    assert result == pytest.approx(
        {
            "accuracy": sum(int(y == p) for y, p in zip(labels, predictions)) / labels.size,
            "macro_f1": skm.f1_score(labels, predictions, average="macro", zero_division=0),
            "auroc": expected_auroc,
            "balanced_accuracy": sklearn_balanced_accuracy(labels, predictions),
        },
        abs=1e-12,
    )
    assert all(type(value) is float for value in result.values())
    json.dumps(result)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 5), st.integers(4, 30), st.integers(0, 10_000))
def test_multiclass_auroc_averages_over_present_classes_only(k, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k - 1, n)  # the last class never occurs; others may be missing too
    probabilities = random_probabilities(rng, n, k)
    per_class = [skm.roc_auc_score(labels == c, probabilities[:, c]) for c in range(k) if 0 < np.sum(labels == c) < n]
    result = classification_metrics(labels, probabilities)
    if per_class:
        assert result["auroc"] == pytest.approx(np.mean(per_class), abs=1e-12)
    else:
        assert np.isnan(result["auroc"])
    predictions = probabilities.argmax(axis=1)
    assert result["balanced_accuracy"] == pytest.approx(sklearn_balanced_accuracy(labels, predictions), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(labels, predictions, average="macro", zero_division=0), abs=1e-12)


def test_hand_computed_binary_example():
    labels = [0, 0, 1, 1]
    probabilities = [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]
    # predictions 0, 1, 1, 0: accuracy 1/2, both classes F1 1/2 and recall 1/2;
    # class-1 scores: positives 0.7, 0.2 vs negatives 0.1, 0.6 -> 0.7 beats both, 0.2 beats 0.1: 3 of 4 pairs
    result = classification_metrics(labels, probabilities)
    assert result == pytest.approx({"accuracy": 0.5, "macro_f1": 0.5, "auroc": 0.75, "balanced_accuracy": 0.5})
    assert classification_metrics(np.array(labels, dtype=bool), probabilities) == result


@pytest.mark.parametrize("k", [2, 4])
def test_auroc_is_nan_with_one_class_present(k):
    probabilities = np.full((3, k), 1.0 / k)
    result = classification_metrics([1, 1, 1], probabilities)
    assert np.isnan(result["auroc"])
    assert result["accuracy"] == result["balanced_accuracy"] == 0.0  # a tie's argmax is class 0
    assert classification_metrics([0, 0, 0], probabilities)["balanced_accuracy"] == 1.0


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([0, 1], [0.5, 0.5], "(N, K)"),
        ([0, 1], [[1.0], [1.0]], "K >= 2"),
        ([], np.zeros((0, 2)), "non-empty"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], "one entry per probability row (2)"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], "in [0, 1]"),
        ([0, -1], [[0.5, 0.5], [0.5, 0.5]], "in [0, 1]"),
        ([0, 0.5], [[0.5, 0.5], [0.5, 0.5]], "integer class indices"),
        (["a", "b"], [[0.5, 0.5], [0.5, 0.5]], "integer class indices"),
        ([0, 1], [[0.5, 0.6], [0.5, 0.5]], "sum to 1"),
        ([0, 1], [[1.5, -0.5], [0.5, 0.5]], "non-negative"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], "finite"),
        ([0, 1], [[0.5, 0.5], [0.5]], "numeric (N, K)"),
    ],
)
def test_classification_metrics_rejects_bad_input(labels, probabilities, message):
    with pytest.raises(DataError, match=re.escape(message)):
        classification_metrics(labels, probabilities)


# ---------------------------------------------------------------- robustness_index


def test_robustness_index_divides_common_keys():
    clean = {"accuracy": 0.8, "auroc": 0.0, "macro_f1": float("nan"), "only_clean": 1.0}
    shifted = {"accuracy": 0.6, "auroc": 0.5, "macro_f1": 0.4, "only_shifted": 1.0}
    index = robustness_index(clean, shifted)
    assert list(index) == ["accuracy", "auroc", "macro_f1"]
    assert index["accuracy"] == pytest.approx(0.75)
    assert np.isnan(index["auroc"]) and np.isnan(index["macro_f1"])


def test_robustness_index_needs_a_common_metric():
    with pytest.raises(DataError, match="no metric in common"):
        robustness_index({"accuracy": 1.0}, {"auroc": 1.0})


# ---------------------------------------------------------------- groups


def loop_group_accuracies(labels, predictions, groups):
    totals: dict[str, list[int]] = {}
    for y, p, g in zip(labels, predictions, groups):
        hits, n = totals.setdefault(str(g), [0, 0])
        totals[str(g)] = [hits + (y == p), n + 1]
    return {g: hits / n for g, (hits, n) in totals.items()}, {g: n for g, (_, n) in totals.items()}


def test_group_accuracies_match_a_loop():
    rng = np.random.default_rng(0)
    names = np.array(["mono/defective", "mono/functional", "poly/defective", "poly/functional"])
    groups = names[rng.integers(0, 4, 80)]
    labels = rng.integers(0, 3, 80)
    predictions = np.where(rng.random(80) < 0.7, labels, rng.integers(0, 3, 80))
    expected, sizes = loop_group_accuracies(labels, predictions, groups)
    accuracies = group_accuracies(labels, predictions, groups)
    assert list(accuracies) == sorted(expected)
    assert accuracies == pytest.approx(expected)
    assert worst_group_accuracy(labels, predictions, groups) == pytest.approx(min(expected.values()))
    assert mean_group_accuracy(labels, predictions, groups) == pytest.approx(sum(expected.values()) / len(expected))
    report = group_report(labels, predictions, groups)
    assert report["groups"] == {g: {"accuracy": pytest.approx(expected[g]), "n": sizes[g]} for g in expected}
    assert report["worst_group"] == min(expected, key=expected.get)
    assert report["worst_group_accuracy"] == pytest.approx(min(expected.values()))
    assert report["mean_group_accuracy"] == pytest.approx(sum(expected.values()) / len(expected))
    assert report["accuracy"] == pytest.approx(np.mean(labels == predictions))
    json.dumps(report)


def test_group_report_hand_example_weights_groups_equally():
    labels = ["ok", "ok", "ok", "ok", "bad", "bad"]
    predictions = ["ok", "ok", "ok", "bad", "bad", "ok"]
    groups = [1, 1, 1, 1, 2, 2]  # any hashable; keys are str(group)
    report = group_report(labels, predictions, groups)
    assert report["groups"] == {"1": {"accuracy": 0.75, "n": 4}, "2": {"accuracy": 0.5, "n": 2}}
    assert (report["worst_group"], report["worst_group_accuracy"]) == ("2", 0.5)
    assert report["mean_group_accuracy"] == pytest.approx(0.625)  # unweighted; overall accuracy is 4/6
    assert report["accuracy"] == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    ("labels", "predictions", "groups", "message"),
    [
        ([0, 1], [0], ["a", "b"], "differ in length"),
        ([], [], [], "no samples"),
        ([[0, 1]], [[0, 1]], [["a", "b"]], "1-D"),
    ],
)
def test_groups_reject_bad_input(labels, predictions, groups, message):
    for function in (group_accuracies, worst_group_accuracy, mean_group_accuracy, group_report):
        with pytest.raises(DataError, match=message):
            function(labels, predictions, groups)


# ---------------------------------------------------------------- Causal Effect Strength

# The worked example of the module docstring and docs/causal_effect_strength.md.
EXAMPLE = {
    "p_do_1": [0.3, 0.5, 0.2, 0.6],
    "p_do_0": [0.2, 0.5, 0.2, 0.5],
    "p_obs": [0.8, 0.7, 0.6, 0.3, 0.2, 0.1],
    "x_obs": [1, 1, 1, 0, 0, 0],
}


def test_worked_example_from_the_docs():
    assert interventional_difference(EXAMPLE["p_do_1"], EXAMPLE["p_do_0"]) == pytest.approx(0.05)
    assert observational_difference(EXAMPLE["p_obs"], EXAMPLE["x_obs"]) == pytest.approx(0.5)
    result = causal_effect_strength(**EXAMPLE)
    assert result["interventional"] == pytest.approx(0.05)
    assert result["observational"] == pytest.approx(0.5)
    assert result["ces"] == pytest.approx(-0.45)
    assert result["ces_low"] <= result["ces"] <= result["ces_high"]
    json.dumps(result)


def test_differences_match_loops():
    rng = np.random.default_rng(5)
    p1, p0, p = rng.random(30), rng.random(30), rng.random(50)
    x = rng.random(50) < 0.3
    loop_do = sum(a - b for a, b in zip(p1, p0)) / 30
    ones = [v for v, flag in zip(p, x) if flag]
    zeros = [v for v, flag in zip(p, x) if not flag]
    assert interventional_difference(p1, p0) == pytest.approx(loop_do)
    assert observational_difference(p, x) == pytest.approx(sum(ones) / len(ones) - sum(zeros) / len(zeros))
    assert observational_difference(p, x.astype(int)) == observational_difference(p, x)


def reference_ces_interval(p1, p0, p, x, n_boot, seed, confidence):
    """Independent resampling: paired units with rng(seed); observational units within each X level with rng(seed + 1)."""
    paired_rng, obs_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    ones, zeros = np.flatnonzero(x == 1), np.flatnonzero(x == 0)
    values = []
    for _ in range(n_boot):
        pairs = paired_rng.integers(0, len(p1), len(p1))
        zero_draw = obs_rng.choice(zeros, size=zeros.size)
        one_draw = obs_rng.choice(ones, size=ones.size)
        interventional = np.mean([p1[i] - p0[i] for i in pairs])
        observational = np.mean(p[one_draw]) - np.mean(p[zero_draw])
        values.append(interventional - observational)
    tail = (1 - confidence) / 2
    return np.quantile(values, tail), np.quantile(values, 1 - tail)


def test_ces_interval_matches_reference_resampling():
    rng = np.random.default_rng(11)
    p1, p0 = rng.uniform(0.3, 1, 25), rng.uniform(0, 0.7, 25)
    p, x = rng.random(40), (rng.random(40) < 0.4).astype(int)
    result = causal_effect_strength(p1, p0, p, x, n_boot=300, seed=3, confidence=0.9)
    low, high = reference_ces_interval(p1, p0, p, x, 300, 3, 0.9)
    assert (result["ces_low"], result["ces_high"]) == pytest.approx((low, high), abs=1e-12)
    assert result["ces"] == pytest.approx(np.mean(p1 - p0) - (p[x == 1].mean() - p[x == 0].mean()))
    assert result == causal_effect_strength(p1, p0, p, x, n_boot=300, seed=3, confidence=0.9)  # seeded
    assert result["ces_low"] != causal_effect_strength(p1, p0, p, x, n_boot=300, seed=4)["ces_low"]


def test_ces_interval_collapses_without_variation():
    # every paired difference is 0.2 and the probability is constant within each X level
    result = causal_effect_strength([0.7, 0.5, 0.9], [0.5, 0.3, 0.7], [0.9, 0.9, 0.1, 0.1, 0.1], [1, 1, 0, 0, 0])
    assert result["ces"] == pytest.approx(0.2 - 0.8)
    assert result["ces_low"] == pytest.approx(result["ces"]) and result["ces_high"] == pytest.approx(result["ces"])


@pytest.mark.parametrize(
    ("p_do_1", "p_do_0", "message"),
    [
        ([0.5, 0.5], [0.5], "paired"),
        ([], [], "empty"),
        ([0.5, 1.5], [0.5, 0.5], r"in \[0, 1\]"),
        ([0.5, np.nan], [0.5, 0.5], "NaN"),
    ],
)
def test_interventional_difference_rejects_bad_input(p_do_1, p_do_0, message):
    with pytest.raises(DataError, match=message):
        interventional_difference(p_do_1, p_do_0)


@pytest.mark.parametrize(
    ("p", "x", "message"),
    [
        ([0.5, 0.4], [1, 1], "no samples with X=0"),
        ([0.5, 0.4], [0, 0], "no samples with X=1"),
        ([0.5, 0.4], [0, 2], "binary"),
        ([0.5, 0.4], [0, 1, 1], "one per probability"),
        ([0.5, -0.1], [0, 1], r"in \[0, 1\]"),
    ],
)
def test_observational_difference_rejects_bad_input(p, x, message):
    with pytest.raises(DataError, match=message):
        observational_difference(p, x)


def test_causal_effect_strength_checks_options_and_inputs():
    with pytest.raises(ConfigError, match="n_boot"):
        causal_effect_strength(**EXAMPLE, n_boot=0)
    with pytest.raises(ConfigError, match="confidence"):
        causal_effect_strength(**EXAMPLE, confidence=1.0)
    with pytest.raises(DataError, match="no samples with X=1"):
        causal_effect_strength(EXAMPLE["p_do_1"], EXAMPLE["p_do_0"], [0.1, 0.2], [0, 0])
