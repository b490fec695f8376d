"""`defectlab run`: fit, calibrate and evaluate every detector on every category, then report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.bundle.io import save_bundle
from defectlab.bundle.manifest import library_versions
from defectlab.data.formats import read_dataset
from defectlab.data.splits import apply, load_or_create_split
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.registry import make_detector
from defectlab.experiments.config import DetectionJobConfig
from defectlab.experiments.results import EvaluationResult
from defectlab.experiments.workflow import FitOptions, evaluate_bundle, fit_bundle


def run_detection_job(
    config: DetectionJobConfig, log: Callable[[str], None] = print, progress: bool = True
) -> list[EvaluationResult]:
    """Run the job and write bundles, splits and the report under `config.output`."""
    from defectlab.report.writer import write_report

    out = Path(config.output)
    cache = FeatureCache(default_cache_dir()) if config.cache else None
    results: list[EvaluationResult] = []
    for category in config.categories:
        label = category or "all"
        samples = read_dataset(config.data_root, config.data_format, category)
        split = load_or_create_split(out / "splits" / f"{label}.json", samples, config.split_rule, config.seed)
        train, val, test = apply(split, samples)
        log(f"[{label}] train {len(train)}, val {len(val)}, test {len(test)} (split {out / 'splits' / f'{label}.json'})")
        for entry in config.detectors:
            options = FitOptions(
                detector=entry.kind,
                detector_params=entry.params,
                features=config.features,
                threshold=config.threshold,
                holdout=config.holdout,
                seed=config.seed,
            )
            model = AnomalyModel(make_detector(entry.kind, entry.params), config.features, cache=cache)
            log(f"[{label}] fitting {entry.kind}")
            bundle, seconds = fit_bundle(
                train, val, options, model=model, category=label, dataset=config.data_format, progress=progress
            )
            save_bundle(out / "bundles" / f"{entry.kind}_{label}", bundle)
            result = evaluate_bundle(bundle, test, n_bootstrap=config.n_bootstrap, seed=config.seed, progress=progress)
            m = result.metrics
            log(f"[{label}] {entry.kind}: image AUROC {m['image_auroc']:.3f}, AUPRC {m['image_auprc']:.3f}, fit {seconds:.1f} s")
            results.append(result)
    provenance = {"versions": library_versions(), "seed": config.seed, "feature_cache": str(cache.root) if cache else None}
    write_report(out, results, title=f"defectlab: {config.name}", config=config.raw, provenance=provenance)
    return results
