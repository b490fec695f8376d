"""Open-set runtime: ms/image of stage 1, stage 2 (whole image and localized), the cascade and the one-stage model.

Fits an open-set bundle (`fit-openset`'s code path, default backbone and parameters except a short
classifier training) on synthetic steel surfaces (folder layout: good/ plus the six NEU defect
types; crazing, inclusion and patches known), loads it back, and times inference from raw images
(no feature cache) on the test part: defect images and defect-free ones, as a line sees them.

- stage 1: the detector's backbone features and PatchCore scores and maps, every image;
- stage 1 + localized stage 2 on every image: the stage-1 features pooled over the stage-1 anomaly
  map, linear and open-set heads (no second backbone pass);
- cascade: stage 1 on every image, stage 2 (localized, or whole image) only on the images it flags
  (measured, not estimated);
- one stage: the classifier's backbone maps, attention head and open-set head on every image (the
  whole-image stage 2).

Each figure is the best of ``--repeats`` runs. Ratios to the one-stage model are printed beside.

    python benchmarks/openset.py [--n-per-class 40] [--n-good 200] [--images 96] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.model import AttentionClassifier
from defectlab.data.synth_steel import generate_steel_dataset
from defectlab.pipelines.openset_bundle import OpenSetBundle, load_openset_bundle
from defectlab.workflows.openset.bundle_jobs import fit_openset_bundle, openset_config, split_path
from defectlab.workflows.openset.config import ClassifierConfig, DataConfig
from defectlab.workflows.openset.data import SplitIds, apply_split, read_samples
from defectlab.workflows.openset.models import Backbones, classifier_outputs

KNOWN = ("crazing", "inclusion", "patches")


def best_ms(run: Callable[[], object], n: int, repeats: int) -> float:
    """Best wall time of ``repeats`` calls of ``run``, in ms per image of ``n``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times) / max(n, 1)


def stages(bundle: OpenSetBundle, backbones: Backbones) -> dict[str, Callable[[list[np.ndarray]], object]]:
    """Each timed path as a function of the images."""
    detector = bundle.stage1.model.detector
    threshold = bundle.stage1.threshold.value
    classifier = bundle.classifier.model
    assert isinstance(classifier, AttentionClassifier)
    maps = MapSource(classifier)  # no cache: every call runs the classifier's backbone

    def stage1(images):
        features = backbones.features(images)
        scores, patch_maps = detector.score(features)
        return features, scores.numpy(), patch_maps

    def whole(images):
        embeddings, logits = classifier_outputs(classifier, maps.maps(images))
        return bundle.whole.decide(embeddings, logits)

    def localized_on(features, patch_maps):
        embeddings, logits = bundle.localized.represent(features, patch_maps)
        return bundle.localized.head.decide(embeddings, logits)

    def localized(images):
        features, _, patch_maps = stage1(images)
        return localized_on(features, patch_maps)

    def cascade_localized(images):
        features, scores, patch_maps = stage1(images)
        flagged = np.flatnonzero(scores >= threshold)
        if len(flagged):
            localized_on(features[flagged], patch_maps[flagged])

    def cascade_whole(images):
        _, scores, _ = stage1(images)
        flagged = np.flatnonzero(scores >= threshold)
        if len(flagged):
            whole([images[i] for i in flagged])

    return {
        "stage 1 (gate)": stage1,
        "stage 1 + stage 2 localized, every image": localized,
        "cascade, localized stage 2 on flagged": cascade_localized,
        "cascade, whole-image stage 2 on flagged": cascade_whole,
        "one stage (classifier + open-set head)": whole,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-per-class", type=int, default=40)
    parser.add_argument("--n-good", type=int, default=200)
    parser.add_argument("--images", type=int, default=96, help="test images timed (a seeded draw of defects and defect-free)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="openset-bench-") as tmp:
        root, out = Path(tmp) / "steel", Path(tmp) / "bundle"
        generate_steel_dataset(root, layout="folder", n_per_class=args.n_per_class, n_good=args.n_good, size=200, seed=args.seed)
        config = openset_config(
            DataConfig("folder", root), KNOWN, "bench", seed=args.seed, classifier=ClassifierConfig(epochs=5, patience=3)
        )
        start = time.perf_counter()
        fit_openset_bundle(config, out, None, lambda _: None)
        print(f"fitted the open-set bundle in {time.perf_counter() - start:.1f} s ({args.threads} threads)")
        bundle = load_openset_bundle(out)
        defects, normals = read_samples(config)
        data = apply_split(SplitIds(**json.loads(split_path(out).read_text())), defects, normals)
        pool = data.test + data.good_test
        samples = [pool[i] for i in np.random.default_rng(args.seed).permutation(len(pool))[: args.images]]
        images = [s.image for s in samples]
        backbones = Backbones(config, None)
        paths = stages(bundle, backbones)
        scores = paths["stage 1 (gate)"](images)[1]
        flagged = float(np.mean(scores >= bundle.stage1.threshold.value))
        n_good = sum(s.defect_type == "good" for s in samples)
        print(f"{len(images)} test images ({n_good} defect-free); stage 1 flags {100 * flagged:.0f}% of them\n")
        for run in paths.values():  # warm-up: first calls build kernels and allocate
            run(images[:4])
        timings = {name: best_ms(lambda run=run: run(images), len(images), args.repeats) for name, run in paths.items()}
        one_stage = timings["one stage (classifier + open-set head)"]
        width = max(map(len, timings))
        print(f"{'path':{width}}  {'ms/image':>9}  {'/ one stage':>11}")
        for name, ms in timings.items():
            print(f"{name:{width}}  {ms:9.1f}  {ms / one_stage:11.2f}")


if __name__ == "__main__":
    main()
