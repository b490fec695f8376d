"""The multi-product study (`job: router`): category router, unknown products, routed vs oracle vs global, detectors compared."""

from defectlab.experiments.router_study.config import RouterStudyConfig, load_router_config
from defectlab.experiments.router_study.runner import run_router_job

__all__ = ["RouterStudyConfig", "load_router_config", "run_router_job"]
