"""anomalib 2.x PatchCore on ELPV with the same split, weights, layers and resolution as defectlab.

Uses anomalib's own torch model (feature extractor, its k-center-greedy coreset, its kNN and
score reweighting) without the Lightning engine. Pre-processing is the one these weights were
trained with (resize, mean 0.5, std 0.5), as for defectlab; anomalib's default ImageNet
normalization costs about 0.01-0.02 AUROC here. Imported by benchmarks/detection_elpv.py.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MEAN = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
STD = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)


def _batches(images: list[np.ndarray], size: int, batch: int):
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[start : start + batch])).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        yield (x - MEAN) / STD


def _fit(cell: str, coreset_ratio: float, size: int, batch: int, cache: Path | None = None):
    """anomalib's PatchcoreModel fitted on the ELPV train split of `cell` (its state reused from `cache`)."""
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    from defectlab.backbones.efficientnet_lite import load_efficientnet_lite_state
    from defectlab.data.elpv import read_elpv
    from defectlab.data.splits import apply, make_split

    samples = read_elpv(cell)
    train, _, test = apply(make_split(samples, "elpv", 42), samples)
    model = PatchcoreModel(layers=["blocks.2", "blocks.4"], backbone="tf_efficientnet_lite0", pre_trained=False, num_neighbors=9)
    extractor = model.feature_extractor.feature_extractor
    state = {k: v for k, v in load_efficientnet_lite_state().items() if k in extractor.state_dict()}
    missing = set(extractor.state_dict()) - set(state)
    if missing:
        raise RuntimeError(f"weights do not cover anomalib's extractor: {sorted(missing)[:5]}")
    extractor.load_state_dict(state, strict=True)
    train_images = [np.asarray(s.image) for s in train]
    seconds = {"fit_seconds": float("nan"), "coreset_seconds": float("nan")}
    if cache is not None and cache.is_file():
        model.memory_bank = torch.load(cache)
    else:
        start = time.perf_counter()
        model.train()
        with torch.no_grad():
            for x in _batches(train_images, size, batch):
                model(x)
        coreset_start = time.perf_counter()
        model.subsample_embedding(coreset_ratio)
        seconds = {"fit_seconds": time.perf_counter() - start, "coreset_seconds": time.perf_counter() - coreset_start}
        if cache is not None:
            torch.save(model.memory_bank, cache)
    model.eval()
    return model, len(train_images), test, seconds


def fit_and_score(cell: str, coreset_ratio: float = 0.01, size: int = 224, batch: int = 16) -> dict:
    """Fit anomalib's PatchcoreModel on the ELPV train split of `cell`, score the test split."""
    import anomalib

    from defectlab.metrics.image import auprc, auroc

    model, n_train, test, seconds = _fit(cell, coreset_ratio, size, batch)
    test_images = [np.asarray(s.image) for s in test]
    start = time.perf_counter()
    scores = []
    with torch.no_grad():
        for x in _batches(test_images, size, batch):
            scores.append(model(x).pred_score.flatten())
    ms = 1000 * (time.perf_counter() - start) / len(test_images)
    scores_np = torch.cat(scores).numpy()
    labels = np.array([s.label for s in test])
    return {
        "tool": f"anomalib {anomalib.__version__}",
        "detector": "patchcore",
        "cell": cell,
        "n_train": n_train,
        "n_test": len(test_images),
        "auroc": auroc(labels, scores_np),
        "auprc": auprc(labels, scores_np),
        **seconds,
        "ms_per_image": ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bank_size": int(model.memory_bank.shape[0]),
    }


def export_and_score(cell: str, work: Path, timed: int = 128, size: int = 224) -> list[dict]:
    """anomalib's eager PatchCore and its own OpenVINO export (`to_openvino`, f32 and FP16) on the test split.

    Same rows as benchmarks/runtime.py: AUROC, ms/image at batch 16 over the test split and at batch 1
    over its first `timed` images, the largest relative score difference from the eager model.
    Pre- and post-processing are left out of the graph on both sides (resize and normalization as
    for defectlab; raw distances, no min-max normalization), so the scores compare one to one.
    """
    import anomalib
    import openvino as ov
    from anomalib.deploy import CompressionType
    from anomalib.models import Patchcore

    from defectlab.metrics.image import auroc

    work.mkdir(parents=True, exist_ok=True)
    model, _, test, _ = _fit(cell, 0.01, size, 16, cache=work / f"anomalib-patchcore-{cell}.pt")
    images = [np.asarray(s.image) for s in test]
    labels = np.array([s.label for s in test])
    module = Patchcore(
        backbone="tf_efficientnet_lite0",
        layers=("blocks.2", "blocks.4"),
        pre_trained=False,
        pre_processor=False,
        post_processor=False,
        evaluator=False,
        visualizer=False,
    )
    module.model = model
    module.eval()

    def eager(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model(x).pred_score.flatten().numpy()

    runners = {f"anomalib {anomalib.__version__} torch": eager}
    core = ov.Core()
    for name, compression in (("openvino f32", None), ("openvino f16", CompressionType.FP16)):
        xml = module.to_openvino(
            work / f"anomalib-{cell}-{name.replace(' ', '-')}", input_size=(size, size), compression_type=compression
        )
        compiled = core.compile_model(xml, "CPU")
        output = next(o for o in compiled.outputs if "pred_score" in o.get_names())
        runners[f"anomalib {name}"] = lambda x, compiled=compiled, output=output: compiled(x.numpy())[output].reshape(-1)

    def run(runner, subset: list[np.ndarray], batch: int) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        scores = np.concatenate([runner(x) for x in _batches(subset, size, batch)])
        return 1000 * (time.perf_counter() - start) / len(subset), scores

    rows = []
    reference = None
    for tool, runner in runners.items():
        run(runner, images[:16], 16)  # warm up
        ms16, scores = run(runner, images, 16)
        ms1, _ = run(runner, images[:timed], 1)
        reference = scores if reference is None else reference
        rows.append(
            {
                "tool": tool,
                "auroc": auroc(labels, scores),
                "ms_per_image": ms16,
                "ms_per_image_batch1": ms1,
                "max_relative_difference": float(np.max(np.abs(scores - reference) / np.maximum(np.abs(reference), 1e-12))),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    return rows


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="anomalib's PatchCore exports on ELPV (called by benchmarks/runtime.py)")
    parser.add_argument("--export", metavar="CELL", required=True, choices=("mono", "poly"))
    parser.add_argument("--work", type=Path, required=True, help="where the fitted bank and the exports are kept")
    args = parser.parse_args()
    print(json.dumps(export_and_score(args.export, args.work)))
