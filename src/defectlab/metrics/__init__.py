"""Metrics: pure functions from arrays to floats (higher score = more anomalous)."""

from defectlab.metrics.bootstrap import ConfidenceInterval, PairedTest, bootstrap_ci, paired_bootstrap_test
from defectlab.metrics.classification import (
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
from defectlab.metrics.delong import DeLongResult, delong_ci, delong_test
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
from defectlab.metrics.pixel import aupro, pixel_auroc

__all__ = [
    "ConfidenceInterval",
    "DeLongResult",
    "PairedTest",
    "ThresholdMetrics",
    "aupro",
    "auprc",
    "auroc",
    "bootstrap_ci",
    "causal_effect_strength",
    "classification_metrics",
    "confusion_matrix",
    "delong_ci",
    "delong_test",
    "f1_at",
    "group_accuracies",
    "group_report",
    "interventional_difference",
    "mean_group_accuracy",
    "observational_difference",
    "paired_bootstrap_test",
    "pixel_auroc",
    "pr_curve",
    "robustness_index",
    "roc_curve",
    "threshold_metrics",
    "worst_group_accuracy",
]
