"""Run one open-set split end to end and write ``<output>/<name>/`` and ``<output>/summary.csv``.

Layout of a split's folder: ``split.json``; ``classifier/history.json``; ``embeddings/test.npz``
(whole-image and localized embeddings, logits, stage-1 scores, truth); ``osr/scores.csv`` (every
method's open-set score per test image); ``cascade/outcomes.csv`` (each approach's outcome per
test image with Mahalanobis); ``plots/``; ``metrics.json`` (config, seed, versions, timings, every
figure). ``summary.csv`` in the output folder holds one row per (split, approach, method) of every
split run so far.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.manifest import library_versions
from defectlab.experiments.openset.config import OpenSetConfig
from defectlab.experiments.openset.data import apply_split, load_or_create_split, read_samples
from defectlab.experiments.openset.evaluate import (
    APPROACHES,
    Representation,
    TestSet,
    curves,
    evaluate_all,
    evaluate_method,
    test_representations,
)
from defectlab.experiments.openset.models import fit_models, views
from defectlab.fileio import atomic_write_text, jsonable
from defectlab.pipelines.openset import METHODS
from defectlab.report.openset_report import write_openset_report

SUBDIRS = ("classifier", "embeddings", "osr", "cascade", "plots")
SUMMARY_FIELDS = (
    "split",
    "approach",
    "method",
    "closed_set_accuracy",
    "known_unknown_auroc",
    "fpr_at_95_tpr",
    "oscr",
    "macro_f1_with_unknown",
    "macro_f1_defects_only",
)


def ensure_data(config: OpenSetConfig, log: Callable[[str], None]) -> None:
    """Generate the synthetic dataset first when the config asks for it and ``root`` is absent."""
    data = config.data
    if data.generate is None or data.root is None or data.root.exists():
        return
    from defectlab.data.synth_steel import generate_steel_dataset

    log(f"[{config.name}] generating synthetic steel data in {data.root}")
    generate_steel_dataset(data.root, **data.generate)


def run_openset_job(
    config: OpenSetConfig, log: Callable[[str], None] = print, cache: FeatureCache | None = None
) -> dict[str, Any]:
    """Fit, evaluate and write one split; returns what metrics.json holds."""
    started = time.perf_counter()
    out = config.split_dir
    for sub in SUBDIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    ensure_data(config, log)
    defects, normals = read_samples(config)
    split = load_or_create_split(out / "split.json", defects, normals, config)
    data = apply_split(split, defects, normals)
    log(
        f"[{config.name}] known {list(data.known)} ({len(data.train)} train, {len(data.val)} val), "
        f"unknown {list(data.unknown)}; test {len(data.test)} defects + {len(data.good_test)} normal"
    )
    fitted, backbones, maps = fit_models(data, config, cache, log)
    test_samples = data.test + data.good_test
    test_views = views(test_samples, fitted.detector, fitted.classifier, backbones, maps)
    reps, tests = test_representations(test_views, fitted.whole, fitted.localized, data)
    results = evaluate_all(reps, tests, fitted.stage1_threshold)
    _write_outputs(out, config, fitted, reps, tests, test_samples)
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": jsonable(asdict(config)),
        "seed": config.seed,
        "versions": library_versions(),
        "sizes": {
            "train": len(data.train),
            "val": len(data.val),
            "test_defects": len(data.test),
            "test_normal": len(data.good_test),
        },
        "stage1_threshold": fitted.stage1_threshold,
        "localization": "learned defect region x anomaly map" if fitted.localized.region is not None else "anomaly map",
        "covariance": {
            "whole": fitted.whole.scorers["mahalanobis"].covariance_estimator,
            "localized": fitted.localized.head.scorers["mahalanobis"].covariance_estimator,
        },
        "results": results,
        "decision_method": config.method,
        "curves": {
            approach: curves(reps["localized" if approach == "cascade_localized" else "whole"], tests, config.method)
            for approach in ("one_stage", "cascade_localized")
        },
        "seconds": {**{k: round(v, 3) for k, v in fitted.seconds.items()}, "total": round(time.perf_counter() - started, 3)},
    }
    atomic_write_text(out / "metrics.json", json.dumps(jsonable(payload), indent=1) + "\n")
    _update_summary(config.output / "summary.csv", config.name, results)
    write_openset_report(out)
    return payload


def _write_outputs(out: Path, config: OpenSetConfig, fitted, reps: dict[str, Representation], tests: TestSet, samples) -> None:
    atomic_write_text(out / "classifier" / "history.json", json.dumps(jsonable(fitted.history), indent=1) + "\n")
    np.savez_compressed(
        out / "embeddings" / "test.npz",
        whole=reps["whole"].embeddings,
        whole_logits=reps["whole"].logits,
        localized=reps["localized"].embeddings,
        localized_logits=reps["localized"].logits,
        stage1_scores=tests.stage1_scores,
        classes=np.array(tests.classes),
        ids=np.array([s.id for s in samples]),
    )
    with open(out / "osr" / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "class", "known", *(f"{rep}_{m}" for rep in reps for m in METHODS)])
        scores = {rep: r.head.scores(r.embeddings, r.logits) for rep, r in reps.items()}
        for i, sample in enumerate(samples):
            row = [sample.id, tests.classes[i], bool(tests.is_known[i])]
            writer.writerow(row + [f"{scores[rep][m][i]:.6g}" for rep in reps for m in METHODS])
    with open(out / "cascade" / "outcomes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "truth", "stage1_score", *APPROACHES])
        outcomes = {
            a: evaluate_method(
                reps["localized" if a == "cascade_localized" else "whole"],
                tests,
                config.method,
                None if a == "one_stage" else fitted.stage1_threshold,
            )[1]
            for a in APPROACHES
        }
        truth = tests.truth()
        for i, sample in enumerate(samples):
            writer.writerow([sample.id, truth[i], f"{tests.stage1_scores[i]:.6g}", *(outcomes[a][i] for a in APPROACHES)])


def _update_summary(path: Path, split: str, results: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Replace this split's rows in the summary CSV, keeping the other splits'."""
    rows = []
    if path.is_file():
        with open(path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["split"] != split]
    for approach, methods in results.items():
        for method, metrics in methods.items():
            rows.append(
                {"split": split, "approach": approach, "method": method, **{k: f"{metrics[k]:.4f}" for k in SUMMARY_FIELDS[3:]}}
            )
    rows.sort(key=lambda r: (r["split"], r["approach"], r["method"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(SUMMARY_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
