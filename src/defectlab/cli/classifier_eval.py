"""`defectlab evaluate` on a classifier bundle: metrics on the test part of its stored split, as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from defectlab.bundle.classifier import load_classifier_bundle
from defectlab.data.formats import read_dataset
from defectlab.fileio import atomic_write_text, jsonable
from defectlab.workflows.classifier import evaluate_classifier_bundle, stored_split_path


def evaluate_classifier_dir(
    bundle_dir: Path,
    data: Path | None,
    category: str | None,
    fmt: str | None,
    split: Path | None,
    json_out: Path | None,
) -> dict[str, Any]:
    """Evaluate the bundle (dataset format and category default to the training ones); write ``json_out``."""
    bundle = load_classifier_bundle(bundle_dir)
    trained_on = bundle.training.get("dataset") or {}
    samples = read_dataset(data, fmt or trained_on.get("format", "mvtec"), category or trained_on.get("category"))
    split_path = split or stored_split_path(bundle, bundle_dir)
    summary = {"kind": "classifier", "split": str(split_path), **evaluate_classifier_bundle(bundle, samples, split_path)}
    if json_out:
        atomic_write_text(json_out, json.dumps(jsonable(summary), indent=2) + "\n")
    return summary


def classifier_table(summary: dict[str, Any]) -> str:
    """Metrics line plus the confusion matrix (rows: true class, columns: predicted) with per-class counts."""
    classes = summary["classes"]
    metrics = "  ".join(f"{key} {summary[key]:.3f}" for key in ("accuracy", "macro_f1", "auroc", "balanced_accuracy"))
    header = ["true \\ predicted", *classes, "n"]
    rows = [[name, *map(str, counts), str(sum(counts))] for name, counts in zip(classes, summary["confusion_matrix"])]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"classifier ({summary['scheme']}) on {summary['n_test']} test images of split {summary['split']}",
        metrics,
        *(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in [header, *rows]
        ),
    ]
    return "\n".join(lines)
