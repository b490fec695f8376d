"""`defectlab fit-router` and the routed-bundle side of `evaluate` and `score`."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.data.formats import list_categories, read_dataset
from defectlab.data.imageio import load_image
from defectlab.data.sample import Sample
from defectlab.data.splits import Split, apply, load_or_create_split
from defectlab.errors import ConfigError
from defectlab.explain.overlay import overlay, save_png
from defectlab.metrics.image import auprc, auroc, threshold_metrics
from defectlab.pipelines.routed import UNKNOWN_CATEGORY, RoutedModel, load_routed_bundle, save_routed_bundle
from defectlab.workflows.detection import FitOptions
from defectlab.workflows.routing import CategoryData, RoutedFit, fit_routed_model, router_only_split

SPLITS_SUFFIX = ".splits"


def splits_dir(bundle_dir: Path) -> Path:
    """Where `fit-router` keeps one split JSON per category: ``<bundle>.splits/`` beside the bundle."""
    return bundle_dir.with_name(bundle_dir.name + SPLITS_SUFFIX)


def split_rule(fmt: str) -> str:
    return "mvtec" if fmt == "mvtec" else "elpv"


ELPV_PREFIX = "elpv-"


@dataclass
class RouterRequest:
    """What `fit-router` was asked for: the categories of one dataset root, plus ELPV cell types."""

    data: Path | None
    fmt: str
    categories: Sequence[str]
    out: Path
    options: FitOptions
    detectors: dict[str, str]
    elpv: Sequence[str] = ()
    router_share: float = 0.5


@dataclass(frozen=True)
class Source:
    """Where a routed category's images come from: format, root and the category's name there."""

    fmt: str
    root: Path | None
    name: str

    def read(self) -> list[Sample]:
        return read_dataset(self.root, self.fmt, self.name)

    def to_dict(self) -> dict[str, str | None]:
        return {"format": self.fmt, "root": str(self.root) if self.root else None, "name": self.name}


def category_sources(request: RouterRequest) -> dict[str, Source]:
    """Routed category name -> source: the categories of ``--data`` (all when none are named), and the
    ELPV cell types of ``--elpv`` as ``elpv-<cell>``."""
    sources: dict[str, Source] = {}
    if request.data is not None or request.fmt == "elpv" or not request.elpv:
        names = list(request.categories) or list_categories(request.data, request.fmt)
        sources.update({name: Source(request.fmt, request.data, name) for name in names})
    for cell in request.elpv:
        name = ELPV_PREFIX + cell
        if name in sources:
            raise ConfigError(f"category {name} is named twice")
        sources[name] = Source("elpv", None, cell)
    return sources


def fit_router_bundle(request: RouterRequest, progress: bool = True) -> RoutedFit:
    """Split every category (splits saved beside the bundle, reused), fit, and save the routed bundle.

    ELPV categories have no validation part: a share ``router_share`` of their defective cells is
    moved out of the test part to the router's training (``<name>.router.json`` beside the splits)."""
    sources = category_sources(request)
    unknown = sorted(set(request.detectors) - set(sources))
    if unknown:
        raise ConfigError(f"--detectors names categories that are not routed: {', '.join(unknown)}")
    folder = splits_dir(request.out)
    parts: dict[str, CategoryData] = {}
    for name, source in sources.items():
        samples = source.read()
        split = load_or_create_split(folder / f"{name}.json", samples, split_rule(source.fmt), request.options.seed)
        train, val, test = apply(split, samples)
        router_only: list[Sample] = []
        if source.fmt == "elpv" and not val:
            router_only, _ = router_only_split(test, request.router_share, folder / f"{name}.router.json", request.options.seed)
        parts[name] = CategoryData(train, val, router_only)
    cache = FeatureCache(default_cache_dir())
    dataset = request.fmt if not request.elpv else "+".join(sorted({s.fmt for s in sources.values()}))
    fitted = fit_routed_model(parts, request.options, request.detectors, cache=cache, dataset=dataset, progress=progress)
    training = {
        "dataset": dataset,
        "root": str(request.data) if request.data else None,
        "categories": list(sources),
        "sources": {name: source.to_dict() for name, source in sources.items()},
        "router_share": request.router_share,
        "splits": str(folder),
        "seed": request.options.seed,
        "fit_seconds": fitted.seconds,
    }
    save_routed_bundle(request.out, fitted.model, training)
    return fitted


def _test_parts(model: RoutedModel, bundle_dir: Path, data: Path | None, fmt: str | None) -> dict[str, list[Sample]]:
    """Each category's test images: its split's test part less the router-only images."""
    training = (model.manifest or {}).get("training") or {}
    stored = training.get("sources") or {}
    default_fmt = fmt or training.get("dataset") or "mvtec"
    default_root = data or (Path(training["root"]) if training.get("root") else None)
    folder = splits_dir(bundle_dir)
    parts = {}
    for name in model.categories:
        path = folder / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"split file {path} not found: evaluate a routed bundle next to the splits fit-router wrote")
        if name in stored and stored[name]["format"] == "elpv":
            source = Source("elpv", None, stored[name]["name"])
        elif name in stored:
            source = Source(
                fmt or stored[name]["format"],
                data or (Path(stored[name]["root"]) if stored[name]["root"] else None),
                stored[name]["name"],
            )
        else:
            source = Source(default_fmt, default_root, name)
        test = apply(Split.load(path), source.read())[2]
        router_file = folder / f"{name}.router.json"
        if router_file.is_file():
            held = set(json.loads(router_file.read_text())["ids"])
            test = [s for s in test if s.id not in held]
        parts[name] = test
    return parts


def evaluate_routed_dir(bundle_dir: Path, data: Path | None, fmt: str | None) -> dict[str, Any]:
    """Routing accuracy and confusion, and per-category image metrics of the routed system."""
    model = load_routed_bundle(bundle_dir, cache=FeatureCache(default_cache_dir()))
    parts = _test_parts(model, bundle_dir, data, fmt)
    names = list(model.categories) + [UNKNOWN_CATEGORY]
    confusion = {true: dict.fromkeys(names, 0) for true in model.categories}
    per_category: dict[str, dict[str, float | int | None]] = {}
    for name, test in tqdm(parts.items(), desc="evaluating categories", unit="category"):
        prediction = model.predict([s.image for s in test], with_maps=False)
        labels = np.array([s.label for s in test])
        for routed in prediction.categories:
            confusion[name][routed] += 1
        scores = prediction.relative_scores()  # 1 = the routed detector's threshold; unknown routes count as flagged
        at = threshold_metrics(labels, scores, 1.0)
        two_classes = len(set(labels.tolist())) == 2
        per_category[name] = {
            "n_test": len(test),
            "routed_correctly": float(np.mean(np.array(prediction.categories) == name)),
            "called_unknown": float(np.mean(np.array(prediction.categories) == UNKNOWN_CATEGORY)),
            "image_auroc": auroc(labels, scores) if two_classes else None,
            "image_auprc": auprc(labels, scores) if two_classes else None,
            "image_f1": at.f1,
        }
    total = sum(len(t) for t in parts.values())
    correct = sum(confusion[n][n] for n in model.categories)

    def macro(key: str) -> float | None:
        values = [m[key] for m in per_category.values() if m[key] is not None]
        return float(np.mean(values)) if values else None

    return {
        "routing_accuracy": correct / total,
        "called_unknown": sum(confusion[n][UNKNOWN_CATEGORY] for n in model.categories) / total,
        "macro_image_auroc": macro("image_auroc"),
        "macro_image_auprc": macro("image_auprc"),
        "macro_image_f1": macro("image_f1"),
        "per_category": per_category,
        "confusion": confusion,
    }


def score_routed_paths(bundle_dir: Path, paths: Sequence[Path], out: Path, batch: int = 16) -> list[dict[str, Any]]:
    """Route and score image files: OUT/scores.csv (with the category) and a heatmap overlay per image."""
    model = load_routed_bundle(bundle_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    rows = []
    for start in tqdm(range(0, len(paths), batch), desc="scoring", unit="batch"):
        chunk = paths[start : start + batch]
        images = [load_image(p) for p in chunk]
        prediction = model.predict(images)
        for i, (path, image) in enumerate(zip(chunk, images, strict=True)):
            category, threshold = prediction.categories[i], float(prediction.thresholds[i])
            row = {
                "path": str(path),
                "category": category,
                "score": float(prediction.scores[i]),
                "threshold": threshold,
                "decision": "unknown category"
                if category == UNKNOWN_CATEGORY
                else ("anomalous" if prediction.is_anomalous[i] else "normal"),
                "overlay": "",
            }
            if category != UNKNOWN_CATEGORY:
                name = f"{start + i:05d}_{path.stem}.png"
                save_png(out / "overlays" / name, overlay(image, prediction.maps[i], vmin=0.0, vmax=2.0 * threshold))
                row["overlay"] = f"overlays/{name}"
            rows.append(row)
    with open(out / "scores.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def parse_detectors(value: str | None) -> dict[str, str]:
    """``"a=cae,b=padim"`` -> ``{"a": "cae", "b": "padim"}``."""
    pairs: dict[str, str] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise ConfigError(f"--detectors takes category=detector pairs, got '{item}'")
        pairs[name.strip()] = kind.strip()
    return pairs
