"""The robustness protocol (`job: robustness`): config, study engine, runner."""

from defectlab.experiments.robustness.config import RobustnessConfig, ShiftSpec
from defectlab.experiments.robustness.runner import run_robustness_job, text_table

__all__ = ["RobustnessConfig", "ShiftSpec", "run_robustness_job", "text_table"]
