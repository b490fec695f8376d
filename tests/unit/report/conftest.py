"""Small fake evaluation results for the report tests."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.workflows.results import EvaluationResult, Example


def fake_result(
    detector: str = "patchcore",
    category: str = "mono",
    n: int = 20,
    n_anomalous: int = 6,
    seed: int = 0,
    pixel: bool = True,
    examples: int = 3,
) -> EvaluationResult:
    """A plausible result: anomalous images score higher; 32x32 example images and maps."""
    rng = np.random.default_rng(seed)
    labels = np.array([1] * n_anomalous + [0] * (n - n_anomalous))
    scores = rng.normal(0.0, 1.0, n) + 2.0 * labels
    ids = [f"img_{i:03d}" for i in range(n)]
    order = np.argsort(-scores)

    def example(i: int) -> Example:
        image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        amap = rng.random((32, 32)).astype(np.float32) * float(scores[i] - scores.min())
        return Example(ids[i], image, amap, float(scores[i]), int(labels[i]))

    return EvaluationResult(
        detector=detector,
        category=category,
        metrics={
            "image_auroc": 0.912345 if n_anomalous else float("nan"),
            "image_auprc": 0.80 if n_anomalous else float("nan"),
            "image_f1": 0.75 if n_anomalous else float("nan"),
            "image_precision": 0.7,
            "image_recall": 0.8 if n_anomalous else float("nan"),
            "image_false_alarm_rate": 0.1,
            "image_accuracy": 0.85,
            "pixel_auroc": 0.95 if pixel else None,
            "aupro": 0.81 if pixel else None,
        },
        intervals={"image_auroc": (0.85, 0.97)} if n_anomalous else {},
        threshold=1.0,
        threshold_method="f1_optimal",
        labels=labels,
        scores=scores,
        ids=ids,
        most_anomalous=[example(i) for i in order[:examples]],
        least_anomalous=[example(i) for i in order[::-1][:examples]],
        timings={"fit_seconds": 12.34, "ms_per_image": 41.5},
        info={"n_train": 50, "bank": np.int64(300)},
    )


@pytest.fixture(scope="module")
def two_results() -> list[EvaluationResult]:
    """Shared within a module: tests must not modify them."""
    return [fake_result(), fake_result("padim", "poly", seed=1, pixel=False)]


@pytest.fixture
def one_class_result() -> EvaluationResult:
    return fake_result("patchcore", "good-only", n=10, n_anomalous=0, seed=2)


@pytest.fixture
def make_result():
    """The fake_result factory, for tests that need their own variant."""
    return fake_result
