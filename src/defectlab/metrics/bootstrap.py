"""Bootstrap confidence intervals and paired tests for any metric `f(*arrays) -> float`.

Rows (axis 0) of all arrays are resampled jointly with replacement, so per-image arrays such as
(N, H, W) masks work as well as per-sample labels. Resamples where the metric is NaN (for
example a resample with one class only) are skipped; `stratify=True` resamples within each value
of the first array (the labels), which keeps the class counts and avoids those NaNs.
Everything is seeded and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from defectlab.errors import ConfigError, DataError

Metric = Callable[..., float]


class ConfidenceInterval(NamedTuple):
    """Metric on the full data and the percentile interval of its resampled values."""

    point: float
    low: float
    high: float


class PairedTest(NamedTuple):
    """metric(a) - metric(b) on the full data, its percentile interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float


def _as_rows(arrays: tuple[ArrayLike, ...]) -> list[np.ndarray]:
    if not arrays:
        raise ConfigError("bootstrap needs at least one array")
    rows = [np.asarray(array) for array in arrays]
    if any(row.ndim == 0 for row in rows):
        raise DataError("bootstrap arrays must have at least one dimension")
    lengths = sorted({len(row) for row in rows})
    if len(lengths) != 1:
        raise DataError(f"bootstrap arrays differ in length: {lengths}")
    if lengths == [0]:
        raise DataError("bootstrap arrays are empty")
    return rows


def _strata(rows: list[np.ndarray], stratify: bool) -> np.ndarray | None:
    if not stratify:
        return None
    if rows[0].ndim != 1:
        raise DataError(f"stratify needs 1-D labels as the first array, got shape {rows[0].shape}")
    return rows[0]


def _check_options(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")


def _resample_indices(strata: np.ndarray | None, n_rows: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    if strata is None:
        for _ in range(n_resamples):
            yield rng.integers(0, n_rows, size=n_rows)
        return
    groups = [np.flatnonzero(strata == value) for value in np.unique(strata)]
    for _ in range(n_resamples):
        yield np.concatenate([rng.choice(group, size=group.size) for group in groups])


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    metric_fn: Metric,
    *arrays: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
    stratify: bool = False,
) -> ConfidenceInterval:
    """Point estimate and percentile bootstrap interval of `metric_fn(*arrays)`.

    low/high are NaN when every resample gives NaN.
    """
    _check_options(n_resamples, confidence)
    rows = _as_rows(arrays)
    strata = _strata(rows, stratify)
    values = np.array(
        [metric_fn(*(row[index] for row in rows)) for index in _resample_indices(strata, len(rows[0]), n_resamples, seed)],
        dtype=np.float64,
    )
    return ConfidenceInterval(float(metric_fn(*rows)), *_percentiles(values, confidence))


def paired_bootstrap_test(
    metric_fn: Metric,
    labels: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
    stratify: bool = False,
) -> PairedTest:
    """Compare two scorers on the same samples: metric_fn(labels, a) - metric_fn(labels, b).

    Both scorers see the same resampled rows. The two-sided p-value inverts the percentile
    interval: p = min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1)) over the B resamples
    where both metrics are defined, so it never reads 0 and is NaN when B is 0.
    """
    _check_options(n_resamples, confidence)
    rows = _as_rows((labels, scores_a, scores_b))
    strata = _strata(rows, stratify)
    differences = np.array(
        [
            metric_fn(rows[0][index], rows[1][index]) - metric_fn(rows[0][index], rows[2][index])
            for index in _resample_indices(strata, len(rows[0]), n_resamples, seed)
        ],
        dtype=np.float64,
    )
    point = float(metric_fn(rows[0], rows[1]) - metric_fn(rows[0], rows[2]))
    finite = differences[~np.isnan(differences)]
    if finite.size == 0:
        p_value = float("nan")
    else:
        at_most_zero = int((finite <= 0).sum()) + 1
        at_least_zero = int((finite >= 0).sum()) + 1
        p_value = min(1.0, 2.0 * min(at_most_zero, at_least_zero) / (finite.size + 1))
    return PairedTest(point, *_percentiles(differences, confidence), p_value)
