"""`defectlab run` (a configured job) and `defectlab report` (rebuild a job's report), dispatched through
the job registry (`defectlab.experiments.jobs`)."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    config: Path = typer.Argument(..., metavar="CONFIG", help="Job config (YAML), e.g. configs/elpv.yaml."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute features instead of using the cache."),
) -> None:
    """Run the job a config names with `job:`: detection (the default; configs/elpv.yaml), robustness
    (configs/robustness.yaml), classification (configs/classification.yaml), router (configs/router.yaml),
    openset (configs/openset_*.yaml) or suite (the detection benchmark suite, configs/suite*.yaml). An
    unknown job is an error listing every registered one."""
    from defectlab.backbones.cache import FeatureCache, default_cache_dir
    from defectlab.experiments.jobs import load_job_config

    job, job_config = load_job_config(config)
    cache = None if no_cache else FeatureCache(default_cache_dir())
    typer.echo(job.run(job_config, typer.echo, cache))


def report(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="Results directory (holds results.json)."),
) -> None:
    """Rebuild a job's report (report.html, summary.md, plots/, tables/) from its saved results.json,
    whose `job` names the job."""
    from defectlab.errors import ConfigError
    from defectlab.experiments.jobs import job_named
    from defectlab.report.page import RESULTS, results_job

    job = job_named(results_job(results_dir), results_dir / RESULTS)
    if job.report is None:
        raise ConfigError(f"{results_dir / RESULTS}: job {job.name!r} writes its report as it runs; run it again instead")
    typer.echo(job.report(results_dir))
