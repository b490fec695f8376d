"""Service benchmark: latency and throughput of `defectlab serve` against the library called directly.

The same PNG-encoded ELPV cells go (a) through the library in this process (decode + predict,
what a request does minus HTTP) one at a time, and (b) to the real server on loopback as
multipart uploads, from 1, 4 and 16 concurrent clients. Prints p50/p95/p99 latency and
throughput per level and the serving overhead at concurrency 1 (target: <= 15% on p50).

    python benchmarks/service.py [--bundle outputs/elpv/bundles/patchcore_mono] [--requests 100]
                                 [--workers 2] [--threads 1] [--heatmap] [--json out.json]

The default bundle is the one `make run` writes; run that first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TARGET_OVERHEAD = 0.15
LEVELS = (1, 4, 16)


def encoded_cells(category: str, count: int) -> list[bytes]:
    """``count`` ELPV cells of ``category`` (functional and defective alternately) as PNG bytes."""
    import io

    from PIL import Image

    from defectlab.data.elpv import read_elpv

    cells = read_elpv(category)
    good = [s for s in cells if s.label == 0][-count:]
    bad = [s for s in cells if s.label == 1][-count:]
    chosen = [s for pair in zip(good, bad) for s in pair][:count]
    out = []
    for sample in chosen:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(sample.image)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def summary(latencies_ms: list[float], seconds: float) -> dict[str, float]:
    values = np.asarray(latencies_ms)
    return {
        "requests": len(values),
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "p99_ms": float(np.percentile(values, 99)),
        "throughput_per_s": len(values) / seconds,
    }


def direct(bundle: Path, images: list[bytes], requests: int, threads: int, heatmap: bool) -> dict[str, float]:
    """The library in this process, one image at a time, as a request would do it without HTTP."""
    import torch

    from defectlab.bundle import load
    from defectlab.data.imageio import decode_image_bytes

    torch.set_num_threads(threads)
    predictor = load(bundle)
    predictor.warm_up()
    latencies = []
    start = time.perf_counter()
    for n in range(requests):
        t0 = time.perf_counter()
        predictor.predict([decode_image_bytes(images[n % len(images)])], explain=heatmap)
        latencies.append((time.perf_counter() - t0) * 1000)
    return summary(latencies, time.perf_counter() - start)


def served(base: str, images: list[bytes], requests: int, concurrency: int, heatmap: bool) -> dict[str, float]:
    """``requests`` uploads from ``concurrency`` clients; every answer must be 200."""
    import httpx

    url = f"{base}/v1/predict" + ("?heatmap=true" if heatmap else "")
    per_client = max(1, requests // concurrency)

    def client(seed: int) -> list[float]:
        latencies = []
        with httpx.Client(timeout=120.0) as http:
            for n in range(per_client):
                data = images[(seed * 7 + n) % len(images)]
                t0 = time.perf_counter()
                response = http.post(url, files={"file": ("cell.png", data, "image/png")})
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"request failed: {response.status_code} {response.text[:200]}")
        return latencies

    with httpx.Client() as http:  # warm the connection path and the model
        for data in images[:3]:
            http.post(url, files={"file": ("cell.png", data, "image/png")}).raise_for_status()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = [ms for result in pool.map(client, range(concurrency)) for ms in result]
    return summary(latencies, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=ROOT / "outputs/elpv/bundles/patchcore_mono")
    parser.add_argument("--requests", type=int, default=100, help="requests per level (and for the direct run)")
    parser.add_argument("--workers", type=int, default=2, help="the server's model threads")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, in the server and the direct run")
    parser.add_argument("--heatmap", action="store_true", help="ask for heatmap and overlay PNGs too")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not (args.bundle / "manifest.json").is_file():
        sys.exit(f"no bundle at {args.bundle}: run `make run` first, or pass --bundle")

    from defectlab.bundle.manifest import read_manifest
    from defectlab.serve.process import running_server

    category = (read_manifest(args.bundle).get("training") or {}).get("category") or "mono"
    images = encoded_cells(category if category in ("mono", "poly") else "mono", 32)
    rows = {"direct library, 1 caller": direct(args.bundle, images, args.requests, args.threads, args.heatmap)}
    server_args = ("--no-ui", "--workers", str(args.workers), "--threads", str(args.threads))
    with running_server("serve", args.bundle, *server_args) as base:
        for level in LEVELS:
            rows[f"service, {level} concurrent"] = served(base, images, args.requests, level, args.heatmap)
    overhead = rows["service, 1 concurrent"]["p50_ms"] / rows["direct library, 1 caller"]["p50_ms"] - 1.0

    print(
        f"bundle {args.bundle} ({len(images)} ELPV {category} cells as PNG, 300x300), server --workers "
        f"{args.workers} --threads {args.threads}, heatmap={args.heatmap}"
    )
    print(f"{'':28} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    for name, row in rows.items():
        print(
            f"{name:28} {row['requests']:8d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['throughput_per_s']:7.2f}"
        )
    verdict = "meets" if overhead <= TARGET_OVERHEAD else "misses"
    print(f"serving overhead at concurrency 1 (p50): {overhead:+.1%} ({verdict} the <= {TARGET_OVERHEAD:.0%} target)")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "overhead_c1": overhead, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2)
        )


if __name__ == "__main__":
    main()
