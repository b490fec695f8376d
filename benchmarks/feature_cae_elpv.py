"""FeatureCAE vs PatchCore on the bundled ELPV data (the ELPV protocol of docs/benchmarks.md), default parameters of both.

Per cell type, both detectors are fitted and calibrated with `fit_bundle` on the same split and
the same cached EfficientNet-Lite0 features, then measured: image AUROC on the test split, fit
seconds (detector on warm-cache features), inference ms/image on precomputed features (scores and
maps, all test images) and end to end from images (feature extraction included, the first
E2E_IMAGES test images), each the best of REPEATS runs of a freshly loaded bundle (so PatchCore's
memo of search results never helps), and the bundle's size on disk. Targets of the FeatureCAE
issue: AUROC within 0.02 of PatchCore's, a bundle at least 10x smaller, inference no slower.

    python benchmarks/feature_cae_elpv.py [--cells mono,poly] [--cae '{"hidden": 256}']
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.bundle.io import load_bundle, save_bundle
from defectlab.data.elpv import read_elpv
from defectlab.data.splits import apply, make_split
from defectlab.detectors.model import AnomalyModel, Prediction
from defectlab.detectors.registry import make_detector
from defectlab.metrics.image import auroc
from defectlab.workflows.detection import FitOptions, fit_bundle

AUROC_GAP, SIZE_RATIO = 0.02, 10.0
REPEATS, E2E_IMAGES = 3, 128  # timings are the best of REPEATS runs: the machine is shared


def run(cell: str, kind: str, params: dict, cache: FeatureCache, out: Path) -> dict:
    """Fit, calibrate, save and score one detector on one cell type."""
    samples = read_elpv(cell)
    train, val, test = apply(make_split(samples, "elpv", 42), samples)
    options = FitOptions(detector=kind, detector_params=params)
    model = AnomalyModel(make_detector(kind, params), options.features, cache=cache)
    images = [s.image for s in test]
    labels = np.array([s.label for s in test])
    test_features = model.extract(images, progress=True)  # warms the cache for the fit's images too
    model.extract([s.image for s in train if s.label == 0], progress=True)
    bundle, fit_seconds = fit_bundle(train, val, options, model=model, category=cell, dataset="elpv", progress=True)
    path = save_bundle(out / f"{kind}_{cell}", bundle)
    size = sum(f.stat().st_size for f in path.iterdir())
    prediction = bundle.model.predict_features(test_features, with_maps=False)
    ms_features = min(_ms_per_image(path, lambda m: m.predict_features(test_features), len(images)) for _ in range(REPEATS))
    ms_end_to_end = min(_ms_per_image(path, lambda m: m.predict(images[:E2E_IMAGES]), E2E_IMAGES) for _ in range(REPEATS))
    history = getattr(bundle.model.detector, "history_", None)
    return {
        "cell": cell,
        "detector": kind,
        "auroc": auroc(labels, prediction.scores),
        "fit_seconds": fit_seconds,
        "ms_features": ms_features,
        "ms_end_to_end": ms_end_to_end,
        "bundle_bytes": size,
        "threshold": f"{bundle.threshold.method} {bundle.threshold.value:.4g}",
        "epochs": len(history) if history else None,
    }


def _ms_per_image(path: Path, predict: Callable[[AnomalyModel], Prediction], n: int) -> float:
    """Milliseconds per image of `predict` on a freshly loaded bundle (loading and building the backbone untimed)."""
    model = load_bundle(path).model
    _ = model.extractor  # build the backbone untimed
    start = time.perf_counter()
    predict(model)
    return 1000 * (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="mono,poly")
    parser.add_argument("--cae", type=json.loads, default={}, help="FeatureCAE parameters as JSON (default: its defaults)")
    args = parser.parse_args()
    cache = FeatureCache(default_cache_dir())
    rows = []
    with tempfile.TemporaryDirectory(prefix="cae-bench-") as tmp:
        for cell in args.cells.split(","):
            for kind, params in (("patchcore", {}), ("cae", args.cae)):
                rows.append(run(cell, kind, params, cache, Path(tmp)))
                print(f"done: {kind} {cell}: {rows[-1]}", flush=True)
    header = (
        f"{'cell':5} {'detector':9} {'AUROC':>6} {'fit s':>7} {'ms/img feat':>11} {'ms/img e2e':>10} "
        f"{'bundle KB':>10} {'epochs':>6}  threshold"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        epochs = "" if r["epochs"] is None else str(r["epochs"])
        print(
            f"{r['cell']:5} {r['detector']:9} {r['auroc']:6.3f} {r['fit_seconds']:7.1f} {r['ms_features']:11.1f} "
            f"{r['ms_end_to_end']:10.1f} {r['bundle_bytes'] / 1024:10.1f} {epochs:>6}  {r['threshold']}"
        )
    for cell in args.cells.split(","):
        pc, cae = (next(r for r in rows if r["cell"] == cell and r["detector"] == d) for d in ("patchcore", "cae"))
        checks = {
            f"AUROC within {AUROC_GAP}": cae["auroc"] >= pc["auroc"] - AUROC_GAP,
            f"bundle >= {SIZE_RATIO:.0f}x smaller": pc["bundle_bytes"] >= SIZE_RATIO * cae["bundle_bytes"],
            "inference no slower (features)": cae["ms_features"] <= pc["ms_features"],
            "inference no slower (end to end)": cae["ms_end_to_end"] <= pc["ms_end_to_end"],
        }
        print(f"{cell}: " + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
