"""Exported runtimes against torch on the bundled ELPV cells: speed, memory and accuracy per detector.

Fits one bundle per detector with `defectlab fit --format elpv` (once: reused from --work), exports
it with `defectlab export` as ONNX f32 and OpenVINO f32, f16, int8 (int8 calibrated on 64 training
normals) and bf16, then, one subprocess per (detector, runtime) so that peak RSS is the run's own:
image AUROC on the test split (and its change from torch), ms/image and images/s at batch 16 and
at batch 1 (scores only, and with maps), the parity of the scores with torch's, and a per-stage
profile (decode, resize, embedding + scoring, map). If anomalib is importable in --anomalib-python
(benchmarks/anomalib_venv.sh makes such an environment), anomalib's own PatchCore exports are
scored on the same split and printed alongside.

    python benchmarks/runtime.py [--detectors patchcore,padim,cae] [--cell mono] [--work DIR]
                                 [--anomalib-python PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from peer_process import anomalib_python, run_json

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = (("onnx", "f32"), ("openvino", "f32"), ("openvino", "f16"), ("openvino", "int8"), ("openvino", "bf16"))
CALIBRATION_IMAGES = 64
TIMED_BATCH1 = 128
"""Test images timed at batch 1 (all of them are scored at batch 16)."""
AUROC_TARGET = 0.003
"""Largest AUROC change from torch a reduced-precision export may cost (issue 20)."""


def _cli(*args: str) -> float:
    """Run `defectlab ARGS` in a subprocess, return its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "defectlab", *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def prepare(work: Path, detectors: list[str], cell: str) -> dict[str, dict[str, float]]:
    """Fit and export every detector's bundle under `work` (skipping what is there); seconds per step."""
    from defectlab.data.elpv import read_elpv
    from defectlab.data.imageio import save_image
    from defectlab.data.splits import Split, apply

    seconds: dict[str, dict[str, float]] = {}
    calibration = work / "calibration"
    for detector in detectors:
        bundle = work / detector
        steps = seconds.setdefault(detector, {})
        if not (bundle / "manifest.json").is_file():
            steps["fit"] = _cli("fit", "--format", "elpv", "--category", cell, "--detector", detector, "--out", str(bundle))
        if not calibration.is_dir():
            samples = read_elpv(cell)
            train, _, _ = apply(Split.load(bundle.with_name(f"{bundle.name}.split.json")), samples)
            calibration.mkdir()
            for sample in train[:CALIBRATION_IMAGES]:
                save_image(calibration / f"{sample.id.replace('/', '_')}.png", sample.image)
        for format, precision in EXPORTS:
            if not (bundle / "export" / f"{format}-{precision}" / "export.json").is_file():
                extra = ("--calibration", str(calibration)) if precision == "int8" else ()
                steps[f"export {format}-{precision}"] = _cli(
                    "export", str(bundle), "--format", format, "--precision", precision, *extra
                )
        print(f"ready: {detector} ({', '.join(f'{k} {v:.0f} s' for k, v in steps.items()) or 'reused'})", file=sys.stderr)
    return seconds


def measure(bundle: Path, runtime: str, cell: str) -> dict:
    """One (bundle, runtime) in this process: AUROC, timings at batch 16 and 1, stage profile, peak RSS."""
    import cv2
    import numpy as np
    import torch

    from defectlab.backbones.extractor import resize_batch
    from defectlab.bundle.io import load_bundle
    from defectlab.bundle.runtimes import TORCH, load_runtime
    from defectlab.data.elpv import read_elpv
    from defectlab.data.splits import Split, apply
    from defectlab.metrics.image import auroc

    samples = read_elpv(cell)
    _, _, test = apply(Split.load(bundle.with_name(f"{bundle.name}.split.json")), samples)
    images = [np.asarray(s.image) for s in test]
    labels = np.array([s.label for s in test])
    loaded = load_bundle(bundle)
    model = loaded.model
    if runtime != TORCH:
        model.runtime = load_runtime(bundle, *runtime.split("-"))
    model.predict(images[:16], with_maps=True)  # warm up (graph compilation, allocator)

    def timed(batch: int, subset: list[np.ndarray], with_maps: bool) -> tuple[float, np.ndarray]:
        model.batch_size = model.extractor.batch_size = batch
        start = time.perf_counter()
        scores = model.predict(subset, with_maps=with_maps).scores
        return 1000 * (time.perf_counter() - start) / len(subset), scores

    ms16, scores = timed(16, images, with_maps=False)
    ms16_maps, _ = timed(16, images[:TIMED_BATCH1], with_maps=True)
    ms1, _ = timed(1, images[:TIMED_BATCH1], with_maps=False)
    ms1_maps, _ = timed(1, images[:TIMED_BATCH1], with_maps=True)
    return {
        "detector": model.detector.kind,
        "runtime": runtime,
        "auroc": auroc(labels, scores),
        "scores": scores.tolist(),
        "ms_batch16": ms16,
        "ms_batch16_maps": ms16_maps,
        "ms_batch1": ms1,
        "ms_batch1_maps": ms1_maps,
        "stages_ms": _stages(model, images[:TIMED_BATCH1], cv2, torch, resize_batch),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _stages(model, images, cv2, torch, resize_batch) -> dict[str, float]:
    """ms/image of each inference stage at batch 16: PNG decode, resize, embedding + scoring, map."""
    import numpy as np

    encoded = [cv2.imencode(".png", image)[1] for image in images]
    batches = [images[i : i + 16] for i in range(0, len(images), 16)]
    totals = dict.fromkeys(("decode", "resize", "embed+score", "map"), 0.0)
    start = time.perf_counter()
    for buffer in encoded:
        cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    totals["decode"] = time.perf_counter() - start
    if model.runtime is None:
        scoring, anomaly_map = model.graphs()
    for batch in batches:
        start = time.perf_counter()
        resized = resize_batch(batch, model.features.image_size)
        totals["resize"] += time.perf_counter() - start
        start = time.perf_counter()
        if model.runtime is None:
            with torch.inference_mode():
                _, patches = scoring(resized)
        else:
            _, patches = model.runtime.scores(np.ascontiguousarray(resized.numpy()))
        totals["embed+score"] += time.perf_counter() - start
        start = time.perf_counter()
        if model.runtime is None:
            with torch.inference_mode():
                anomaly_map(patches)
        else:
            model.runtime.maps(patches)
        totals["map"] += time.perf_counter() - start
    return {stage: 1000 * seconds / len(images) for stage, seconds in totals.items()}


def _print(rows: list[dict], peers: list[dict]) -> None:
    import numpy as np

    header = (
        f"{'detector':9} {'runtime':14} {'AUROC':>6} {'dAUROC':>7} {'max rel':>8} {'ms b16':>7} {'img/s':>6} "
        f"{'+maps':>6} {'ms b1':>6} {'+maps':>6} {'RSS MB':>7}  stages b16 ms/img (decode/resize/embed+score/map)"
    )
    print(header)
    print("-" * len(header))
    reference = {r["detector"]: r for r in rows if r["runtime"] == "torch"}
    for r in rows:
        torch_row = reference[r["detector"]]
        change = r["auroc"] - torch_row["auroc"]
        a, b = np.array(r["scores"]), np.array(torch_row["scores"])
        relative = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
        flag = " !" if abs(change) > AUROC_TARGET else "  "
        stages = "/".join(f"{v:.1f}" for v in r["stages_ms"].values())
        print(
            f"{r['detector']:9} {r['runtime']:14} {r['auroc']:6.3f} {change:+7.3f}{flag[1]}{relative:8.1e} "
            f"{r['ms_batch16']:7.1f} {1000 / r['ms_batch16']:6.0f} {r['ms_batch16_maps']:6.1f} {r['ms_batch1']:6.1f} "
            f"{r['ms_batch1_maps']:6.1f} {r['peak_rss_mb']:7.0f}  {stages}"
        )
    for p in peers:
        if "error" in p:
            print(f"{'patchcore':9} {p['tool']:14} failed: {p['error']}")
        else:
            print(
                f"{'patchcore':9} {p['tool']:14} {p['auroc']:6.3f} {'':>7} {p.get('max_relative_difference', float('nan')):9.1e} "
                f"{p['ms_per_image']:7.1f} {1000 / p['ms_per_image']:6.0f} {'':>6} {p['ms_per_image_batch1']:6.1f} "
                f"{'':>6} {p['peak_rss_mb']:7.0f}"
            )
    print(f"! : AUROC change from torch above the {AUROC_TARGET} target; max rel: largest relative score difference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default="patchcore,padim,cae")
    parser.add_argument("--cell", default="mono", choices=("mono", "poly"))
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "benchmarks" / "runtime", help="bundles and exports")
    parser.add_argument("--anomalib-python", default=None, help="interpreter of an environment with anomalib installed")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    parser.add_argument("--one", nargs=3, metavar=("BUNDLE", "RUNTIME", "CELL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        bundle, runtime, cell = args.one
        print(json.dumps(measure(Path(bundle), runtime, cell)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    detectors = args.detectors.split(",")
    seconds = prepare(args.work, detectors, args.cell)
    rows = []
    for detector in detectors:
        for runtime in ("torch", *(f"{f}-{p}" for f, p in EXPORTS)):
            rows.append(run_json(Path(__file__), ["--one", str(args.work / detector), runtime, args.cell]))
            print(f"done: {detector} {runtime}", file=sys.stderr)
    peer = anomalib_python(args.anomalib_python)
    peers = (
        run_json(ROOT / "benchmarks" / "anomalib_peer.py", ["--export", args.cell, "--work", str(args.work)], python=peer)
        if peer
        else []
    )
    if not peer:
        print("anomalib is not importable (benchmarks/anomalib_venv.sh, then --anomalib-python): peer skipped", file=sys.stderr)
    _print(rows, peers)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "peers": peers, "prepare_seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
