"""anomalib 2.x PatchCore on ELPV with the same split, weights, layers and resolution as defectlab.

Uses anomalib's own torch model (feature extractor, its k-center-greedy coreset, its kNN and
score reweighting) without the Lightning engine. Pre-processing is the one these weights were
trained with (resize, mean 0.5, std 0.5), as for defectlab; anomalib's default ImageNet
normalization costs about 0.01-0.02 AUROC here. Imported by benchmarks/detection_elpv.py.
"""

from __future__ import annotations

import resource
import time

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


def fit_and_score(cell: str, coreset_ratio: float = 0.01, size: int = 224, batch: int = 16) -> dict:
    """Fit anomalib's PatchcoreModel on the ELPV train split of `cell`, score the test split."""
    import anomalib
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

    from defectlab.backbones.efficientnet_lite import load_efficientnet_lite_state
    from defectlab.data.elpv import read_elpv
    from defectlab.data.splits import apply, make_split
    from defectlab.metrics.image import auprc, auroc

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
    test_images = [np.asarray(s.image) for s in test]
    start = time.perf_counter()
    model.train()
    with torch.no_grad():
        for x in _batches(train_images, size, batch):
            model(x)
    coreset_start = time.perf_counter()
    model.subsample_embedding(coreset_ratio)
    fit_seconds = time.perf_counter() - start
    coreset_seconds = time.perf_counter() - coreset_start
    model.eval()
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
        "n_train": len(train_images),
        "n_test": len(test_images),
        "auroc": auroc(labels, scores_np),
        "auprc": auprc(labels, scores_np),
        "fit_seconds": fit_seconds,
        "coreset_seconds": coreset_seconds,
        "ms_per_image": ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bank_size": int(model.memory_bank.shape[0]),
    }
