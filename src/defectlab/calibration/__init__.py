"""Calibration: choose, store and load decision thresholds (`score >= threshold` is anomalous)."""

from defectlab.calibration.rates import ErrorRates, RateCurve, candidate_thresholds, error_rates, rate_curve
from defectlab.calibration.scores import CalibrationScores
from defectlab.calibration.thresholds import (
    MANUAL,
    METHODS,
    Threshold,
    acceptance_quantile_threshold,
    calibrate,
    f1_optimal_threshold,
    mean_std_threshold,
)
from defectlab.calibration.thresholds_io import read_thresholds_json, write_thresholds_json

__all__ = [
    "MANUAL",
    "METHODS",
    "CalibrationScores",
    "ErrorRates",
    "RateCurve",
    "Threshold",
    "acceptance_quantile_threshold",
    "calibrate",
    "candidate_thresholds",
    "error_rates",
    "f1_optimal_threshold",
    "mean_std_threshold",
    "rate_curve",
    "read_thresholds_json",
    "write_thresholds_json",
]
