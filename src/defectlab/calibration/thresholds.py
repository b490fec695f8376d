"""Decision thresholds on anomaly scores: a sample is anomalous when `score >= threshold`.

Three ways to choose one:
- "f1": the score value that maximises F1 on labelled scores (needs anomalies);
- "mean_std": mean + k * std of normal scores;
- "quantile": the smallest threshold that accepts (score < threshold) a given fraction of
  normal scores.
A threshold a person sets by hand (the UI slider, ``POST /v1/model/threshold``) has method "manual".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from defectlab.calibration.validation import finite_scores, labels_and_scores
from defectlab.errors import ConfigError, DataError

METHODS = ("f1", "mean_std", "quantile")
"""The methods :func:`calibrate` chooses by."""
MANUAL = "manual"
"""The method of a threshold set by hand."""


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold: its value, the method that chose it and that method's parameters."""

    value: float
    method: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in (*METHODS, MANUAL):
            raise ConfigError(f"unknown threshold method {self.method!r}; expected one of {(*METHODS, MANUAL)}")
        if not math.isfinite(self.value):
            raise ConfigError(f"threshold value must be finite, got {self.value}")

    def is_anomalous(self, scores: ArrayLike) -> np.ndarray:
        """Boolean array: True where `score >= value`."""
        return np.asarray(scores) >= self.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: {"value", "method", "params"}."""
        return {"value": float(self.value), "method": self.method, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Threshold:
        """Inverse of `to_dict`; raises ConfigError on missing keys or wrong types."""
        try:
            value, method, params = data["value"], data["method"], data.get("params", {})
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"threshold entry must have 'value' and 'method': {data!r}") from exc
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"threshold value must be a number, got {value!r}")
        if not isinstance(params, dict):
            raise ConfigError(f"threshold params must be a mapping, got {params!r}")
        return cls(value=float(value), method=str(method), params=dict(params))


def f1_optimal_threshold(labels: ArrayLike, scores: ArrayLike) -> float:
    """The score value t maximising F1 of the rule `score >= t`; ties go to the highest t.

    Candidates are the distinct score values, so the result is always an observed score (the
    lowest score still called anomalous). Raises DataError without anomalous samples.
    """
    label_array, score_array = labels_and_scores(labels, scores)
    n_anomalous = int(label_array.sum())
    if n_anomalous == 0:
        raise DataError("f1_optimal_threshold needs at least one anomalous sample")
    order = np.argsort(-score_array, kind="stable")
    sorted_scores = score_array[order]
    true_positives = np.cumsum(label_array[order])
    predicted = np.arange(1, sorted_scores.size + 1)
    # Keep the last position of each run of equal scores: that is "all samples >= this value".
    last_of_value = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    tp, n_predicted = true_positives[last_of_value], predicted[last_of_value]
    f1 = 2 * tp / (n_predicted + n_anomalous)
    return float(sorted_scores[last_of_value][np.argmax(f1)])


def mean_std_threshold(normal_scores: ArrayLike, k: float = 3.0) -> float:
    """mean + k * std of the normal scores (sample std, ddof=1).

    Raises DataError with fewer than 2 scores or when they are all equal.
    """
    if not math.isfinite(k):
        raise ConfigError(f"k must be finite, got {k}")
    scores = finite_scores(normal_scores, name="normal_scores")
    if scores.size < 2:
        raise DataError("mean_std_threshold needs at least 2 normal scores")
    std = scores.std(ddof=1)
    if std == 0.0:
        raise DataError("normal scores are all equal (std 0), so mean + k*std would flag them all")
    return float(scores.mean() + k * std)


def acceptance_quantile_threshold(normal_scores: ArrayLike, accept: float = 0.95) -> float:
    """Smallest threshold t with at least `accept` of the normal scores strictly below t.

    With the n scores sorted ascending and m = ceil(accept * n), t is the next float64 above
    the m-th score, so every score <= that one is accepted and each larger one is flagged.
    """
    if not 0.0 < accept <= 1.0:
        raise ConfigError(f"accept must be in (0, 1], got {accept}")
    scores = np.sort(finite_scores(normal_scores, name="normal_scores"))
    must_accept = max(1, math.ceil(accept * scores.size - 1e-9))
    return float(np.nextafter(scores[must_accept - 1], np.inf))


def calibrate(
    method: str,
    normal_scores: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    scores: ArrayLike | None = None,
    *,
    k: float | None = None,
    accept: float | None = None,
) -> Threshold:
    """Choose a Threshold by method name.

    "f1" uses `labels` and `scores`; "mean_std" (parameter k, default 3) and "quantile"
    (parameter accept, default 0.95) use `normal_scores`. Raises ConfigError on an unknown
    method, missing inputs, a parameter of another method, or "f1" without anomalies.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown threshold method {method!r}; expected one of {METHODS}")
    if k is not None and method != "mean_std":
        raise ConfigError(f"k is a parameter of 'mean_std', not of {method!r}")
    if accept is not None and method != "quantile":
        raise ConfigError(f"accept is a parameter of 'quantile', not of {method!r}")
    if method == "f1":
        if labels is None or scores is None:
            raise ConfigError("threshold method 'f1' needs labels and scores")
        if not np.any(np.asarray(labels) == 1):
            raise ConfigError("threshold method 'f1' needs at least one anomalous sample")
        return Threshold(f1_optimal_threshold(labels, scores), "f1")
    if normal_scores is None:
        raise ConfigError(f"threshold method {method!r} needs normal_scores")
    if method == "mean_std":
        k = 3.0 if k is None else k
        return Threshold(mean_std_threshold(normal_scores, k), "mean_std", {"k": float(k)})
    accept = 0.95 if accept is None else accept
    value = acceptance_quantile_threshold(normal_scores, accept)
    return Threshold(value, "quantile", {"accept": float(accept)})
