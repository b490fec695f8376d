"""Run the suite: per data set and model, fit on clean normals, evaluate clean, under each shift
without adaptation, and after a refit on the shifted training images; write one table."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.io import Bundle
from defectlab.data.sample import Sample
from defectlab.experiments.envelope import write_results
from defectlab.experiments.jobs import Job
from defectlab.experiments.steps import StepTimer
from defectlab.experiments.suite.config import ModelEntry, ShiftEntry, SuiteConfig
from defectlab.experiments.suite.data import SuiteData, load_suite_data
from defectlab.metrics.image import threshold_metrics
from defectlab.report.suite_report import suite_markdown, write_suite_report
from defectlab.shift.materialize import shift_sample
from defectlab.workflows.detection import FitOptions, evaluate_bundle, fit_bundle, make_model
from defectlab.workflows.results import EvaluationResult


@dataclass
class SuiteRun:
    """The rows of one suite run and what made them."""

    rows: list[dict[str, Any]]
    config: SuiteConfig
    seconds: float


def native_size(samples: Sequence[Sample]) -> int:
    """The most common shorter side of the images: the input size that neither up- nor downsamples."""
    return Counter(min(s.image.shape[:2]) for s in samples).most_common(1)[0][0]


def _shifted(samples: Sequence[Sample], shift: ShiftEntry, seed: int) -> list[Sample]:
    return [shift_sample(s, shift.corruption, shift.preset, shift.severity, seed) for s in samples]


def _row(result: EvaluationResult, bundle: Bundle, **keys: Any) -> dict[str, Any]:
    labels, scores = result.labels, result.scores
    at = threshold_metrics(labels, scores, bundle.threshold.value)
    normals = max(at.fp + at.tn, 1)
    m = result.metrics
    return {
        **keys,
        "image_auroc": m["image_auroc"],
        "pixel_auroc": m["pixel_auroc"],
        "aupro": m["aupro"],
        "f1": at.f1,
        "precision": at.precision,
        "recall": at.recall,
        "false_alarm_rate": at.fp / normals,
        "threshold_method": bundle.threshold.method,
        "fit_seconds": result.timings["fit_seconds"],
        "ms_per_image": result.timings["ms_per_image"],
        "n_test": int(len(labels)),
    }


class _Fitter:
    """Fits and evaluates one model entry on one data set."""

    def __init__(self, entry: ModelEntry, data: SuiteData, config: SuiteConfig, cache: FeatureCache | None) -> None:
        self.entry, self.data, self.config, self.cache = entry, data, config, cache
        self.features = entry.features(native_size(data.train))

    def fit(self, train: Sequence[Sample], val: Sequence[Sample]) -> Bundle:
        params = {"seed": self.config.seed, **self.entry.params}
        options = FitOptions(
            self.entry.detector,
            params,
            self.features,
            align=self.entry.align,
            augment=self.entry.augment,
            augment_copies=self.entry.augment_copies,
            seed=self.config.seed,
        )
        bundle, _ = fit_bundle(train, val, options, model=make_model(options, self.cache), category=self.data.name)
        return bundle

    def evaluate(self, bundle: Bundle, test: Sequence[Sample], **keys: Any) -> dict[str, Any]:
        if self.entry.test_time_standardization:
            bundle = replace(bundle, model=bundle.model.matched_to([s.image for s in test]))
        result = evaluate_bundle(bundle, test, n_examples=0, n_bootstrap=self.config.bootstrap, seed=self.config.seed)
        base = {"dataset": self.data.name, "family": self.data.family, "model": self.entry.name}
        return _row(result, bundle, **base, image_size=self.features.image_size, **keys)


def run_dataset(
    data: SuiteData, config: SuiteConfig, cache: FeatureCache | None, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Every model's clean, shifted and adapted rows on one data set."""
    rows = []
    shifts = [s for s in config.shifts if data.family in s.families]
    parts = ("train", "val", "test") if config.adapted else ("test",)  # only refits need shifted training images
    shifted = {s.name: {part: _shifted(getattr(data, part), s, config.seed) for part in parts} for s in shifts}
    for entry in config.models:
        fitter = _Fitter(entry, data, config, cache)
        started = time.perf_counter()
        clean = fitter.fit(data.train, data.val)
        clean_row = fitter.evaluate(clean, data.test, shift="clean", protocol="clean", phase="clean")
        rows.append(clean_row)
        for shift in shifts:
            images = shifted[shift.name]
            keys = {"shift": shift.name, "protocol": shift.protocol}
            rows.append(fitter.evaluate(clean, images["test"], **keys, phase="no_adaptation"))
            if config.adapted:
                refit = fitter.fit(images["train"], images["val"])
                rows.append(fitter.evaluate(refit, images["test"], **keys, phase="adapted"))
        seconds = time.perf_counter() - started
        log(f"[{data.name}] {entry.name}: clean image AUROC {clean_row['image_auroc']:.3f}, {seconds:.0f} s")
    return rows


def add_robustness_index(rows: list[dict[str, Any]]) -> None:
    """`ri` = shifted image AUROC / the same model's clean image AUROC on the same data set (in place)."""
    clean = {(r["dataset"], r["model"]): r["image_auroc"] for r in rows if r["phase"] == "clean"}
    for r in rows:
        base = clean.get((r["dataset"], r["model"]))
        r["ri"] = None if r["phase"] == "clean" or not base else float(r["image_auroc"] / base)


def run_suite(config: SuiteConfig, cache: FeatureCache | None = None, log: Callable[[str], None] = print) -> SuiteRun:
    """Run every data set and write `<output>/results.json` (rows, config, versions, seed, timings)."""
    timer = StepTimer(log, total=len(config.datasets))
    rows: list[dict[str, Any]] = []
    for name in config.datasets:
        with timer.step(f"data set {name}"):
            data = load_suite_data(name, config.data_root, config.output / "splits", config.seed)
            log(f"[{name}] train {len(data.train)}, val {len(data.val)}, test {len(data.test)}")
            rows += run_dataset(data, config, cache, log)
    add_robustness_index(rows)
    timings = timer.timings()
    write_results(config.output, JOB.name, config, config.seed, timings, rows=rows)
    return SuiteRun(rows, config, float(timings["total_seconds"]))


def _run(config: SuiteConfig, log: Callable[[str], None], cache: FeatureCache | None) -> str:
    run = run_suite(config, cache, log)
    return f"{suite_markdown(run.rows)}\n\nreport: {write_suite_report(config.output)}"


JOB = Job("suite", SuiteConfig, _run, write_suite_report)
