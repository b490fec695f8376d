"""What each bundle kind contributes to the workflows: its evaluation and its scoring sheet.

Callers go through :func:`evaluate`, :func:`score` and :func:`classify` and never branch on kind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defectlab.bundle import load
from defectlab.bundle.manifest import CLASSIFIER_KIND, DETECTOR_KIND, KIND_NAMES, OPENSET_KIND, ROUTED_KIND, bundle_kind
from defectlab.bundle.prediction import Predictor
from defectlab.errors import ConfigError
from defectlab.workflows.classifier_evaluation import evaluate_classifier
from defectlab.workflows.detector_evaluation import evaluate_detector
from defectlab.workflows.evaluation import Evaluation, EvaluationRequest
from defectlab.workflows.openset_evaluation import evaluate_openset
from defectlab.workflows.routed_evaluation import evaluate_routed
from defectlab.workflows.scoring import (
    SCORING_BATCH,
    ClassesSheet,
    ResultSheet,
    ScoreSheet,
    class_row,
    collect_images,
    predict_files,
)


@dataclass(frozen=True)
class KindWorkflows:
    """A bundle kind's evaluation on labelled data and the sheet its scores go to."""

    evaluate: Callable[[Any, EvaluationRequest], Evaluation]
    sheet: Callable[[Path], ResultSheet]

    @property
    def classifies(self) -> bool:
        """Whether the kind names a class per image (and so can `classify`)."""
        return self.sheet is ClassesSheet


KIND_WORKFLOWS: dict[str, KindWorkflows] = {
    DETECTOR_KIND: KindWorkflows(evaluate_detector, ScoreSheet),
    ROUTED_KIND: KindWorkflows(evaluate_routed, functools.partial(ScoreSheet, categories=True)),
    CLASSIFIER_KIND: KindWorkflows(evaluate_classifier, ClassesSheet),
    OPENSET_KIND: KindWorkflows(evaluate_openset, ClassesSheet),
}


def evaluate(predictor: Predictor, request: EvaluationRequest) -> Evaluation:
    """Evaluate ``predictor`` on the labelled data of ``request``, the way its kind is evaluated."""
    return KIND_WORKFLOWS[predictor.kind].evaluate(predictor, request)


def score(predictor: Predictor, inputs: Sequence[Path], out: Path, batch: int = SCORING_BATCH) -> list[str]:
    """Score the images of ``inputs`` (files or folders) into the kind's sheet in ``out``; returns what to tell a person."""
    paths = collect_images(inputs)
    sheet = KIND_WORKFLOWS[predictor.kind].sheet(out)
    for index, path, prediction in predict_files(predictor, paths, sheet.explain, batch):
        sheet.add(index, path, prediction)
    return sheet.write()


def classify(bundle_dir: Path, inputs: Sequence[Path], batch: int = SCORING_BATCH) -> list[dict[str, Any]]:
    """Class, confidence and class probabilities of every image, with a bundle that classifies."""
    kind = bundle_kind(bundle_dir)
    if not KIND_WORKFLOWS[kind].classifies:
        raise ConfigError(
            f"{bundle_dir} is {KIND_NAMES[kind]} bundle, not a classifier: "
            f"use `defectlab score {bundle_dir} IMAGE_OR_DIR... --out DIR`"
        )
    predictor = load(bundle_dir)
    paths = collect_images(inputs)
    return [class_row(path, prediction) for _, path, prediction in predict_files(predictor, paths, batch=batch)]
