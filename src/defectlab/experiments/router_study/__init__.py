"""The multi-product study (`job: router`): category router, unknown products, routed vs oracle vs global, detectors compared."""

from defectlab.experiments.router_study.config import RouterStudyConfig
from defectlab.experiments.router_study.runner import run_router_job

__all__ = ["RouterStudyConfig", "run_router_job"]
