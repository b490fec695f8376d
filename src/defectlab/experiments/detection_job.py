"""`defectlab run` with `job: detection` (the main job): fit, calibrate and evaluate every detector on every
category, then write results.json and the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.io import save_bundle
from defectlab.data.formats import read_dataset
from defectlab.data.splits import apply, load_or_create_split
from defectlab.experiments.configs.detection import DetectionJobConfig
from defectlab.experiments.envelope import write_results
from defectlab.experiments.jobs import Job
from defectlab.experiments.steps import StepTimer
from defectlab.report.tables import text_table
from defectlab.report.writer import write_report
from defectlab.workflows.detection import FitOptions, evaluate_bundle, fit_bundle, make_model
from defectlab.workflows.results import EvaluationResult


def run_detection_job(
    config: DetectionJobConfig, log: Callable[[str], None] = print, cache: FeatureCache | None = None, progress: bool = True
) -> list[EvaluationResult]:
    """Run the job and write bundles, splits, results.json and the report under `config.output`.

    Features go through `cache` unless the config turns the cache off (`cache: false`)."""
    out = Path(config.output)
    cache = cache if config.cache else None
    timer = StepTimer(log)
    results: list[EvaluationResult] = []
    dataset = config.dataset
    for category in dataset.categories:
        label = category or "all"
        samples = read_dataset(dataset.root, dataset.format, category)
        split = load_or_create_split(out / "splits" / f"{label}.json", samples, dataset.split_rule, config.seed)
        train, val, test = apply(split, samples)
        log(f"[{label}] train {len(train)}, val {len(val)}, test {len(test)} (split {out / 'splits' / f'{label}.json'})")
        for entry in config.detectors:
            options = FitOptions(
                detector=entry.kind,
                detector_params=entry.params,
                features=config.features,
                threshold=config.threshold,
                holdout=config.holdout,
                align=config.align,
                seed=config.seed,
            )
            model = make_model(options, cache)
            with timer.step(f"[{label}] fitting {entry.kind}"):
                bundle, seconds = fit_bundle(
                    train, val, options, model=model, category=label, dataset=dataset.format, progress=progress
                )
                save_bundle(out / "bundles" / f"{entry.kind}_{label}", bundle)
                result = evaluate_bundle(bundle, test, n_bootstrap=config.bootstrap, seed=config.seed, progress=progress)
            m = result.metrics
            log(f"[{label}] {entry.kind}: image AUROC {m['image_auroc']:.3f}, AUPRC {m['image_auprc']:.3f}, fit {seconds:.1f} s")
            results.append(result)
    title = f"defectlab: {config.name}"
    record = write_results(
        out,
        JOB.name,
        config,
        config.seed,
        timer.timings(),
        title=title,
        feature_cache=str(cache.root) if cache else None,
        results=[r.summary() for r in results],
    )
    write_report(out, results, title, record)
    return results


def _run(config: DetectionJobConfig, log: Callable[[str], None], cache: FeatureCache | None) -> str:
    results = run_detection_job(config, log, cache)
    return f"{text_table(results)}\nreport: {config.output / 'report.html'}"


JOB = Job("detection", DetectionJobConfig, _run)
"""The detection job writes its report as it runs (the report's plots need the evaluated images)."""
