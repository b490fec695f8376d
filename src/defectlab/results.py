"""What one evaluation produces: figures for tables, arrays for plots, examples for overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Example:
    """One test image with its anomaly map, for overlay grids."""

    id: str
    image: np.ndarray  # uint8 HxWx3 at the model's image size
    anomaly_map: np.ndarray  # float HxW, same size
    score: float
    label: int


@dataclass
class EvaluationResult:
    """Metrics and raw scores of one detector on one category's test set."""

    detector: str
    category: str
    metrics: dict[str, float | None]  # image_auroc, image_auprc, image_f1, ..., pixel_auroc, aupro (None: no masks)
    intervals: dict[str, tuple[float, float]]  # bootstrap 95% CI per headline metric
    threshold: float
    threshold_method: str
    labels: np.ndarray  # (N,) 0 normal / 1 anomalous
    scores: np.ndarray  # (N,)
    ids: list[str]
    most_anomalous: list[Example] = field(default_factory=list)
    least_anomalous: list[Example] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # fit_seconds, ms_per_image
    info: dict[str, Any] = field(default_factory=dict)  # n_train, bank size, fingerprint, ...

    @property
    def name(self) -> str:
        return f"{self.detector}/{self.category}"

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (no arrays)."""
        return {
            "detector": self.detector,
            "category": self.category,
            "metrics": self.metrics,
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "threshold": self.threshold,
            "threshold_method": self.threshold_method,
            "n_test": int(len(self.labels)),
            "n_anomalous": int(np.sum(self.labels)),
            "timings": self.timings,
            "info": self.info,
        }
