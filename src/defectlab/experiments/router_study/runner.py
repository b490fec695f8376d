"""`defectlab run` with `job: router`: the multi-product study, one results directory.

Steps: the categories (ELPV cell types, synthetic products generated once) and their splits;
features of every image once (cached) with the router's embeddings; the router over every
category (accuracy, confusion); the router refitted without each held-out category (unknown
detection); every (category, detector) fitted once and measured; the routed system vs oracle
routing vs one global detector. Writes results.json, report.html (+ plots/, tables/, summary.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from defectlab.backbones.cache import FeatureCache
from defectlab.experiments.envelope import write_results
from defectlab.experiments.jobs import Job
from defectlab.experiments.router_study.config import RouterStudyConfig
from defectlab.experiments.router_study.context import StudyContext
from defectlab.experiments.router_study.data import load_categories
from defectlab.experiments.router_study.phases import (
    detectors_phase,
    fit_router,
    routing_phase,
    systems_phase,
    unknown_phase,
)
from defectlab.experiments.steps import StepTimer
from defectlab.report.router_report import write_router_report


def run_router_job(
    cfg: RouterStudyConfig,
    log: Callable[[str], None] = print,
    cache: FeatureCache | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study; returns the results written to ``cfg.output / "results.json"``."""
    cfg.output.mkdir(parents=True, exist_ok=True)
    timer = StepTimer(log)
    with timer.step("categories and splits"):
        categories = load_categories(cfg, log)
    ctx = StudyContext(cfg, categories, cache, log, progress)
    with timer.step(f"features of every image ({'through the cache' if cache else 'no cache'}) and router embeddings"):
        ctx.prepare_features()
        backbone_ms = ctx.backbone_ms_per_image()
    figures: dict[str, Any] = {
        "cache": cache is not None,
        "backbone_ms_per_image": backbone_ms,
        "categories": {
            name: {
                "source": c.source,
                "n_train": len(c.train),
                "n_router_train": len(c.router_train),
                "n_val": len(c.val),
                "n_test": len(c.test),
                "n_test_defective": int(c.labels.sum()),
                "masks": c.has_masks,
            }
            for name, c in categories.items()
        },
    }
    with timer.step("router over every category: accuracy and confusion"):
        router = fit_router(ctx, list(categories))
        figures["routing"] = routing_phase(ctx, router)
    if cfg.unknown_trials:
        with timer.step(f"unknown category: router refitted without each of {', '.join(cfg.unknown_trials)}"):
            figures["unknown"] = unknown_phase(ctx)
    with timer.step(f"detectors {', '.join(cfg.detectors)} on every category"):
        figures["detectors"] = detectors_phase(ctx)
    with timer.step(f"routed vs oracle vs global ({cfg.system_detector})"):
        figures["systems"] = systems_phase(ctx, router)
    results = write_results(cfg.output, JOB.name, cfg, cfg.seed, timer.timings(), **figures)
    write_router_report(cfg.output)
    log(f"done in {results['timings']['total_seconds'] / 60:.1f} min")
    return results


def _run(cfg: RouterStudyConfig, log: Callable[[str], None], cache: FeatureCache | None) -> str:
    run_router_job(cfg, log, cache)
    return f"report: {cfg.output / 'report.html'}"


JOB = Job("router", RouterStudyConfig, _run, write_router_report)
