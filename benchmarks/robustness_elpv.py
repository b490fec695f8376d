"""Robustness protocol on ELPV: wall time per phase (cold or warm cache) and the headline figures.

Runs `configs/robustness.yaml` (or `--config`) into a fresh output folder and prints
- the wall time of every progress step and the total (target: <= 20 min cold on 2 cores);
- mvtec-shift Robustness Index of image AUROC per detector and cell type, without and with adaptation
  (target with adaptation: >= 0.97);
- mono <-> poly transfer: image AUROC without adaptation and with k target normals, best k within 10%
  of the target's training normals (target >= 0.85), beside the issue's reference figures;
- few-shot recovery against k for the shifted domain.

    python benchmarks/robustness_elpv.py [--config configs/robustness.yaml] [--cold] [--out DIR]
"""

from __future__ import annotations

from defectlab.experiments.jobs import job_config
from defectlab.experiments.robustness import run_robustness_job
from defectlab.experiments.robustness.study import Study
from study_args import study_setup

REFERENCES = {
    (
        "mono",
        "poly",
    ): "reference: 0.70 without adaptation; 0.82 with 64 poly normals in a random 1% bank; 0.76 per-domain standardization",
    ("poly", "mono"): "reference: 0.92 with 64 mono normals",
}


def _auroc(record: dict) -> float:
    return float(record["metrics"]["image_auroc"])


def print_timings(study: Study) -> None:
    print(f"\nwall time per step (total {study.timer.total_seconds / 60:.1f} min)")
    for step in study.timer.steps:
        print(f"  {step['seconds']:8.1f} s  {step['step']}")


def print_shift_ri(study: Study, shift: str = "mvtec-shift") -> None:
    print(f"\n{shift}: image AUROC clean -> no adaptation -> adapted (Robustness Index)")
    records = [e.record for e in study.evaluations]
    for r in records:
        if r["phase"] != "clean":
            continue
        same = [x for x in records if x["category"] == r["category"] and x["detector"] == r["detector"] and x["shift"] == shift]
        by_phase = {x["phase"]: x for x in same if x["phase"] in ("shift_no_adaptation", "shift_adapted")}
        if len(by_phase) < 2:
            continue
        no, ad = by_phase["shift_no_adaptation"], by_phase["shift_adapted"]
        print(
            f"  {r['category']:5} {r['detector']:10} {_auroc(r):.3f} -> {_auroc(no):.3f} (RI {no['ri']['image_auroc']:.3f})"
            f" -> {_auroc(ad):.3f} (RI {ad['ri']['image_auroc']:.3f})"
        )


def print_transfer(study: Study) -> None:
    records = [e.record for e in study.evaluations if e.record["phase"] == "cross_domain"]
    pairs = sorted({(r["variant"]["source"], r["variant"]["target"], r["detector"]) for r in records})
    if pairs:
        print("\ncross-domain image AUROC by k target normals (k=0: no adaptation)")
    for source, target, detector in pairs:
        rows = sorted(
            (r for r in records if (r["variant"]["source"], r["variant"]["target"], r["detector"]) == (source, target, detector)),
            key=lambda r: r["variant"]["k"],
        )
        in_domain = next(
            (
                e.record
                for e in study.evaluations
                if e.record["phase"] == "clean" and e.record["category"] == target and e.record["detector"] == detector
            ),
            None,
        )
        curve = ", ".join(f"k={r['variant']['k']} {_auroc(r):.3f}" for r in rows)
        extra = f" | in-domain {_auroc(in_domain):.3f}" if in_domain else ""
        print(f"  {source}->{target} {detector:10} {curve}{extra}")
        if (source, target) in REFERENCES:
            print(f"    {REFERENCES[source, target]}")


def print_few_shot(study: Study) -> None:
    records = [e.record for e in study.evaluations if e.record["phase"] == "few_shot"]
    groups = sorted({(r["category"], r["detector"], r["shift"]) for r in records})
    if groups:
        print("\nfew-shot adaptation to the shifted domain: image AUROC by k")
    for category, detector, shift in groups:
        rows = sorted(
            (r for r in records if (r["category"], r["detector"], r["shift"]) == (category, detector, shift)),
            key=lambda r: r["variant"]["k"],
        )
        print(f"  {category:5} {detector:10} {shift}: " + ", ".join(f"k={r['variant']['k']} {_auroc(r):.3f}" for r in rows))


def main() -> None:
    path, raw, cache = study_setup(__doc__, "configs/robustness.yaml", "robustness")
    _, config = job_config(raw, path)
    study = run_robustness_job(config, log=print, cache=cache)
    print_timings(study)
    print_shift_ri(study)
    print_few_shot(study)
    print_transfer(study)


if __name__ == "__main__":
    main()
