"""Calibration: choose, store and load decision thresholds (`score >= threshold` is anomalous)."""

from defectlab.calibration.thresholds import (
    METHODS,
    Threshold,
    acceptance_quantile_threshold,
    calibrate,
    f1_optimal_threshold,
    mean_std_threshold,
)
from defectlab.calibration.thresholds_io import read_thresholds_json, write_thresholds_json

__all__ = [
    "METHODS",
    "Threshold",
    "acceptance_quantile_threshold",
    "calibrate",
    "f1_optimal_threshold",
    "mean_std_threshold",
    "read_thresholds_json",
    "write_thresholds_json",
]
