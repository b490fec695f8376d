"""The open-set head: thresholds from validation only, decisions per method, the linear head."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.errors import ConfigError, DataError, NotFittedError
from defectlab.pipelines.openset import METHODS, UNKNOWN, LinearHead, OpenSetHead, closed_set_predictions


def blobs(n: int, seed: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(centres), n)
    return centres[y] + rng.normal(0, 1, (n, centres.shape[1])), y


CENTRES = np.array([[0.0, 0, 0, 0], [6, 0, 0, 0], [0, 6, 0, 0]])
UNKNOWN_CENTRE = np.array([[0.0, 0, 8, 8]])


@pytest.fixture(scope="module")
def fitted() -> tuple[OpenSetHead, LinearHead]:
    train_x, train_y = blobs(300, 0, CENTRES)
    val_x, _ = blobs(200, 1, CENTRES)
    linear = LinearHead().fit(train_x, train_y)
    head = OpenSetHead(("a", "b", "c")).fit(train_x, train_y, val_x, linear.logits(val_x), linear.final_layer())
    return head, linear


def test_linear_head_classifies_known_classes(fitted) -> None:
    _, linear = fitted
    test_x, test_y = blobs(200, 2, CENTRES)
    assert np.mean(linear.logits(test_x).argmax(axis=1) == test_y) > 0.97
    assert closed_set_predictions(np.array([[0.0, 2.0, 1.0]]), ("a", "b", "c")) == ["b"]
    weight, bias = linear.final_layer()
    assert np.allclose(test_x @ weight.T + bias, linear.logits(test_x))


def test_thresholds_accept_the_share_of_validation_images(fitted) -> None:
    head, linear = fitted
    val_x, _ = blobs(200, 1, CENTRES)
    scores = head.scores(val_x, linear.logits(val_x))
    assert set(head.thresholds) == set(METHODS)
    for method in METHODS:
        assert np.mean(scores[method] <= head.thresholds[method]) == pytest.approx(0.95, abs=0.01)
    probabilities = np.exp(linear.logits(val_x))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert np.mean(probabilities.max(axis=1) >= head.kappa) == pytest.approx(0.95, abs=0.01)


def test_mahalanobis_flags_unknowns_that_softmax_accepts(fitted) -> None:
    head, linear = fitted
    unknown_x, _ = blobs(100, 3, UNKNOWN_CENTRE)
    known_x, known_y = blobs(100, 4, CENTRES)
    mahalanobis = head.decide(unknown_x, linear.logits(unknown_x), "mahalanobis")
    assert np.mean(np.array(mahalanobis) == UNKNOWN) > 0.95
    known = head.decide(known_x, linear.logits(known_x), "mahalanobis")
    hits = [d == "abc"[k] for d, k in zip(known, known_y)]
    assert np.mean(hits) > 0.85
    with_kappa = head.decide(known_x, linear.logits(known_x), "mahalanobis", use_kappa=True)
    assert sum(d == UNKNOWN for d in with_kappa) >= sum(d == UNKNOWN for d in known)


def test_bad_input(fitted) -> None:
    head, linear = fitted
    x, _ = blobs(5, 5, CENTRES)
    with pytest.raises(ConfigError, match="unknown open-set method"):
        head.decide(x, linear.logits(x), "entropy")
    with pytest.raises(DataError, match="logits"):
        head.scores(x, np.zeros((5, 2)))
    with pytest.raises(NotFittedError):
        OpenSetHead(("a", "b")).decide(x, np.zeros((5, 2)))
    with pytest.raises(NotFittedError):
        LinearHead().logits(x)
    with pytest.raises(ConfigError, match="distinct"):
        OpenSetHead(("a", "a"))
    with pytest.raises(ConfigError, match="not 'unknown'"):
        OpenSetHead(("a", "unknown"))
