"""The job registry: what `defectlab run CONFIG` and `defectlab report DIR` dispatch through.

A job is registered once, in ``REGISTRY``: its name (the config's ``job:`` and the results
envelope's ``job``), its config model, how it runs and how its report is rebuilt from ``results.json``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defectlab.backbones.cache import FeatureCache
from defectlab.config.base import parse_config, read_yaml
from defectlab.errors import ConfigError

DEFAULT_JOB = "detection"
"""The job of a config without a ``job:`` key."""


@dataclass(frozen=True)
class Job:
    """One study: ``run(config, log, cache)`` runs it and returns what the CLI prints afterwards;
    ``report(results_dir)`` rebuilds its report from the results directory and returns the page's path
    (None: the report is written by the run only)."""

    name: str
    config_model: type
    run: Callable[[Any, Callable[[str], None], FeatureCache | None], str]
    report: Callable[[Path], Path] | None = None


REGISTRY = {
    "detection": "defectlab.experiments.detection_job",
    "robustness": "defectlab.experiments.robustness.runner",
    "classification": "defectlab.experiments.classification.runner",
    "router": "defectlab.experiments.router_study.runner",
    "openset": "defectlab.experiments.openset.runner",
    "suite": "defectlab.experiments.suite.runner",
}
"""Every job: its name -> the module whose ``JOB`` registers it (imported only when the job is used).
Adding a job is one line here and a ``JOB = Job(...)`` in its module."""


def job_named(name: Any, where: str | Path) -> Job:
    """The registered job ``name``; ConfigError listing every job otherwise."""
    if name not in REGISTRY:
        raise ConfigError(f"{where}: job {name!r} unknown; valid: {', '.join(REGISTRY)}")
    job = importlib.import_module(REGISTRY[name]).JOB
    if not isinstance(job, Job) or job.name != name:
        raise TypeError(f"{REGISTRY[name]}.JOB does not register job {name!r}")
    return job


def registered_jobs() -> dict[str, Job]:
    """Every job by name (imports every job's module)."""
    return {name: job_named(name, "registry") for name in REGISTRY}


def job_config(raw: Mapping[str, Any], where: str | Path) -> tuple[Job, Any]:
    """The job a config mapping names (``job:``, default detection) and its validated config; ``where``
    (the file) names the problem in a ConfigError and its stem gives the defaults of ``name`` and ``output``."""
    values = dict(raw)
    job = job_named(values.pop("job", DEFAULT_JOB), where)
    return job, parse_config(job.config_model, values, where, context={"stem": Path(where).stem})


def load_job_config(path: Path) -> tuple[Job, Any]:
    """The job a YAML config file names and its validated config."""
    return job_config(read_yaml(path), path)
