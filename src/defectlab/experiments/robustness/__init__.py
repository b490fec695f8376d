"""The robustness protocol (`job: robustness`): config, study engine, runner."""

from defectlab.experiments.robustness.config import RobustnessConfig, ShiftSpec, load_robustness_config, read_job_kind
from defectlab.experiments.robustness.runner import run_robustness_job, text_table

__all__ = ["RobustnessConfig", "ShiftSpec", "load_robustness_config", "read_job_kind", "run_robustness_job", "text_table"]
