"""Multi-product inspection on ELPV mono/poly plus synthetic products: wall time and the issue's targets.

Runs `configs/router.yaml` (or `--config`) into a fresh output folder and prints
- the wall time of every step and the total (target: <= 15 min on 2 cores, cold feature cache);
- the router's routing of every test image (head accuracy, refusals, confusion);
- unknown-category detection with each category held out of the router in turn;
- routed system vs oracle routing vs one global detector (image, and pixel where masks exist);
- FeatureCAE vs PatchCore vs PaDiM per category (AUROC, fit s, ms/image, bundle size, peak memory);
- the targets next to the measured figures: router accuracy >= 99.5%; routed macro AUROC within 0.005 of
  oracle; a held-out category called unknown >= 95% while <= 2% of known images are; FeatureCAE AUROC within
  0.02 of PatchCore's on ELPV mono and poly, bundle >= 10x smaller, inference no slower.

    python benchmarks/router_elpv.py [--config configs/router.yaml] [--cold] [--out DIR]
"""

from __future__ import annotations

import time

from defectlab.experiments.jobs import job_config
from defectlab.experiments.router_study import run_router_job
from defectlab.report.page import load_results
from defectlab.report.router_report import router_sections
from defectlab.report.sections import all_tables
from router_targets import check_targets
from study_args import study_setup


def main() -> None:
    path, raw, cache = study_setup(__doc__ or "", "configs/router.yaml", "router")
    _, config = job_config(raw, path)
    started = time.perf_counter()
    run_router_job(config, cache=cache, progress=False)
    wall = time.perf_counter() - started
    results = load_results(config.output)  # as written, exactly what the report shows
    for table in all_tables(router_sections(results)):
        print(f"\n{table.title}\n\n{table.markdown()}")
    print(f"\nwall time {wall:.0f} s ({wall / 60:.1f} min; target <= 15 min cold); report: {config.output / 'report.html'}")
    targets = check_targets(results)
    for t in targets:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']:.4g} (goal {t['goal']})")
    missed = [t["target"] for t in targets if not t["met"]]
    print("targets: all met" if not missed else f"targets missed: {'; '.join(missed)}")


if __name__ == "__main__":
    main()
