"""The detection benchmark suite: image AUROC, pixel AUROC, AUPRO, F1 / false alarms at the default
threshold, and the Robustness Index (shifted / clean image AUROC) without adaptation and after a
refit, per data set x model, with macro averages, in one run.

Data sets: ELPV mono and poly (real), brick / grass / gravel photographs with two defect generators
(`patches`: CutPaste, foreign material, blur; `marks`: scratches, cracks, stains), the synthetic
MVTec texture and object sets and the synthetic steel set. Shifts: ImageNet-C (`imagecorruptions`)
and the project's own shift suite, as configured. Features are cached, so a second run is fast.

    python benchmarks/suite.py [--config configs/suite.yaml] [--datasets a,b] [--models a,b] [--no-adapted]
    defectlab run configs/suite.yaml        # the same run, through the job registry
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from defectlab.backbones.cache import FeatureCache, default_cache_dir
from defectlab.experiments.suite.config import load_suite_config
from defectlab.experiments.suite.runner import run_suite
from defectlab.report.suite_report import suite_markdown, write_suite_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/suite.yaml"))
    parser.add_argument("--datasets", default=None, help="comma-separated subset of the config's data sets")
    parser.add_argument("--models", default=None, help="comma-separated subset of the config's models")
    parser.add_argument("--output", type=Path, default=None, help="results folder (default: the config's)")
    parser.add_argument("--no-adapted", action="store_true", help="skip the refits on shifted training images")
    args = parser.parse_args()
    config = load_suite_config(args.config)
    changes: dict = {}
    if args.datasets:
        changes["datasets"] = tuple(args.datasets.split(","))
    if args.models:
        wanted = args.models.split(",")
        changes["models"] = tuple(m for m in config.models if m.name in wanted)
    if args.output:
        changes["output"] = args.output
    if args.no_adapted:
        changes["adapted"] = False
    config = replace(config, **changes)
    run = run_suite(config, FeatureCache(default_cache_dir()))
    print(suite_markdown(run.rows))
    print(f"\n{run.seconds:.0f} s; {write_suite_report(config.output)}")


if __name__ == "__main__":
    main()
