"""Shared input checks for labelled scores."""

import numpy as np
import pytest

from defectlab.calibration.validation import binary_labels, finite_scores, labels_and_scores
from defectlab.errors import DataError


def test_valid_inputs_are_converted():
    labels, scores = labels_and_scores([True, False, 1], np.array([1, 2, 3], dtype=np.float32))
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0, 1]
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("scores", [[], [[0.1]], [0.1, np.nan], [-np.inf], ["x"], [[0.1], [0.2, 0.3]]])
def test_finite_scores_rejects(scores):
    with pytest.raises(DataError):
        finite_scores(scores)


@pytest.mark.parametrize("labels", [[], [[0]], [0, 2], [0.5], [np.nan], ["good"], [[0], [0, 1]]])
def test_binary_labels_rejects(labels):
    with pytest.raises(DataError):
        binary_labels(labels)


def test_mismatched_lengths_name_both_shapes():
    with pytest.raises(DataError, match=r"\(2,\).*\(3,\)"):
        labels_and_scores([0, 1], [0.1, 0.2, 0.3])
