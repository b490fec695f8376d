"""Evaluate a classifier bundle on the test part of its stored split: metrics and a confusion table."""

from __future__ import annotations

from typing import Any

from defectlab.bundle.classifier_predictor import ClassifierPredictor
from defectlab.data.formats import read_dataset
from defectlab.fileio import jsonable
from defectlab.workflows.classifier import evaluate_classifier_bundle, stored_split_path
from defectlab.workflows.evaluation import Evaluation, EvaluationRequest


def evaluate_classifier(predictor: ClassifierPredictor, request: EvaluationRequest) -> Evaluation:
    """Accuracy, macro-F1, AUROC, balanced accuracy, per-class counts and the confusion matrix
    (dataset format and category default to the training ones)."""
    bundle = predictor.bundle
    trained_on = bundle.training.get("dataset") or {}
    samples = read_dataset(
        request.data, request.fmt or trained_on.get("format", "mvtec"), request.category or trained_on.get("category")
    )
    split_path = request.split or stored_split_path(bundle, predictor.path)
    summary = {"kind": "classifier", "split": str(split_path), **evaluate_classifier_bundle(bundle, samples, split_path)}
    return Evaluation(jsonable(summary), classifier_table(summary))


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
