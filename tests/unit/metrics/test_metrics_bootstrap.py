"""Bootstrap intervals and paired tests: reference resampling, determinism, NaN handling."""

import numpy as np
import pytest

from defectlab.errors import ConfigError, DataError
from defectlab.metrics.bootstrap import bootstrap_ci, paired_bootstrap_test
from defectlab.metrics.image import auroc
from defectlab.metrics.pixel import pixel_auroc


def mean_metric(values):
    return float(np.mean(values))


def reference_percentile_ci(metric, arrays, n_resamples, confidence, seed):
    """Textbook loop: draw n row indices with replacement, recompute, take percentiles."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    for _ in range(n_resamples):
        index = rng.integers(0, n, size=n)
        values.append(metric(*[np.asarray(a)[index] for a in arrays]))
    values = np.array(values)
    values = values[~np.isnan(values)]
    tail = (1 - confidence) / 2
    return np.quantile(values, tail), np.quantile(values, 1 - tail)


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 120)
    return labels, rng.normal(size=120) + labels, rng.normal(size=120) + 0.3 * labels


def test_ci_matches_reference_loop(scored):
    labels, scores, _ = scored
    point, low, high = bootstrap_ci(auroc, labels, scores, n_resamples=200, confidence=0.9, seed=7)
    assert point == auroc(labels, scores)
    assert (low, high) == pytest.approx(reference_percentile_ci(auroc, (labels, scores), 200, 0.9, 7))
    assert low < point < high


def test_ci_width_of_a_mean_matches_the_normal_approximation():
    values = np.random.default_rng(0).normal(size=400)
    point, low, high = bootstrap_ci(mean_metric, values, n_resamples=2000)
    assert (high - low) == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.1)
    assert low < point < high


def test_ci_is_deterministic_and_seeded(scored):
    labels, scores, _ = scored
    first = bootstrap_ci(auroc, labels, scores, n_resamples=100)
    assert bootstrap_ci(auroc, labels, scores, n_resamples=100) == first
    assert bootstrap_ci(auroc, labels, scores, n_resamples=100, seed=1) != first
    assert first == bootstrap_ci(auroc, labels, scores, n_resamples=100, seed=42)


def test_ci_skips_nan_resamples():
    labels = np.array([1, 1] + [0] * 8)  # about a fifth of the resamples miss both anomalies
    scores = np.array([0.9, 0.3, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05])
    resample_values = []

    def recording_auroc(y, s):
        resample_values.append(auroc(y, s))
        return resample_values[-1]

    point, low, high = bootstrap_ci(recording_auroc, labels, scores, n_resamples=300)
    assert np.isnan(resample_values[:-1]).any()
    assert point == auroc(labels, scores)
    assert (low, high) == pytest.approx(reference_percentile_ci(auroc, (labels, scores), 300, 0.95, 42))


def test_ci_is_nan_when_every_resample_is_nan():
    point, low, high = bootstrap_ci(auroc, [0, 0, 0], [0.1, 0.2, 0.3], n_resamples=20)
    assert np.isnan(point) and np.isnan(low) and np.isnan(high)


def test_stratified_resampling_keeps_class_counts(scored):
    labels, scores, _ = scored
    count = int(labels.sum())
    point, low, high = bootstrap_ci(lambda y, s: float(y.sum()), labels, scores, n_resamples=50, stratify=True)
    assert point == low == high == count
    _, low, high = bootstrap_ci(lambda y, s: float(y.sum()), labels, scores, n_resamples=50)
    assert low < count < high


def test_rows_of_image_stacks_are_resampled_jointly():
    rng = np.random.default_rng(0)
    masks = (rng.random((12, 8, 8)) < 0.2).astype(np.uint8)
    maps = rng.random(masks.shape) + masks
    point, low, high = bootstrap_ci(pixel_auroc, masks, maps, n_resamples=50)
    assert point == pixel_auroc(masks, maps)
    assert low <= point <= high


@pytest.mark.parametrize(
    ("arrays", "error"),
    [
        (([0, 1], [0.5]), DataError),
        (([], []), DataError),
        ((0.5,), DataError),
        ((), ConfigError),
    ],
)
def test_ci_rejects_bad_arrays(arrays, error):
    with pytest.raises(error):
        bootstrap_ci(mean_metric, *arrays)


@pytest.mark.parametrize("options", [{"n_resamples": 0}, {"confidence": 1.0}, {"confidence": 0.0}])
def test_ci_rejects_bad_options(options):
    with pytest.raises(ConfigError):
        bootstrap_ci(mean_metric, [1.0, 2.0], **options)


def test_stratify_needs_1d_labels():
    with pytest.raises(DataError, match="stratify"):
        bootstrap_ci(mean_metric, np.zeros((4, 2)), stratify=True)


def test_paired_test_identical_scorers(scored):
    labels, scores, _ = scored
    result = paired_bootstrap_test(auroc, labels, scores, scores, n_resamples=200)
    assert result.difference == result.low == result.high == 0.0
    assert result.p_value == 1.0


def test_paired_test_detects_a_better_scorer(scored):
    labels, better, worse = scored
    result = paired_bootstrap_test(auroc, labels, better, worse, n_resamples=500, confidence=0.9)
    assert result.difference == pytest.approx(auroc(labels, better) - auroc(labels, worse))
    assert 0 < result.low < result.difference < result.high
    assert result.p_value < 0.05
    reverse = paired_bootstrap_test(auroc, labels, worse, better, n_resamples=500, confidence=0.9)
    assert reverse.difference == -result.difference and reverse.p_value == result.p_value


def test_paired_test_p_value_matches_its_definition(scored):
    labels, a, _ = scored
    rng = np.random.default_rng(5)
    b = a + rng.normal(scale=0.5, size=a.size)  # close competitor: p-value strictly inside (0, 1)
    result = paired_bootstrap_test(auroc, labels, a, b, n_resamples=300, seed=11)
    generator = np.random.default_rng(11)
    differences = []
    for _ in range(300):
        index = generator.integers(0, a.size, size=a.size)
        differences.append(auroc(labels[index], a[index]) - auroc(labels[index], b[index]))
    differences = np.array(differences)
    expected = min(1.0, 2 * min((differences <= 0).sum() + 1, (differences >= 0).sum() + 1) / 301)
    assert result.p_value == pytest.approx(expected)
    assert 0 < result.p_value < 1
    assert paired_bootstrap_test(auroc, labels, a, b, n_resamples=300, seed=11) == result


def test_paired_test_with_one_class_is_nan():
    result = paired_bootstrap_test(auroc, [0, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1], n_resamples=20)
    assert all(np.isnan(value) for value in result)
