"""`defectlab run` with `job: robustness`: clean -> shifted (no adaptation) -> shifted (adapted).

For every category, detector and shift: fit and calibrate on the clean train/val split and
evaluate on the clean test split; evaluate the same model and threshold on the shifted test
split (degradation); refit and recalibrate on the shifted train/val split and evaluate on the
shifted test split (recovery). The Robustness Index is shifted / clean for each metric.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import library_versions
from defectlab.data.formats import FORMATS, read_dataset
from defectlab.data.splits import RULES, apply, load_or_create_split
from defectlab.detectors.registry import DETECTORS
from defectlab.errors import ConfigError
from defectlab.experiments.workflow import FitOptions, evaluate_bundle, fit_bundle
from defectlab.fileio import atomic_write_text
from defectlab.shift import CORRUPTIONS, PRESETS
from defectlab.shift.materialize import shift_sample

PHASES = ("clean", "shift_no_adaptation", "shift_adapted")
HEADLINE = ("image_auroc", "image_auprc", "image_f1", "pixel_auroc", "aupro")


@dataclass
class ShiftSpec:
    """One shift: a preset, or a corruption at a severity."""

    corruption: str | None = None
    preset: str | None = None
    severity: int = 3

    @property
    def name(self) -> str:
        return self.preset or f"{self.corruption}@{self.severity}"


@dataclass
class RobustnessConfig:
    output: Path
    data_format: str
    data_root: str | None
    categories: list[str | None]
    split_rule: str
    detectors: list[str]
    shifts: list[ShiftSpec]
    features: FeatureConfig = field(default_factory=FeatureConfig)
    seed: int = 42
    n_bootstrap: int = 200
    raw: dict[str, Any] = field(default_factory=dict)


def _shift_spec(entry: Any, where: str) -> ShiftSpec:
    if not isinstance(entry, dict) or set(entry) - {"corruption", "preset", "severity"}:
        raise ConfigError(f"{where}: each shift is a mapping with 'preset' or 'corruption' (+ 'severity'), got {entry!r}")
    spec = ShiftSpec(entry.get("corruption"), entry.get("preset"), int(entry.get("severity", 3)))
    if (spec.corruption is None) == (spec.preset is None):
        raise ConfigError(f"{where}: shift {entry!r} needs exactly one of 'preset' or 'corruption'")
    if spec.corruption is not None and spec.corruption not in CORRUPTIONS:
        raise ConfigError(f"{where}: unknown corruption {spec.corruption!r}; valid: {', '.join(CORRUPTIONS)}")
    if spec.preset is not None and spec.preset not in PRESETS:
        raise ConfigError(f"{where}: unknown preset {spec.preset!r}; valid: {', '.join(PRESETS)}")
    return spec


def load_robustness_config(path: Path, raw: dict[str, Any]) -> RobustnessConfig:
    """Validate a `job: robustness` config already read from `path`."""
    where = str(path)
    allowed = {"job", "name", "output", "dataset", "detectors", "shifts", "features", "seed", "bootstrap"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
    dataset = raw.get("dataset") or {}
    fmt = dataset.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: dataset.format {fmt!r} unknown; valid: {', '.join(FORMATS)}")
    rule = dataset.get("split_rule", "elpv" if fmt == "elpv" else "mvtec")
    if rule not in RULES:
        raise ConfigError(f"{where}: dataset.split_rule {rule!r} unknown; valid: {', '.join(RULES)}")
    detectors = list(raw.get("detectors") or ["patchcore"])
    for kind in detectors:
        if kind not in DETECTORS:
            raise ConfigError(f"{where}: detector {kind!r} unknown; valid: {', '.join(DETECTORS)}")
    shifts = [_shift_spec(e, where) for e in raw.get("shifts") or []]
    if not shifts:
        raise ConfigError(f"{where}: 'shifts' must list at least one shift")
    feats = raw.get("features") or {}
    cats = dataset.get("categories") or [None]
    return RobustnessConfig(
        output=Path(raw.get("output", f"outputs/{path.stem}")),
        data_format=fmt,
        data_root=dataset.get("root"),
        categories=[cats] if isinstance(cats, str) else list(cats),
        split_rule=rule,
        detectors=detectors,
        shifts=shifts,
        features=FeatureConfig(
            backbone=feats.get("backbone", "efficientnet_lite0"),
            layers=tuple(feats.get("layers") or ()),
            image_size=int(feats.get("image_size", 224)),
            weights=str(feats.get("weights", "default")),
        ),
        seed=int(raw.get("seed", 42)),
        n_bootstrap=int(raw.get("bootstrap", 200)),
        raw=raw,
    )


def robustness_index(shifted: float | None, clean: float | None) -> float | None:
    """Shifted / clean (None when either is missing or clean is 0)."""
    if shifted is None or clean is None or clean == 0:
        return None
    return shifted / clean


def run_robustness_job(config: RobustnessConfig, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every (category, detector, shift) through the three phases; write robustness.json and .csv."""
    rows: list[dict[str, Any]] = []
    for category in config.categories:
        label = category or "all"
        samples = read_dataset(config.data_root, config.data_format, category)
        split = load_or_create_split(config.output / "splits" / f"{label}.json", samples, config.split_rule, config.seed)
        train, val, test = apply(split, samples)
        for kind in config.detectors:
            options = FitOptions(detector=kind, features=config.features, seed=config.seed)
            clean_bundle, _ = fit_bundle(train, val, options, category=label)
            clean = evaluate_bundle(clean_bundle, test, n_examples=0, n_bootstrap=config.n_bootstrap).metrics
            for spec in config.shifts:

                def shifted(part: list) -> list:
                    return [shift_sample(s, spec.corruption, spec.preset, spec.severity, config.seed) for s in part]

                s_train, s_val, s_test = shifted(train), shifted(val), shifted(test)
                degraded = evaluate_bundle(clean_bundle, s_test, n_examples=0, n_bootstrap=config.n_bootstrap).metrics
                adapted_bundle, _ = fit_bundle(s_train, s_val, options, category=label)
                adapted = evaluate_bundle(adapted_bundle, s_test, n_examples=0, n_bootstrap=config.n_bootstrap).metrics
                for phase, metrics in zip(PHASES, (clean, degraded, adapted)):
                    row = {"category": label, "detector": kind, "shift": spec.name, "phase": phase}
                    for m in HEADLINE:
                        row[m] = metrics.get(m)
                        row[f"ri_{m}"] = robustness_index(metrics.get(m), clean.get(m))
                    rows.append(row)
                log(
                    f"[{label}] {kind} {spec.name}: AUROC clean {clean['image_auroc']:.3f} -> shifted "
                    f"{degraded['image_auroc']:.3f} -> adapted {adapted['image_auroc']:.3f}"
                )
    _write_outputs(config, rows)
    return rows


def _write_outputs(config: RobustnessConfig, rows: list[dict[str, Any]]) -> None:
    record = {"config": config.raw, "seed": config.seed, "versions": library_versions(), "rows": rows}
    atomic_write_text(config.output / "robustness.json", json.dumps(record, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(config.output / "robustness.csv", buffer.getvalue())


def text_table(rows: list[dict[str, Any]]) -> str:
    """Image AUROC and its Robustness Index per category, detector, shift and phase."""
    lines = [f"{'category':10} {'detector':10} {'shift':22} {'phase':20} {'AUROC':>6} {'RI':>6} {'pixAUROC':>8}"]
    for r in rows:
        ri = "" if r["ri_image_auroc"] is None else f"{r['ri_image_auroc']:.3f}"
        pix = "" if r["pixel_auroc"] is None else f"{r['pixel_auroc']:.3f}"
        lines.append(f"{r['category']:10} {r['detector']:10} {r['shift']:22} {r['phase']:20} {r['image_auroc']:6.3f} {ri:>6} {pix:>8}")
    return "\n".join(lines)


def read_job_kind(path: Path) -> tuple[str, dict[str, Any]]:
    """The `job:` of a config file and its content; ('detection', {}) when the file cannot be read
    as a mapping, so the detection loader reports the problem with its line and column."""
    try:
        raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        raw = None
    if not isinstance(raw, dict):
        return "detection", {}
    return str(raw.get("job", "detection")), raw
