"""The study's phases: clean vs corrupted per scheme, ablation, spurious correlation, effects, explanations.

Each phase takes the shared :class:`Context` and returns JSON-ready results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from defectlab.classifiers.causal_train import Strata, Views, find_strata
from defectlab.classifiers.labels import LabelledSamples, label_samples
from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.splits import load_or_create_stratified_split
from defectlab.data.sample import Sample
from defectlab.errors import DataError
from defectlab.experiments.classification.config import ClassificationStudyConfig, SpuriousConfig
from defectlab.experiments.classification.models import (
    PARTS,
    Fitted,
    fit_causal,
    fit_finetuned,
    fit_head,
    fit_smallcnn,
    pooled,
)
from defectlab.experiments.classification.spurious import (
    APPLIED,
    WITHHELD,
    SpuriousSplit,
    load_or_create_spurious_split,
)
from defectlab.metrics.classification import classification_metrics, group_report, robustness_index
from defectlab.shift.materialize import shift_sample

ABLATION = {
    "none (ERM)": (),
    "backdoor": ("backdoor",),
    "counterfactual": ("counterfactual",),
    "reweight": ("reweight",),
    "backdoor + counterfactual": ("backdoor", "counterfactual"),
    "all three": PARTS,
}
"""Ablation rows: the causal parts switched on."""


@dataclass
class Context:
    """What every phase shares: config, samples, their maps, the map source, logging."""

    cfg: ClassificationStudyConfig
    samples: list[Sample]
    maps: torch.Tensor
    source: MapSource
    log: Callable[[str], None]
    progress: bool = True
    row_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.row_of = {s.id: i for i, s in enumerate(self.samples)}

    def maps_of(self, data: LabelledSamples) -> torch.Tensor:
        """Maps of ``data``'s images: the study's rows, and from the map source (cached) for images other
        than the study's own (e.g. with an applied nuisance)."""
        rows = [self.row_of[s.id] for s in data.samples]
        maps = self.maps[rows]
        changed = [i for i, (s, r) in enumerate(zip(data.samples, rows, strict=True)) if s.image is not self.samples[r].image]
        if changed:
            maps[changed] = self.source.maps([data.samples[i].image for i in changed], self.progress)
        return maps


@dataclass
class SchemeData:
    """One class scheme's split parts and their maps."""

    scheme: str
    train: LabelledSamples
    val: LabelledSamples
    test: LabelledSamples
    train_maps: torch.Tensor
    val_maps: torch.Tensor
    corrupted: list[np.ndarray]


def scheme_data(ctx: Context, scheme: str) -> SchemeData:
    """Label, split (saved under splits/), and corrupt the test images of one scheme."""
    data = label_samples(ctx.samples, scheme)
    split = load_or_create_stratified_split(ctx.cfg.output / "splits" / f"{scheme}.json", data, ctx.cfg.seed)
    train, val, test = data.split(split)
    shift = ctx.cfg.corrupted
    corrupted = [
        shift_sample(s, shift.get("corruption"), shift.get("preset"), shift.get("severity", 3), ctx.cfg.seed).image
        for s in test.samples
    ]
    return SchemeData(scheme, train, val, test, ctx.maps_of(train), ctx.maps_of(val), corrupted)


def fit_model(ctx: Context, name: str, d: SchemeData) -> Fitted:
    """Train one row of the clean/corrupted table."""
    cfg = ctx.cfg
    if name == "smallcnn":
        return fit_smallcnn(d.train, d.val, cfg, ctx.progress)
    if name == "finetune" and cfg.finetune_mode == "finetune":
        return fit_finetuned(d.train, d.val, cfg, ctx.progress)
    if name == "causal":
        strata = find_strata(_strata_source(cfg.strata), d.train, d.val, d.train_maps, d.val_maps, cfg.seed)
        return fit_causal(
            "causal", d.train, d.val, d.train_maps, d.val_maps, strata, ctx.source, cfg, cfg.causal_parts, ctx.progress
        )
    return fit_head(name, d.train, d.train_maps, d.val_maps, d.val, ctx.source, cfg, ctx.progress)


def evaluate(fitted: Fitted, d: SchemeData) -> dict[str, Any]:
    """Clean and corrupted metrics, their Robustness Index, and the test probabilities."""
    clean_p = fitted.predict(d.test.images)
    corrupted_p = fitted.predict(d.corrupted)
    clean = classification_metrics(d.test.labels, clean_p)
    corrupted = classification_metrics(d.test.labels, corrupted_p)
    return {
        "clean": clean,
        "corrupted": corrupted,
        "robustness_index": robustness_index(clean, corrupted),
        "best_epoch": fitted.result.best_epoch,
        "train_seconds": round(fitted.result.seconds, 2),
        "history": fitted.result.history,
        "_clean_p": clean_p,
    }


def ablation(ctx: Context, d: SchemeData, spurious: dict[str, Any]) -> list[dict[str, Any]]:
    """Each combination of causal parts: clean and corrupted accuracy on the standard split, beside its
    spurious-correlation result in each variant of ``spurious`` (by name)."""
    cfg = ctx.cfg
    strata = find_strata(_strata_source(cfg.strata), d.train, d.val, d.train_maps, d.val_maps, cfg.seed)
    rows = []
    for label, parts in ABLATION.items():
        fitted = fit_causal(label, d.train, d.val, d.train_maps, d.val_maps, strata, ctx.source, cfg, parts, ctx.progress)
        result = evaluate(fitted, d)
        rows.append(
            {
                "variant": label,
                "parts": list(parts),
                "clean": result["clean"],
                "corrupted": result["corrupted"],
                "spurious": {name: block["ablation"].get(label) for name, block in spurious.items()},
            }
        )
    return rows


@dataclass
class SpuriousData:
    """One spurious variant's split, its parts (images as the variant shows them) and their maps."""

    variant: SpuriousConfig
    split: SpuriousSplit
    train: LabelledSamples
    val: LabelledSamples
    test: LabelledSamples
    train_maps: torch.Tensor
    val_maps: torch.Tensor
    test_maps: torch.Tensor

    @property
    def groups(self) -> list[str]:
        """The (nuisance, class) group of every test image."""
        return _groups(self.test, self.variant.name)


def spurious_data(ctx: Context, sp: SpuriousConfig, suffix: str = "") -> SpuriousData:
    """The variant's split of the elpv_binary cells (saved as splits/spurious_<name><suffix>.json and reused), its
    parts and their maps; an applied nuisance is put on the images of its ``applied`` stratum."""
    data = label_samples(ctx.samples, "elpv_binary")
    path = ctx.cfg.output / "splits" / f"spurious_{sp.name}{suffix}.json"
    common = {
        "ids": [s.id for s in data.samples],
        "labels": data.labels,
        "tie": sp.tie,
        "test_per_group": sp.test_per_group,
        "seed": ctx.cfg.seed,
    }
    if sp.shift is None:
        split = load_or_create_spurious_split(path, nuisance=[str(s.metadata[sp.nuisance]) for s in data.samples], **common)
    else:
        split = load_or_create_spurious_split(path, corruption=sp.shift, severity=sp.severity, **common)
    by_id = {s.id: s for s in data.samples}
    parts = {}
    for name in ("train", "val", "test"):
        samples = [by_id[i] for i in getattr(split, name)]
        parts[name] = data.select(samples if split.shift is None else split.shift.apply_to(samples, sp.name))
    return SpuriousData(sp, split, **parts, **{f"{name}_maps": ctx.maps_of(part) for name, part in parts.items()})


def exact_views(ctx: Context, d: SpuriousData) -> list[list[np.ndarray]] | None:
    """For an applied nuisance, every training image with it withheld and applied (the exact do(nuisance)
    views; None for a nuisance in the metadata)."""
    shift = d.split.shift
    if shift is None:
        return None
    applied = set(shift.images)
    views = []
    for s in d.train.samples:
        original = ctx.samples[ctx.row_of[s.id]].image
        views.append([original, s.image if s.id in applied else shift.apply(original, s.id)])
    return views


def views_in(images: list[list[np.ndarray]] | None, strata: Strata, key: str) -> Views | None:
    """The exact views, placed in their strata (withheld, applied) when ``strata`` are the given nuisance
    ``key``; in their image's (discovered) stratum otherwise."""
    if images is None:
        return None
    if strata.source != key:
        return Views(images)
    return Views(images, np.tile([strata.names.index(WITHHELD), strata.names.index(APPLIED)], (len(images), 1)))


def spurious_phase(ctx: Context, sp: SpuriousConfig) -> dict[str, Any]:
    """Nuisance tied to the label in training, reversed/balanced in test: per-group accuracy of every model.

    The causal model has the variant's parts (default: the study's); its counterfactual part uses the
    exact views of an applied nuisance (:func:`exact_views`), else the shift suite's.
    """
    cfg = ctx.cfg
    parts_on = sp.causal_parts or cfg.causal_parts
    d = spurious_data(ctx, sp)
    key, test, groups = sp.name, d.test, d.groups
    views = exact_views(ctx, d)

    def report(predictions: np.ndarray) -> dict[str, Any]:
        return group_report(test.labels, predictions, groups)

    def causal(label: str, strata: Strata, parts: tuple[str, ...]) -> dict[str, Any]:
        fitted = fit_causal(
            label,
            d.train,
            d.val,
            d.train_maps,
            d.val_maps,
            strata,
            ctx.source,
            cfg,
            parts,
            ctx.progress,
            views_in(views, strata, key),
        )
        return report(fitted.predict(test.images).argmax(axis=1))

    rows: dict[str, Any] = {}
    for name, weighted in (("logistic regression (plain)", False), ("logistic regression (reweighted by nuisance)", True)):
        rows[name] = report(_logistic(pooled(d.train_maps), d.train, pooled(d.test_maps), key, weighted))
    erm = fit_head("attention", d.train, d.train_maps, d.val_maps, d.val, ctx.source, cfg, ctx.progress)
    rows["attention (ERM)"] = report(erm.predict(test.images).argmax(axis=1))
    if sp.untied_reference:
        rows.update(untied_reference(ctx, sp, d))
    strata_by_source = {}
    for source in sp.strata:
        strata = find_strata(_strata_source(source, key), d.train, d.val, d.train_maps, d.val_maps, cfg.seed)
        strata_by_source[source] = strata
        rows[f"causal (nuisance {source})"] = {
            **causal(f"causal ({source})", strata, parts_on),
            "strata": list(strata.names),
            "strata_purity": _purity(strata.train, [s.metadata[key] for s in d.train.samples]),
        }
    ablation_rows = {}
    if cfg.ablation:
        strata = strata_by_source.get("given") or next(iter(strata_by_source.values()))
        for label, parts in ABLATION.items():
            if parts == () or set(parts) == set(parts_on):
                continue
            ablation_rows[label] = causal(label, strata, parts)
        ablation_rows["none (ERM)"] = rows["attention (ERM)"]
        chosen = next((label for label, parts in ABLATION.items() if set(parts) == set(parts_on)), " + ".join(parts_on))
        given = "given" if "given" in strata_by_source else next(iter(strata_by_source))
        ablation_rows[chosen] = rows[f"causal (nuisance {given})"]
    shift = d.split.shift
    return {
        "name": key,
        "nuisance": sp.nuisance,
        "tie": sp.tie,
        "test_per_group": sp.test_per_group,
        "shift": None
        if shift is None
        else {
            "corruption": shift.corruption,
            "severity": shift.severity,
            "seed": shift.seed,
            "applied_images": len(shift.images),
        },
        "causal_parts": list(parts_on),
        "n_train": len(d.train),
        "n_val": len(d.val),
        "n_test": len(test),
        "train_groups": _group_counts(d.train, key),
        "models": rows,
        "ablation": ablation_rows,
    }


UNTIED_TIE = 0.5


def untied_reference(ctx: Context, sp: SpuriousConfig, tied: SpuriousData) -> dict[str, Any]:
    """Logistic regression and the attention head trained on a split of the same cells with no tie (each
    stratum's classes as balanced as its cells allow; splits/spurious_<name>_untied.json), tested on the
    tied split's test groups: what these features allow without confounding, a ceiling for any intervention."""
    d = spurious_data(ctx, replace(sp, tie=UNTIED_TIE), suffix="_untied")
    if d.split.test != tied.split.test:
        raise DataError(f"spurious variant {sp.name}: the untied split's test cells differ from the tied split's")
    groups = tied.groups
    rows = {
        "logistic regression, trained untied (reference)": group_report(
            d.test.labels, _logistic(pooled(d.train_maps), d.train, pooled(d.test_maps), sp.name, False), groups
        )
    }
    erm = fit_head("attention", d.train, d.train_maps, d.val_maps, d.val, ctx.source, ctx.cfg, ctx.progress)
    rows["attention (ERM), trained untied (reference)"] = group_report(
        d.test.labels, erm.predict(d.test.images).argmax(axis=1), groups
    )
    return {name: {**row, "n_train": len(d.train)} for name, row in rows.items()}


def _strata_source(strata: str, nuisance: str = "cell_type") -> str:
    """The confounder-dictionary source: ``discovered``, or the metadata key of the given nuisance."""
    return "discovered" if strata == "discovered" else nuisance


def _logistic(train_x: np.ndarray, train: LabelledSamples, test_x: np.ndarray, nuisance: str, weighted: bool) -> np.ndarray:
    """The reference protocol: logistic regression on pooled frozen features, optionally w = P(y)P(z)/P(y,z)."""
    scaler = StandardScaler().fit(train_x)
    weights = None
    if weighted:
        z = np.array([str(s.metadata[nuisance]) for s in train.samples])
        y = train.labels
        p_y = {v: np.mean(y == v) for v in np.unique(y)}
        p_z = {v: np.mean(z == v) for v in np.unique(z)}
        weights = np.array([p_y[a] * p_z[b] / np.mean((y == a) & (z == b)) for a, b in zip(y, z, strict=True)])
    model = LogisticRegression(max_iter=5000).fit(scaler.transform(train_x), train.labels, sample_weight=weights)
    return model.predict(scaler.transform(test_x))


def _purity(strata: np.ndarray, nuisance: list[Any]) -> float:
    """Share of images whose stratum's majority nuisance value is their own."""
    values = np.array([str(v) for v in nuisance])
    hits = sum(max(np.sum(values[strata == k] == v) for v in np.unique(values)) for k in np.unique(strata))
    return float(hits / len(values))


def _groups(data: LabelledSamples, nuisance: str) -> list[str]:
    """``<nuisance value>/<class name>`` of every image."""
    return [f"{s.metadata[nuisance]}/{data.class_names[y]}" for s, y in zip(data.samples, data.labels, strict=True)]


def _group_counts(data: LabelledSamples, nuisance: str) -> dict[str, int]:
    return dict(sorted(Counter(_groups(data, nuisance)).items()))
