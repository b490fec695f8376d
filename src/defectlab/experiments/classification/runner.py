"""`defectlab run` with `job: classification`: the ELPV classification study, one results directory.

Steps: backbone maps of every cell (cached); per class scheme, each model trained and tested on
clean and corrupted test images; the causal parts' ablation; the spurious-correlation splits; CES
of every factor for every binary model; DoWhy effect estimates with refuters; Grad-CAM and
occlusion explanations. Writes results.json, report.html (+ plots/, tables/, summary.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from defectlab.analysis.nuisance import measure_nuisances
from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.manifest import library_versions
from defectlab.classifiers.registry import build_classifier
from defectlab.data.elpv import read_elpv
from defectlab.data.sample import Sample
from defectlab.experiments.classification.config import ClassificationStudyConfig
from defectlab.experiments.classification.evidence import ces_phase, dowhy_phase, explanation_phase
from defectlab.experiments.classification.maps import MapSource
from defectlab.experiments.classification.models import Fitted
from defectlab.experiments.classification.phases import (
    Context,
    ablation,
    evaluate,
    fit_model,
    scheme_data,
    spurious_phase,
)
from defectlab.experiments.steps import timed
from defectlab.fileio import atomic_write_bytes, atomic_write_text, jsonable
from defectlab.report.classification_report import JOB, write_classification_report

EXPLAINED = ("attention", "causal")
"""Models whose explanations the report compares (the ERM head and the causal model)."""


def subsample(samples: list[Sample], max_cells: int | None, seed: int) -> list[Sample]:
    """A seeded sample of ``max_cells`` cells, stratified by (cell type, defect probability); all when None."""
    if max_cells is None or max_cells >= len(samples):
        return samples
    strata: dict[tuple[str, float], list[Sample]] = {}
    for s in samples:
        strata.setdefault((str(s.metadata.get("cell_type")), float(s.metadata.get("proba", 0))), []).append(s)
    rng = np.random.default_rng(seed)
    kept: list[Sample] = []
    for key in sorted(strata):
        members = strata[key]
        n = max(1, round(max_cells * len(members) / len(samples)))
        kept += [members[i] for i in sorted(rng.choice(len(members), size=min(n, len(members)), replace=False))]
    return kept


def run_classification_job(
    cfg: ClassificationStudyConfig,
    log: Callable[[str], None] = print,
    cache: FeatureCache | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study; returns the results written to ``cfg.output / "results.json"``."""
    started = time.perf_counter()
    cfg.output.mkdir(parents=True, exist_ok=True)
    steps: list[dict[str, Any]] = []
    done = timed(steps, log, "backbone maps of every ELPV cell")
    samples = subsample(read_elpv(), cfg.max_cells, cfg.seed)
    backbone = build_classifier("attention", 2, cfg.image_size, seed=cfg.seed)
    source = MapSource(backbone, cache)  # type: ignore[arg-type]
    maps = source.maps([s.image for s in samples], progress=progress)
    done()
    ctx = Context(cfg, samples, maps, source, log, progress)
    results: dict[str, Any] = {
        "job": JOB,
        "config": jsonable(asdict(cfg)),
        "seed": cfg.seed,
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "schemes": {},
    }
    spurious: dict[str, Any] = {}
    for variant in cfg.spurious:
        done = timed(steps, log, f"spurious correlation ({variant.name} tied to the label in {variant.tie:.0%})")
        spurious[variant.name] = spurious_phase(ctx, variant)
        done()
    if spurious:
        results["spurious"] = spurious
    binary: tuple[Any, dict[str, Fitted], dict[str, Any]] | None = None
    for scheme in cfg.schemes:
        data = scheme_data(ctx, scheme)
        rows, fitted, clean_p = {}, {}, {}
        for name in cfg.models:
            done = timed(steps, log, f"{scheme} · {name}")
            fitted[name] = fit_model(ctx, name, data)
            row = evaluate(fitted[name], data)
            clean_p[name] = row.pop("_clean_p")
            rows[name] = row
            done()
        results["schemes"][scheme] = {
            "class_names": list(data.train.class_names),
            "n_train": len(data.train),
            "n_val": len(data.val),
            "n_test": len(data.test),
            "models": rows,
        }
        if scheme == "elpv_binary":
            binary = (data, fitted, clean_p)
            if cfg.ablation:
                done = timed(steps, log, f"{scheme} · ablation of the causal parts")
                results["ablation"] = ablation(ctx, data, spurious)
                done()
    if binary is not None and cfg.effects:
        data, fitted, clean_p = binary
        done = timed(steps, log, "Causal Effect Strength per factor and model")
        measurements = measure_nuisances(data.test.images)
        results["ces"] = ces_phase(ctx, data, fitted, clean_p, measurements)
        done()
        done = timed(steps, log, "DoWhy effect estimates and refuters")
        results["dowhy"] = dowhy_phase(ctx, data, fitted, measurements)
        done()
    if binary is not None and cfg.explanations:
        data, fitted, _ = binary
        done = timed(steps, log, "Grad-CAM and occlusion explanations")
        explained = {name: fitted[name] for name in EXPLAINED if name in fitted}
        explanations = explanation_phase(ctx, data, explained)
        for title, png in explanations.pop("panels").items():
            atomic_write_bytes(cfg.output / "plots" / f"explanations_{title.replace(' ', '_')}.png", png)
        results["explanations"] = explanations
        done()
    results["timings"] = {"steps": steps, "total_seconds": round(time.perf_counter() - started, 1)}
    atomic_write_text(cfg.output / "results.json", json.dumps(jsonable(results), indent=1) + "\n")
    write_classification_report(cfg.output)
    log(f"done in {results['timings']['total_seconds'] / 60:.1f} min")
    return results
