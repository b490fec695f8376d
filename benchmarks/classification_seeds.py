"""Seed spread of the classification study's key comparisons, on the stored splits of one run.

For each training seed (the splits stay those of the study's seed), trains on cached backbone maps:
- elpv_binary: the attention classifier (ERM) and the causal classifier (config's parts, strata
  discovered) -> clean test accuracy;
- each spurious split: ERM and the causal classifier (the variant's parts; exact views for an applied
  nuisance) with the nuisance given and discovered -> mean and worst-group accuracy.
Prints each seed and the mean and standard deviation over seeds. Run the study first (its
output folder holds the splits), e.g. `python benchmarks/classification_elpv.py --out outputs/classification`.

    python benchmarks/classification_seeds.py [--config configs/classification.yaml] [--seeds 42,43,44,45,46]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.classifiers.causal_train import find_strata
from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.registry import build_classifier
from defectlab.data.elpv import read_elpv
from defectlab.experiments.classification.models import fit_causal, fit_head
from defectlab.experiments.classification.phases import Context, exact_views, scheme_data, spurious_data, views_in
from defectlab.experiments.jobs import load_job_config
from defectlab.metrics.classification import group_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/classification.yaml"))
    parser.add_argument("--seeds", default="42,43,44,45,46")
    args = parser.parse_args()
    _, cfg = load_job_config(args.config)
    samples = read_elpv()
    source = MapSource(build_classifier("attention", 2, cfg.image_size, seed=cfg.seed), FeatureCache(default_cache_dir()))
    ctx = Context(cfg, samples, source.maps([s.image for s in samples], progress=True), source, print, False)
    d = scheme_data(ctx, "elpv_binary")
    variants = [spurious_data(ctx, sp) for sp in cfg.spurious]
    views = {v.variant.name: exact_views(ctx, v) for v in variants}
    rows: dict[str, list[tuple[float, ...]]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        c = replace(cfg, seed=seed)
        erm = fit_head("attention", d.train, d.train_maps, d.val_maps, d.val, source, c, False)
        strata = find_strata("discovered", d.train, d.val, d.train_maps, d.val_maps, seed)
        causal = fit_causal("causal", d.train, d.val, d.train_maps, d.val_maps, strata, source, c, c.causal_parts, False)
        for name, fitted in (("clean accuracy · attention ERM", erm), ("clean accuracy · causal", causal)):
            rows.setdefault(name, []).append((float((fitted.predict(d.test.images).argmax(1) == d.test.labels).mean()),))
        for v in variants:
            name, parts = v.variant.name, v.variant.causal_parts or c.causal_parts
            spurious = {
                f"{name} mean, worst · attention ERM": fit_head(
                    "attention", v.train, v.train_maps, v.val_maps, v.val, source, c, False
                )
            }
            for where in ("given", "discovered"):
                strata = find_strata(name if where == "given" else "discovered", v.train, v.val, v.train_maps, v.val_maps, seed)
                spurious[f"{name} mean, worst · causal ({where})"] = fit_causal(
                    where,
                    v.train,
                    v.val,
                    v.train_maps,
                    v.val_maps,
                    strata,
                    source,
                    c,
                    parts,
                    False,
                    views_in(views[name], strata, name),
                )
            for label, fitted in spurious.items():
                report = group_report(v.test.labels, fitted.predict(v.test.images).argmax(1), v.groups)
                rows.setdefault(label, []).append((report["mean_group_accuracy"], report["worst_group_accuracy"]))
        print(f"seed {seed}: " + "; ".join(f"{k}: {', '.join(f'{x:.3f}' for x in v[-1])}" for k, v in rows.items()))
    print("\nmean ± sd over seeds")
    for name, values in rows.items():
        array = np.array(values)
        print(f"  {name:40s} " + ", ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(array.mean(0), array.std(0, ddof=1))))


if __name__ == "__main__":
    main()
