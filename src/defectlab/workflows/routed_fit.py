"""Fit a routed (multi-category) bundle: each category's source and split, the router and detectors, the bundle.

Splits are stored per category beside the bundle (``<bundle>.splits/``) and reused by evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.data.formats import list_categories, read_dataset
from defectlab.data.sample import Sample
from defectlab.data.splits import apply, load_or_create_split
from defectlab.errors import ConfigError
from defectlab.pipelines.routed import save_routed_bundle
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
