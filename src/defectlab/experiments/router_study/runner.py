"""`defectlab run` with `job: router`: the multi-product study, one results directory.

Steps: the categories (ELPV cell types, synthetic products generated once) and their splits;
features of every image once (cached) with the router's embeddings; the router over every
category (accuracy, confusion); the router refitted without each held-out category (unknown
detection); every (category, detector) fitted once and measured; the routed system vs oracle
routing vs one global detector. Writes results.json, report.html (+ plots/, tables/, summary.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.manifest import library_versions
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
from defectlab.experiments.router_study.targets import check_targets
from defectlab.experiments.steps import timed
from defectlab.fileio import atomic_write_text, jsonable
from defectlab.report.router_report import JOB, write_router_report


def run_router_job(
    cfg: RouterStudyConfig,
    log: Callable[[str], None] = print,
    cache: FeatureCache | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study; returns the results written to ``cfg.output / "results.json"``."""
    started = time.perf_counter()
    cfg.output.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = []

    done = timed(steps, log, "categories and splits")
    categories = load_categories(cfg, log)
    done()
    ctx = StudyContext(cfg, categories, cache, log, progress)
    done = timed(steps, log, f"features of every image ({'through the cache' if cache else 'no cache'}) and router embeddings")
    ctx.prepare_features()
    backbone_ms = ctx.backbone_ms_per_image()
    done()
    results: dict[str, Any] = {
        "job": JOB,
        "config": jsonable(asdict(cfg)),
        "seed": cfg.seed,
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
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
    done = timed(steps, log, "router over every category: accuracy and confusion")
    router = fit_router(ctx, list(categories))
    results["routing"] = routing_phase(ctx, router)
    done()
    if cfg.unknown_trials:
        done = timed(steps, log, f"unknown category: router refitted without each of {', '.join(cfg.unknown_trials)}")
        results["unknown"] = unknown_phase(ctx)
        done()
    done = timed(steps, log, f"detectors {', '.join(cfg.detectors)} on every category")
    results["detectors"] = detectors_phase(ctx)
    done()
    done = timed(steps, log, f"routed vs oracle vs global ({cfg.system_detector})")
    results["systems"] = systems_phase(ctx, router)
    done()
    results["targets"] = check_targets(results)
    results["timings"] = {"steps": steps, "total_seconds": round(time.perf_counter() - started, 1)}
    atomic_write_text(cfg.output / "results.json", json.dumps(jsonable(results), indent=1) + "\n")
    write_router_report(cfg.output)
    log(f"done in {results['timings']['total_seconds'] / 60:.1f} min")
    return results
