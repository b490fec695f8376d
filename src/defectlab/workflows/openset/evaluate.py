"""Score the approaches of one split: one-stage (whole image), cascade + whole image, cascade + localized.

For every approach and open-set method: closed-set accuracy on the known test defects,
known-vs-unknown AUROC, FPR at 95% TPR, OSCR (with its curve), and macro F1 over the outcomes
(known classes, ``unknown_defect`` and, when the test set has normal images, ``no_defect``). The
cascade is also scored with ``no_defect`` ignored (every test defect sent to stage 2), the mode
for test sets without defect-free images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from defectlab.metrics.openset import fpr_at_95_tpr, known_unknown_auroc, macro_f1_with_unknown, oscr, oscr_curve
from defectlab.pipelines.cascade import NO_DEFECT, UNKNOWN_DEFECT, LocalizedStage2, cascade_outcomes
from defectlab.pipelines.openset import METHODS, UNKNOWN, OpenSetHead
from defectlab.workflows.openset.data import OpenSetData
from defectlab.workflows.openset.models import Views

APPROACHES = ("one_stage", "cascade_whole", "cascade_localized")


@dataclass
class Representation:
    """One approach's stage-2 inputs on the test images: embeddings and logits, with its head."""

    head: OpenSetHead
    embeddings: np.ndarray
    logits: np.ndarray


@dataclass
class TestSet:
    """Truth of the test images: defect class (or ``good``), and whether the class is known."""

    classes: list[str]
    is_good: np.ndarray
    is_known: np.ndarray
    stage1_scores: np.ndarray

    def truth(self) -> list[str]:
        """The outcome each image should get."""
        return [NO_DEFECT if g else (c if k else UNKNOWN_DEFECT) for c, g, k in zip(self.classes, self.is_good, self.is_known)]


def evaluate_method(
    rep: Representation, tests: TestSet, method: str, gate: float | None, use_kappa: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Metrics of one approach and method; ``gate`` is the stage-1 threshold (None: one stage)."""
    defects = ~tests.is_good
    known, unknown = defects & tests.is_known, defects & ~tests.is_known
    scores = rep.head.scores(rep.embeddings, rep.logits)[method]
    closed = np.array(rep.head.class_names)[rep.logits.argmax(axis=1)]
    correct = closed[known] == np.array(tests.classes)[known]
    decisions = rep.head.decide(rep.embeddings, rep.logits, method, use_kappa)
    outcomes = (
        [UNKNOWN_DEFECT if d == UNKNOWN else d for d in decisions]
        if gate is None
        else cascade_outcomes(tests.stage1_scores, gate, decisions)
    )
    truth = tests.truth()
    defect_rows = np.flatnonzero(defects)
    staged = [UNKNOWN_DEFECT if decisions[i] == UNKNOWN else decisions[i] for i in defect_rows]
    metrics = {
        "closed_set_accuracy": float(np.mean(correct)),
        "known_unknown_auroc": known_unknown_auroc(scores[known], scores[unknown]),
        "fpr_at_95_tpr": fpr_at_95_tpr(scores[known], scores[unknown]),
        "oscr": oscr(scores[known], correct, scores[unknown]),
        "macro_f1_with_unknown": macro_f1_with_unknown(truth, outcomes),
        "macro_f1_defects_only": macro_f1_with_unknown([truth[i] for i in defect_rows], staged),
        "threshold": rep.head.thresholds[method],
    }
    return metrics, outcomes


def curves(rep: Representation, tests: TestSet, method: str) -> dict[str, list[float]]:
    """OSCR curve and the known / unknown score lists (for plots)."""
    defects = ~tests.is_good
    known, unknown = defects & tests.is_known, defects & ~tests.is_known
    scores = rep.head.scores(rep.embeddings, rep.logits)[method]
    closed = np.array(rep.head.class_names)[rep.logits.argmax(axis=1)]
    correct = closed[known] == np.array(tests.classes)[known]
    fpr, ccr = oscr_curve(scores[known], correct, scores[unknown])
    return {"fpr": fpr.tolist(), "ccr": ccr.tolist(), "known": scores[known].tolist(), "unknown": scores[unknown].tolist()}


def evaluate_all(reps: dict[str, Representation], tests: TestSet, gate: float) -> dict[str, dict[str, dict[str, Any]]]:
    """metrics[approach][method] for every approach (cascades gated at ``gate``) and method."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for approach in APPROACHES:
        rep = reps["whole" if approach != "cascade_localized" else "localized"]
        results[approach] = {}
        for method in METHODS:
            metrics, _ = evaluate_method(rep, tests, method, None if approach == "one_stage" else gate)
            results[approach][method] = metrics
        with_kappa, _ = evaluate_method(rep, tests, "mahalanobis", None if approach == "one_stage" else gate, use_kappa=True)
        results[approach]["mahalanobis+kappa"] = with_kappa
    return results


def test_representations(
    test_views: Views, whole: OpenSetHead, localized: LocalizedStage2, data: OpenSetData
) -> tuple[dict[str, Representation], TestSet]:
    """Both representations of the test images (defects of ``data.test``, then ``data.good_test``) and their truth."""
    local_embeddings, local_logits = localized.represent(test_views.features, test_views.patch_maps)
    reps = {
        "whole": Representation(whole, test_views.embeddings, test_views.logits),
        "localized": Representation(localized.head, local_embeddings, local_logits),
    }
    samples = data.test + data.good_test
    tests = TestSet(
        classes=[s.defect_type for s in samples],
        is_good=np.arange(len(samples)) >= len(data.test),
        is_known=np.array([s.defect_type in data.known for s in samples]),
        stage1_scores=test_views.stage1_scores,
    )
    return reps, tests
