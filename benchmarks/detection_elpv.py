"""Detection benchmark on the bundled ELPV data (the ELPV protocol of docs/benchmarks.md), one subprocess per run.

For each detector and cell type: image AUROC/AUPRC, fit seconds (feature extraction + memory
bank / statistics, no feature cache), inference ms/image (extraction + scoring), peak RSS and
memory-bank size, against the targets of issue 3. If anomalib is importable, its PatchCore is
fitted on the same split, weights, layers and resolution and printed alongside; anomalib may
live in another environment (it pulls Lightning and more): pass its interpreter with
--anomalib-python.

    python benchmarks/detection_elpv.py [--detectors patchcore,padim] [--cells mono,poly]
                                        [--anomalib-python PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from peer_process import anomalib_python, run_json

TARGETS = {"auroc": {"mono": 0.93, "poly": 0.85}, "fit_seconds": 45.0, "ms_per_image": 60.0}


def run_one(detector: str, cell: str) -> dict:
    """Fit and evaluate one detector on one cell type in this process."""
    import numpy as np

    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.data.elpv import read_elpv
    from defectlab.data.splits import apply, make_split
    from defectlab.detectors.model import AnomalyModel
    from defectlab.detectors.registry import make_detector
    from defectlab.metrics.image import auprc, auroc

    samples = read_elpv(cell)
    train, _, test = apply(make_split(samples, "elpv", 42), samples)
    train_images = [np.asarray(s.image) for s in train]
    test_images = [np.asarray(s.image) for s in test]
    labels = np.array([s.label for s in test])
    model = AnomalyModel(make_detector(detector), FeatureConfig(layers=("blocks.2", "blocks.4"), image_size=224))
    _ = model.extractor  # build the network outside the timed region (loading weights is not fitting)
    start = time.perf_counter()
    model.fit(train_images)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = model.predict(test_images).scores
    ms = 1000 * (time.perf_counter() - start) / len(test_images)
    bank = getattr(model.detector, "memory_bank_", None)
    return {
        "tool": "defectlab",
        "detector": detector,
        "cell": cell,
        "n_train": len(train_images),
        "n_test": len(test_images),
        "auroc": auroc(labels, scores),
        "auprc": auprc(labels, scores),
        "fit_seconds": fit_seconds,
        "ms_per_image": ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bank_size": int(bank.shape[0]) if bank is not None else None,
    }


def run_anomalib(cell: str) -> dict:
    """anomalib's PatchCore on the same data (optional extra)."""
    from anomalib_peer import fit_and_score

    return fit_and_score(cell)


def _verdict(row: dict) -> str:
    if row["tool"] != "defectlab" or row["detector"] != "patchcore":
        return ""
    ok = (
        row["auroc"] >= TARGETS["auroc"][row["cell"]]
        and row["fit_seconds"] <= TARGETS["fit_seconds"]
        and row["ms_per_image"] <= TARGETS["ms_per_image"]
    )
    return "meets targets" if ok else "MISSES a target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default="patchcore,padim")
    parser.add_argument("--cells", default="mono,poly")
    parser.add_argument("--anomalib-python", default=None, help="interpreter of an environment with anomalib installed")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    parser.add_argument("--one", nargs=2, metavar=("DETECTOR", "CELL"), help=argparse.SUPPRESS)
    parser.add_argument("--anomalib", metavar="CELL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    if args.anomalib:
        print(json.dumps(run_anomalib(args.anomalib)))
        return
    peer = anomalib_python(args.anomalib_python)
    rows = []
    for cell in args.cells.split(","):
        for detector in args.detectors.split(","):
            rows.append(run_json(Path(__file__), ["--one", detector, cell]))
            print(f"done: defectlab {detector} {cell}", file=sys.stderr)
        if peer and "patchcore" in args.detectors:
            rows.append(run_json(Path(__file__), ["--anomalib", cell], python=peer))
            print(f"done: anomalib patchcore {cell}", file=sys.stderr)
    if not peer:
        print("anomalib is not installed (pip install 'defectlab[anomalib]'): peer figures skipped", file=sys.stderr)
    header = (
        f"{'tool':10} {'detector':9} {'cell':5} {'AUROC':>6} {'AUPRC':>6} {'fit s':>7} {'ms/img':>7} {'RSS MB':>7} {'bank':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        bank = "" if r.get("bank_size") is None else str(r["bank_size"])
        print(
            f"{r['tool']:10} {r['detector']:9} {r['cell']:5} {r['auroc']:6.3f} {r['auprc']:6.3f} "
            f"{r['fit_seconds']:7.1f} {r['ms_per_image']:7.1f} {r['peak_rss_mb']:7.0f} {bank:>6}  {_verdict(r)}"
        )
    print(
        f"targets (PatchCore, 2 cores): AUROC >= {TARGETS['auroc']['mono']} mono / {TARGETS['auroc']['poly']} poly, "
        f"fit <= {TARGETS['fit_seconds']:.0f} s, inference <= {TARGETS['ms_per_image']:.0f} ms/image"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
