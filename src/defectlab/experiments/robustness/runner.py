"""`defectlab run` with `job: robustness`: every phase of the protocol, one results directory.

Per category and detector: clean (fit and calibrate on clean train/val, test clean); shift
without adaptation (same model and threshold on the shifted test); shift adapted (refit and
recalibrate on shifted train/val); few-shot adaptation (k shifted normals join the clean model);
cross-shift (the model adapted to one shift tested on another); ablations; severity curves.
Across categories: one global model on the pooled normals, and cross-domain transfer (train on
one category, test on another, without and with k target normals). The Robustness Index is
metric / reference metric (the clean model of the same category and detector).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import numpy as np

from defectlab.analysis.embeddings import project_2d, sample_patch_embeddings
from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.io import Bundle
from defectlab.bundle.manifest import library_versions
from defectlab.data.sample import Sample
from defectlab.errors import ModelError
from defectlab.experiments.robustness.config import RobustnessConfig, ShiftSpec
from defectlab.experiments.robustness.study import CLEAN, HEADLINE, Evaluation, Study
from defectlab.fileio import atomic_write_bytes, atomic_write_text, jsonable
from defectlab.metrics.delong import delong_test
from defectlab.report.robustness_report import write_robustness_report


def run_robustness_job(config: RobustnessConfig, log: Callable[[str], None] = print, cache: FeatureCache | None = None) -> Study:
    """Run every configured phase; write results.json, robustness.csv, arrays, galleries and the report.

    `cache` keeps feature maps on disk between phases and runs; without one, features are recomputed.
    """
    study = Study(config, log, cache)
    total = _count_steps(config)
    started = time.perf_counter()

    def announce(what: str) -> None:
        now = time.perf_counter()
        if study.steps:
            study.steps[-1]["seconds"] = round(now - study.steps[-1].pop("_start"), 2)
        study.steps.append({"step": what, "_start": now})
        log(f"[{len(study.steps)}/{total}] {what}")

    clean_models: dict[tuple[str, str], Bundle] = {}
    for category in config.categories:
        label = category or "all"
        for kind in config.detectors:
            announce(f"{label} · {kind} · clean, shifted, adapted")
            clean_models[label, kind] = _clean_and_shifts(study, category, kind)
            if config.few_shot:
                announce(f"{label} · {kind} · few-shot adaptation to {config.few_shot.shift.name}")
                _few_shot(study, category, kind, clean_models[label, kind])
            if config.cross_shift and len(config.shifts) > 1:
                announce(f"{label} · {kind} · cross-shift")
                _cross_shift(study, category, kind)
            if _has_ablations(config) and _chosen(config.ablations.categories, category):
                announce(f"{label} · {kind} · ablations")
                _ablations(study, category, kind, clean_models[label, kind])
            if config.severity and _chosen(config.severity.categories, category):
                announce(f"{label} · {kind} · severity curves")
                _severity(study, category, kind, clean_models[label, kind])
        if config.embeddings:
            announce(f"{label} · embeddings")
            _embeddings(study, category)
        study.forget_shifts()
    if config.global_model and len(config.categories) > 1:
        for kind in config.detectors:
            announce(f"global {kind} on the pooled normals of {len(config.categories)} categories")
            _global(study, kind)
    if config.cross_domain:
        for kind in config.detectors:
            announce(f"cross-domain · {kind}")
            _cross_domain(study, kind, clean_models)
    announce("paired tests, results and report")
    write_results(study)
    study.steps[-1]["seconds"] = round(time.perf_counter() - study.steps[-1].pop("_start"), 2)
    study.total_seconds = round(time.perf_counter() - started, 2)
    atomic_write_text(
        study.output / "timings.json", json.dumps({"total_seconds": study.total_seconds, "steps": study.steps}, indent=2) + "\n"
    )
    log(f"done in {study.total_seconds / 60:.1f} min")
    return study


def _chosen(categories: list[str] | None, category: str | None) -> bool:
    return categories is None or category in categories


def _count_steps(config: RobustnessConfig) -> int:
    """How many progress steps `run_robustness_job` announces."""
    total = 0
    for category in config.categories:
        per_detector = 1 + bool(config.few_shot) + (config.cross_shift and len(config.shifts) > 1)
        per_detector += _has_ablations(config) and _chosen(config.ablations.categories, category)
        per_detector += bool(config.severity) and _chosen(config.severity.categories, category)
        total += len(config.detectors) * per_detector + bool(config.embeddings)
    total += len(config.detectors) * ((config.global_model and len(config.categories) > 1) + bool(config.cross_domain))
    return total + 1


def _has_ablations(config: RobustnessConfig) -> bool:
    a = config.ablations
    return bool(a.coreset_ratio or a.layers or a.aggregation or a.shifts)


def _clean_and_shifts(study: Study, category: str | None, kind: str) -> Bundle:
    label = category or "all"
    clean = study.clean(category)
    bundle = study.fit(clean.train, clean.val, study.options(kind), label)
    result = study.evaluate(bundle, clean.test, category=label, phase="clean", shift=CLEAN, train=f"{label}/clean", gallery=True)
    study.set_reference(label, kind, "", result.record["metrics"])
    for spec in study.config.shifts:
        shifted = study.shifted(category, spec)
        degraded = study.evaluate(
            bundle, shifted.test, category=label, phase="shift_no_adaptation", shift=spec.name, train=f"{label}/clean"
        )
        adapted_bundle = study.fit(shifted.train, shifted.val, study.options(kind), label, study.extra_draws(category, spec))
        adapted = study.evaluate(
            adapted_bundle,
            shifted.test,
            category=label,
            phase="shift_adapted",
            shift=spec.name,
            train=f"{label}/{spec.name}",
            gallery=True,
        )
        study.log(f"    {spec.name}: image AUROC clean {_f(result)} -> shifted {_f(degraded)} -> adapted {_f(adapted)}")
    return bundle


def _f(evaluation: Evaluation) -> str:
    value = evaluation.record["metrics"]["image_auroc"]
    return "n/a" if value is None else f"{value:.3f}"


def _shots(samples: list[Sample], k: int, seed: int) -> list[Sample]:
    """The first k of a seeded order, so the shots for a larger k include those of a smaller one."""
    order = np.random.default_rng(seed).permutation(len(samples))
    return [samples[i] for i in order[:k]]


def _adapt_or_skip(study: Study, bundle: Bundle, shots: list[Sample]) -> Bundle | None:
    try:
        return study.adapted(bundle, shots)
    except ModelError as exc:
        study.log(f"    skipped: {exc}")
        return None


def _few_shot(study: Study, category: str | None, kind: str, bundle: Bundle) -> None:
    label = category or "all"
    few = study.config.few_shot
    assert few is not None
    shifted = study.shifted(category, few.shift)
    normals = shifted.train_normals
    line = []
    for k in few.k:
        if k > len(normals):
            continue
        adapted = _adapt_or_skip(study, bundle, _shots(normals, k, study.config.seed))
        if adapted is None:
            return
        e = study.evaluate(
            adapted,
            shifted.test,
            category=label,
            phase="few_shot",
            shift=few.shift.name,
            train=f"{label}/clean + {k} {few.shift.name}",
            variant={"k": k, "method": "adapt"},
        )
        line.append(f"k={k} {_f(e)}")
    study.log(f"    few-shot {few.shift.name}: " + ", ".join(line))


def _cross_shift(study: Study, category: str | None, kind: str) -> None:
    label = category or "all"
    for train_spec in study.config.shifts:
        shifted = study.shifted(category, train_spec)
        bundle = study.fit(shifted.train, shifted.val, study.options(kind), label, study.extra_draws(category, train_spec))
        for test_spec in study.config.shifts:
            if test_spec == train_spec:
                continue
            study.evaluate(
                bundle,
                study.shifted(category, test_spec, ("test",)).test,
                category=label,
                phase="cross_shift",
                shift=test_spec.name,
                train=f"{label}/{train_spec.name}",
                variant={"train_shift": train_spec.name, "test_shift": test_spec.name},
            )


def _ablations(study: Study, category: str | None, kind: str, bundle: Bundle) -> None:
    label = category or "all"
    config = study.config
    clean = study.clean(category)
    variants: list[tuple[str, Any, dict[str, Any], Any]] = []
    if kind == "patchcore":
        variants += [("coreset_ratio", r, {"coreset_ratio": r}, None) for r in config.ablations.coreset_ratio]
    variants += [("aggregation", a, {"aggregation": a}, None) for a in config.ablations.aggregation]
    variants += [("layers", "+".join(layers), {}, layers) for layers in config.ablations.layers]
    for name, value, params, layers in variants:
        features = None if layers is None else replace(config.features, layers=tuple(layers))
        variant_bundle = study.fit(clean.train, clean.val, study.options(kind, params, features), label)
        variant = {"ablation": name, "value": value}
        e = study.evaluate(
            variant_bundle, clean.test, category=label, phase="ablation", shift=CLEAN, train=f"{label}/clean", variant=variant
        )
        study.set_reference(label, kind, f"{name}={value}", e.record["metrics"])
        scores = [f"clean {_f(e)}"]
        for spec in config.shifts[:1]:  # the first shift only: the variants' own features cost a full extraction each
            s = study.evaluate(
                variant_bundle,
                study.shifted(category, spec, ("test",)).test,
                category=label,
                phase="ablation",
                shift=spec.name,
                train=f"{label}/clean",
                variant=variant,
                reference=f"{name}={value}",
            )
            scores.append(f"{spec.name} {_f(s)}")
        study.log(f"    {name}={value}: " + ", ".join(scores))
    for spec in config.ablations.shifts:
        e = study.evaluate(
            bundle,
            study.shifted(category, spec, ("test",)).test,
            category=label,
            phase="ablation",
            shift=spec.name,
            train=f"{label}/clean",
            variant={"ablation": "shift", "value": spec.name},
        )
        study.log(f"    shift {spec.name} (no adaptation): {_f(e)}")


def _severity(study: Study, category: str | None, kind: str, bundle: Bundle) -> None:
    label = category or "all"
    sev = study.config.severity
    assert sev is not None
    for name in sev.corruptions:
        line = []
        for level in sev.levels:
            spec = ShiftSpec(corruption=name, severity=level)
            parts = ("train", "val", "test") if sev.adapted else ("test",)
            shifted = study.shifted(category, spec, parts)
            e = study.evaluate(
                bundle,
                shifted.test,
                category=label,
                phase="severity",
                shift=spec.name,
                train=f"{label}/clean",
                variant={"corruption": name, "severity": level, "adapted": False},
            )
            line.append(f"{level}: {_f(e)}")
            if sev.adapted:
                refit = study.fit(shifted.train, shifted.val, study.options(kind), label)
                a = study.evaluate(
                    refit,
                    shifted.test,
                    category=label,
                    phase="severity",
                    shift=spec.name,
                    train=f"{label}/{spec.name}",
                    variant={"corruption": name, "severity": level, "adapted": True},
                )
                line[-1] += f"/{_f(a)}"
        study.log(f"    severity {name}: " + ", ".join(line))


def _embeddings(study: Study, category: str | None) -> None:
    label = category or "all"
    emb = study.config.embeddings
    assert emb is not None
    X, anomalous, domain = [], [], []
    for name, test in (
        ("clean", study.clean(category).test),
        (emb.shift.name, study.shifted(category, emb.shift, ("test",)).test),
    ):
        labels = np.array([s.label for s in test])
        masks = _masks(test)
        x, a, _ = sample_patch_embeddings(study.features(test), labels, masks, emb.per_image, study.config.seed)
        X.append(x)
        anomalous.append(a)
        domain += [name] * len(x)
    coords, kept = project_2d(np.concatenate(X), emb.method, study.config.seed, emb.max_points)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        coords=coords,
        anomalous=np.concatenate(anomalous)[kept],
        domain=np.array(domain, dtype=str)[kept],
        kind=np.array("patch"),
        method=np.array(emb.method),
    )
    atomic_write_bytes(study.output / "embeddings" / f"{label}.npz", buffer.getvalue())


def _masks(samples: list[Sample]) -> np.ndarray | None:
    if not any(s.mask is not None for s in samples):
        return None
    shape = samples[0].image.shape[:2]
    if any(s.image.shape[:2] != shape for s in samples):
        return None
    return np.stack([s.mask if s.mask is not None else np.zeros(shape, np.uint8) for s in samples])


def _global(study: Study, kind: str) -> None:
    train, val = [], []
    for category in study.config.categories:
        parts = study.clean(category)
        train += parts.train
        val += parts.val
    names = "+".join(c or "all" for c in study.config.categories)
    bundle = study.fit(train, val, study.options(kind), names)
    line = []
    for category in study.config.categories:
        label = category or "all"
        e = study.evaluate(
            bundle, study.clean(category).test, category=label, phase="global", shift=CLEAN, train=f"{names}/clean"
        )
        line.append(f"{label} {_f(e)}")
    study.log("    global model: " + ", ".join(line))


def _cross_domain(study: Study, kind: str, clean_models: dict[tuple[str, str], Bundle]) -> None:
    cross = study.config.cross_domain
    assert cross is not None
    for source in study.config.categories:
        for target in study.config.categories:
            if source == target:
                continue
            src, tgt = source or "all", target or "all"
            bundle = clean_models[src, kind]
            parts = study.clean(target)
            normals = parts.train_normals
            ks = list(cross.k)
            if cross.fraction is not None:
                ks.append(max(1, int(round(cross.fraction * len(normals)))))
            line = []
            e = study.evaluate(
                bundle,
                parts.test,
                category=tgt,
                phase="cross_domain",
                shift=CLEAN,
                train=f"{src}/clean",
                variant={"source": src, "target": tgt, "k": 0, "method": "none"},
            )
            line.append(f"k=0 {_f(e)}")
            for k in sorted(set(k for k in ks if k <= len(normals))):
                adapted = _adapt_or_skip(study, bundle, _shots(normals, k, study.config.seed))
                if adapted is None:
                    break
                e = study.evaluate(
                    adapted,
                    parts.test,
                    category=tgt,
                    phase="cross_domain",
                    shift=CLEAN,
                    train=f"{src}/clean + {k} {tgt}",
                    variant={"source": src, "target": tgt, "k": k, "method": "adapt"},
                )
                line.append(f"k={k} {_f(e)}")
            study.log(f"    {src} -> {tgt}: " + ", ".join(line))


def comparisons(evaluations: list[Evaluation]) -> list[dict[str, Any]]:
    """Paired DeLong tests between detectors evaluated on the same test images under the same condition."""
    groups: dict[str, list[Evaluation]] = {}
    for e in evaluations:
        r = e.record
        key = json.dumps([r["category"], r["phase"], r["shift"], r["train"].split("/")[-1], r["variant"]], sort_keys=True)
        groups.setdefault(key, []).append(e)
    out = []
    for members in groups.values():
        for a, b in combinations(members, 2):
            if a.record["detector"] == b.record["detector"] or a.ids != b.ids or len(set(a.labels.tolist())) < 2:
                continue
            test = delong_test(a.labels, a.scores, b.scores)
            r = a.record
            out.append(
                {
                    "category": r["category"],
                    "phase": r["phase"],
                    "shift": r["shift"],
                    "variant": r["variant"],
                    "a": r["detector"],
                    "b": b.record["detector"],
                    "metric": "image_auroc",
                    "value_a": test.auc_a,
                    "value_b": test.auc_b,
                    "difference": test.difference,
                    "ci": [test.low, test.high],
                    "p_value": test.p_value,
                    "method": "delong",
                }
            )
    return out


def write_results(study: Study) -> None:
    """results.json (the contract read by `defectlab report`), robustness.csv, and the report."""
    config = study.config
    embeddings = (
        [
            {"category": c or "all", "file": f"embeddings/{c or 'all'}.npz"}
            for c in config.categories
            if (study.output / "embeddings" / f"{c or 'all'}.npz").is_file()
        ]
        if config.embeddings
        else []
    )
    record = {
        "job": "robustness",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": config.seed,
        "versions": library_versions(),
        "config": config.raw,
        "evaluations": [e.record for e in study.evaluations],
        "comparisons": comparisons(study.evaluations),
        "embeddings": embeddings,
    }
    atomic_write_text(study.output / "results.json", json.dumps(jsonable(record), indent=2) + "\n")
    atomic_write_text(study.output / "robustness.csv", flat_csv([e.record for e in study.evaluations]))
    write_robustness_report(study.output)


def flat_csv(records: list[dict[str, Any]]) -> str:
    """One row per evaluation: identity, variant, every headline metric, its RI and the AUROC CI."""
    buffer = io.StringIO()
    fields = [
        "category",
        "detector",
        "phase",
        "shift",
        "train",
        "variant",
        *HEADLINE,
        *[f"ri_{m}" for m in HEADLINE],
        "image_auroc_low",
        "image_auroc_high",
        "n_test",
        "n_anomalous",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in records:
        low, high = r["intervals"].get("image_auroc", [None, None])
        writer.writerow(
            {
                **{k: r[k] for k in ("category", "detector", "phase", "shift", "train", "n_test", "n_anomalous")},
                "variant": json.dumps(r["variant"], sort_keys=True) if r["variant"] else "",
                **{m: r["metrics"][m] for m in HEADLINE},
                **{f"ri_{m}": r["ri"][m] for m in HEADLINE},
                "image_auroc_low": low,
                "image_auroc_high": high,
            }
        )
    return buffer.getvalue()


def text_table(study: Study) -> str:
    """Image AUROC and its Robustness Index for the clean / shifted / adapted phases."""
    lines = [f"{'category':10} {'detector':10} {'shift':22} {'phase':20} {'AUROC':>6} {'RI':>6}"]
    for e in study.evaluations:
        r = e.record
        if r["phase"] not in ("clean", "shift_no_adaptation", "shift_adapted"):
            continue
        ri = r["ri"]["image_auroc"]
        auc = r["metrics"]["image_auroc"]
        lines.append(
            f"{r['category']:10} {r['detector']:10} {r['shift']:22} {r['phase']:20} "
            f"{'' if auc is None else format(auc, '6.3f'):>6} {'' if ri is None else format(ri, '.3f'):>6}"
        )
    return "\n".join(lines)
