"""A small synthetic robustness results directory, written exactly as the results format specifies.

Two categories (mono with masks, poly without), two detectors, one shift, every phase, arrays
for every evaluation, one embeddings file and one gallery. The headline numbers and the arrays of
`mono__patchcore__clean` are chosen so the tests can check the report against hand values.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SHIFT = "mvtec-shift"
# image AUROC: (clean, no adaptation, adapted) per (category, detector)
HEADLINE = {
    ("mono", "patchcore"): (0.90, 0.72, 0.86),
    ("mono", "padim"): (0.80, 0.60, 0.76),
    ("poly", "patchcore"): (0.70, 0.63, 0.70),
    ("poly", "padim"): (0.60, 0.45, 0.57),
}
CONFIG = {
    "job": "robustness",
    "output": "outputs/robustness",
    "seed": 42,
    "dataset": {"format": "elpv", "categories": ["mono", "poly"]},
    "detectors": ["patchcore", "padim"],
    "shifts": [{"preset": SHIFT}],
}
HAND_ID = "mono__patchcore__clean"

# Arrays of HAND_ID: 10 normals scored 0.05..0.95, 8 anomalous images, threshold 0.8.
_NORMAL_SCORES = [(i + 0.5) / 10 for i in range(10)]
_ANOMALOUS = [  # score, defect type, area, region
    (1.2, "crack", 0.002, "border"),
    (1.1, "crack", 0.03, "centre"),
    (0.9, "crack", 0.1, "centre"),
    (0.5, "crack", 0.004, "border"),
    (1.5, "scratch", 0.2, "centre"),
    (0.3, "scratch", 0.001, "border"),
    (1.0, "scratch", 0.02, "centre"),
    (0.95, "scratch", 0.06, "centre"),
]
HAND_THRESHOLD = 0.8


def _arrays(
    labels: np.ndarray, scores: np.ndarray, threshold: float, types: list[str], areas: list[float], regions: list[str]
) -> dict[str, np.ndarray]:
    return {
        "labels": labels.astype(np.int64),
        "scores": scores.astype(np.float64),
        "normalized": np.clip(scores / (2 * threshold), 0.0, 1.0),
        "threshold": np.float64(threshold),
        "ids": np.array([f"img_{i:03d}" for i in range(len(labels))]),
        "defect_type": np.array(types),
        "defect_area": np.array(areas, dtype=np.float64),
        "defect_region": np.array(regions),
    }


def hand_arrays() -> dict[str, np.ndarray]:
    """The arrays of HAND_ID (see the module docstring)."""
    n = len(_NORMAL_SCORES)
    return _arrays(
        np.array([0] * n + [1] * len(_ANOMALOUS)),
        np.array(_NORMAL_SCORES + [a[0] for a in _ANOMALOUS]),
        HAND_THRESHOLD,
        ["good"] * n + [a[1] for a in _ANOMALOUS],
        [np.nan] * n + [a[2] for a in _ANOMALOUS],
        [""] * n + [a[3] for a in _ANOMALOUS],
    )


def random_arrays(seed: int, masks: bool) -> dict[str, np.ndarray]:
    """Plausible arrays: 12 normal, 8 anomalous images, anomalous ones score higher."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * 12 + [1] * 8)
    scores = rng.normal(0.0, 1.0, 20) + 1.5 * labels
    types = ["good"] * 12 + ["crack", "scratch"] * 4
    areas = [np.nan] * 12 + (list(rng.uniform(0.0, 0.1, 8)) if masks else [np.nan] * 8)
    regions = [""] * 12 + (["border", "centre"] * 4 if masks else [""] * 8)
    return _arrays(labels, scores, 1.0, types, areas, regions)


def _evaluation(
    category: str,
    detector: str,
    phase: str,
    shift: str,
    auroc: float,
    *,
    suffix: str = "",
    variant: dict[str, Any] | None = None,
    train: str | None = None,
    ri: float | None = None,
) -> dict[str, Any]:
    eval_id = f"{category}__{detector}__{phase}{suffix}"
    masks = category == "mono"
    return {
        "id": eval_id,
        "category": category,
        "detector": detector,
        "phase": phase,
        "shift": shift,
        "train": train or f"{category}/clean",
        "variant": variant or {},
        "metrics": {
            "image_auroc": auroc,
            "image_auprc": auroc - 0.05,
            "image_f1": auroc - 0.1,
            "pixel_auroc": auroc + 0.05 if masks else None,
            "aupro": auroc - 0.2 if masks else None,
        },
        "intervals": {
            "image_auroc": [auroc - 0.04, min(auroc + 0.04, 1.0)],
            "image_auprc": [auroc - 0.1, auroc],
            "image_f1": [auroc - 0.15, auroc - 0.05],
        },
        "ri": {"image_auroc": ri, "image_auprc": None, "image_f1": None, "pixel_auroc": None, "aupro": None},
        "threshold": 1.0,
        "n_test": 20,
        "n_anomalous": 8,
        "timings": {"fit_seconds": 12.34, "ms_per_image": 41.5},
        "arrays": f"arrays/{eval_id}.npz",
        "gallery": None,
    }


def _evaluations() -> list[dict[str, Any]]:
    out = []
    for (category, detector), (clean, degraded, adapted) in HEADLINE.items():
        out += [
            _evaluation(category, detector, "clean", "none", clean),
            _evaluation(category, detector, "shift_no_adaptation", SHIFT, degraded, ri=degraded / clean),
            _evaluation(category, detector, "shift_adapted", SHIFT, adapted, ri=adapted / clean, train=f"{category}/{SHIFT}"),
        ]
    for detector, base in (("patchcore", 0.72), ("padim", 0.60)):
        for k in (1, 5):
            out.append(
                _evaluation(
                    "mono",
                    detector,
                    "few_shot",
                    SHIFT,
                    base + 0.02 * k,
                    suffix=f"__k{k}",
                    variant={"k": k, "method": "memory_bank"},
                    train=f"mono/clean + {k} {SHIFT}",
                )
            )
    out += [
        _evaluation(c, "patchcore", "global", "none", v, train="mono+poly/clean") for c, v in (("mono", 0.88), ("poly", 0.71))
    ]
    for k, method, value in ((0, "none", 0.55), (5, "memory_bank", 0.66)):
        out.append(
            _evaluation(
                "poly",
                "patchcore",
                "cross_domain",
                "none",
                value,
                suffix=f"__k{k}",
                variant={"source": "mono", "target": "poly", "k": k, "method": method},
                train=f"mono/clean + {k} poly",
            )
        )
    for train_shift, test_shift, value in (
        ("brightness@3", "brightness@3", 0.85),
        ("brightness@3", "gaussian_noise@3", 0.61),
        ("gaussian_noise@3", "brightness@3", 0.70),
        ("gaussian_noise@3", "gaussian_noise@3", 0.83),
    ):
        out.append(
            _evaluation(
                "mono",
                "patchcore",
                "cross_shift",
                test_shift,
                value,
                suffix=f"__{train_shift}__{test_shift}",
                variant={"train_shift": train_shift, "test_shift": test_shift},
                train=f"mono/{train_shift}",
            )
        )
    out += [
        _evaluation(
            "mono",
            "patchcore",
            "ablation",
            "none",
            0.87,
            suffix="__coreset",
            variant={"ablation": "coreset_ratio", "value": 0.05},
        ),
        _evaluation(
            "mono",
            "patchcore",
            "ablation",
            "none",
            0.89,
            suffix="__layers",
            variant={"ablation": "layers", "value": "blocks.2+blocks.4"},
        ),
    ]
    for severity, plain, adapted in ((1, 0.88, 0.89), (3, 0.70, 0.84)):
        for flag, value in ((False, plain), (True, adapted)):
            out.append(
                _evaluation(
                    "mono",
                    "patchcore",
                    "severity",
                    f"gaussian_noise@{severity}",
                    value,
                    suffix=f"__gaussian_noise{severity}{'_adapted' if flag else ''}",
                    variant={"corruption": "gaussian_noise", "severity": severity, "adapted": flag},
                )
            )
    return out


def _png_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


GALLERY_ID = "mono__patchcore__shift_no_adaptation"


def write_results_dir(root: Path, phases: tuple[str, ...] | None = None) -> Path:
    """Write the directory under `root` (created) and return it; `phases` keeps only those evaluations."""
    root.mkdir(parents=True, exist_ok=True)
    evaluations = [e for e in _evaluations() if phases is None or e["phase"] in phases]
    (root / "arrays").mkdir()
    for i, e in enumerate(evaluations):
        arrays = hand_arrays() if e["id"] == HAND_ID else random_arrays(i, masks=e["category"] == "mono")
        np.savez(root / e["arrays"], **arrays)
        if e["id"] == GALLERY_ID:
            e["gallery"] = {
                "false_positives": f"galleries/{GALLERY_ID}_fp.png",
                "false_negatives": f"galleries/{GALLERY_ID}_fn.png",
            }
    (root / "galleries").mkdir()
    for n, suffix in enumerate(("fp", "fn")):
        (root / "galleries" / f"{GALLERY_ID}_{suffix}.png").write_bytes(_png_bytes(n))
    rng = np.random.default_rng(7)
    (root / "embeddings").mkdir()
    np.savez(
        root / "embeddings" / "mono.npz",
        coords=rng.normal(size=(40, 2)),
        anomalous=np.array([0, 1] * 20, dtype=np.int64),
        domain=np.array(["clean"] * 20 + [SHIFT] * 20),
        kind=np.array("patch"),
        method=np.array("pca"),
    )
    comparisons = [
        {
            "category": "mono",
            "phase": "clean",
            "shift": "none",
            "variant": {},
            "a": "patchcore",
            "b": "padim",
            "metric": "image_auroc",
            "value_a": 0.90,
            "value_b": 0.80,
            "difference": 0.10,
            "ci": [0.05, 0.15],
            "p_value": 0.0004,
            "method": "delong",
        },
        {
            "category": "poly",
            "phase": "clean",
            "shift": "none",
            "variant": {},
            "a": "patchcore",
            "b": "padim",
            "metric": "image_auroc",
            "value_a": 0.70,
            "value_b": 0.60,
            "difference": 0.10,
            "ci": None,
            "p_value": 0.41,
            "method": "delong",
        },
    ]
    record = {
        "job": "robustness",
        "created": "2026-11-26T01:00:00+00:00",
        "seed": 42,
        "versions": {"defectlab": "0.1.0", "python": "3.11.9", "torch": "2.14.1"},
        "config": CONFIG,
        "evaluations": evaluations,
        "comparisons": comparisons,
        "embeddings": [{"category": "mono", "file": "embeddings/mono.npz"}],
    }
    (root / "results.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return root
