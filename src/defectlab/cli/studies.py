"""`defectlab run` (a configured job or study) and `defectlab report` (rebuild a study's report)."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    config: Path = typer.Argument(..., metavar="CONFIG", help="Job config (YAML), e.g. configs/elpv.yaml."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute features instead of using the cache."),
) -> None:
    """Run a configured job: `job: detection` (the main job, configs/elpv.yaml), `job: robustness`
    (clean -> shifted -> adapted, configs/robustness.yaml), `job: classification` (baselines vs the
    causal classifier, configs/classification.yaml), `job: router` (multi-product inspection,
    configs/router.yaml) or `job: openset` (one known/unknown split: one-stage open-set
    recognition vs the anomaly-gated cascade, configs/openset_*.yaml)."""
    from defectlab.backbones.cache import FeatureCache, default_cache_dir
    from defectlab.experiments import robustness

    kind, raw = robustness.read_job_kind(config)
    cache = None if no_cache else FeatureCache(default_cache_dir())
    if kind == "router":
        from defectlab.experiments.router_study.config import load_router_config
        from defectlab.experiments.router_study.runner import run_router_job

        router_cfg = load_router_config(config, raw)
        run_router_job(router_cfg, log=typer.echo, cache=cache)
        typer.echo(f"report: {router_cfg.output / 'report.html'}")
    elif kind == "openset":
        from defectlab.experiments.openset.runner import run_openset_job
        from defectlab.workflows.openset.config import load_openset_config

        ocfg = load_openset_config(config, raw)
        run_openset_job(ocfg, log=typer.echo, cache=cache)
        typer.echo(f"results: {ocfg.split_dir / 'metrics.json'}; summary: {ocfg.output / 'summary.csv'}")
    elif kind == "classification":
        from defectlab.experiments.classification.config import load_classification_config
        from defectlab.experiments.classification.runner import run_classification_job

        ccfg = load_classification_config(config, raw)
        run_classification_job(ccfg, log=typer.echo, cache=cache)
        typer.echo(f"report: {ccfg.output / 'report.html'}")
    elif kind == "robustness":
        rcfg = robustness.load_robustness_config(config, raw)
        study = robustness.run_robustness_job(rcfg, log=typer.echo, cache=cache)
        typer.echo(robustness.text_table(study))
        typer.echo(f"report: {rcfg.output / 'report.html'}")
    else:
        _run_detection(config, no_cache)


def _run_detection(config: Path, no_cache: bool) -> None:
    """The main job (`job: detection`): its feature cache is a config switch."""
    from defectlab.experiments.config import load_job_config
    from defectlab.experiments.detection_job import run_detection_job
    from defectlab.report.tables import text_table

    cfg = load_job_config(config)
    if no_cache:
        cfg.cache = False
    results = run_detection_job(cfg, log=typer.echo)
    typer.echo(text_table(results))
    typer.echo(f"report: {cfg.output / 'report.html'}")


def report(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="Study results directory (holds results.json)."),
) -> None:
    """Rebuild a study's report (report.html, summary.md, plots/, tables/) from its saved results:
    a robustness, classification or router study (results.json), or one open-set split (metrics.json)."""
    from defectlab.report.classification_report import is_classification_results, write_classification_report
    from defectlab.report.openset_report import write_openset_report
    from defectlab.report.robustness_report import write_robustness_report
    from defectlab.report.router_report import is_router_results, write_router_report

    if is_classification_results(results_dir):
        typer.echo(write_classification_report(results_dir))
    elif is_router_results(results_dir):
        typer.echo(write_router_report(results_dir))
    elif (results_dir / "metrics.json").is_file() and not (results_dir / "results.json").is_file():
        typer.echo(write_openset_report(results_dir))
    else:
        typer.echo(write_robustness_report(results_dir))
