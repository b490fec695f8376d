"""Generalization check on real texture photographs with a defect generator the project never tuned on.

For each scikit-image texture (brick, grass, gravel), writes an MVTec-layout dataset
(`defectlab.data.real_textures`: CutPaste, foreign-patch and blur defects with exact masks), then
fits and evaluates PatchCore and PaDiM with the default settings (crops upsampled to 224), and
prints image AUROC (overall and per defect kind against the normal test crops), pixel AUROC and
AUPRO per texture and detector. CutPaste on an isotropic texture (gravel) is close to invisible:
a rotated gravel patch is still gravel.

    python benchmarks/texture_generalization.py [--size 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from defectlab.backbones.extractor import FeatureConfig
from defectlab.data.mvtec import read_mvtec
from defectlab.data.real_textures import DEFECTS, TEXTURES, make_texture_dataset
from defectlab.data.splits import apply, make_split
from defectlab.metrics.image import auroc
from defectlab.workflows.detection import FitOptions, evaluate_bundle, fit_bundle


def _per_kind_auroc(test: list, scores: np.ndarray) -> dict[str, float]:
    kinds = np.array([s.defect_type for s in test])
    normal = scores[kinds == "good"]
    return {
        kind: auroc(np.r_[np.zeros(len(normal)), np.ones(int((kinds == kind).sum()))], np.r_[normal, scores[kinds == kind]])
        for kind in DEFECTS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="crop size in pixels")
    parser.add_argument("--image-size", type=int, default=224, help="model input size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for texture in TEXTURES:
            make_texture_dataset(tmp, texture, size=args.size, seed=args.seed)
            samples = read_mvtec(tmp, texture)
            train, val, test = apply(make_split(samples, "mvtec", args.seed), samples)
            for detector in ("patchcore", "padim"):
                options = FitOptions(detector=detector, features=FeatureConfig(image_size=args.image_size), seed=args.seed)
                bundle, seconds = fit_bundle(train, val, options, category=texture)
                result = evaluate_bundle(bundle, test, n_bootstrap=200)
                m = result.metrics
                per_kind = _per_kind_auroc(test, result.scores)
                rows.append({"texture": texture, "detector": detector, **m, "per_kind_auroc": per_kind, "fit_seconds": seconds})
                kinds = "  ".join(f"{k} {v:.3f}" for k, v in per_kind.items())
                print(
                    f"{texture:7} {detector:9} image AUROC {m['image_auroc']:.3f} ({kinds})  pixel AUROC "
                    f"{m['pixel_auroc']:.3f}  AUPRO {m['aupro']:.3f}  fit {seconds:.1f} s",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
