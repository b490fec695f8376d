"""Open-set recognition on one representation: name the known class, or say "unknown".

An :class:`OpenSetHead` sits on embeddings (the classifier's penultimate layer, or localized
stage-1 features) and the class logits computed from them. It scores every image with each of
:data:`METHODS` ("higher = more likely unknown"): Mahalanobis distance to the nearest class
mean under a shared covariance, its relative variant, ViM (the embedding's residual outside the
known principal subspace as a virtual logit against the real logits), and the logit baselines
(maximum softmax probability, maximum logit, energy). Each method's threshold tau accepts a
share ``accept`` of the *validation* images of the known classes; the optional confidence
threshold kappa does the same on the maximum softmax probability. No test image is used for any threshold.

:class:`LinearHead` is the closed-set classifier for representations that have no network head
of their own (localized features): a standardized multinomial logistic regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression

from defectlab.errors import ConfigError, DataError, NotFittedError
from defectlab.pipelines.openset_scores import MahalanobisScorer, VirtualLogitScorer, acceptance_threshold, logit_score

UNKNOWN = "unknown"
METHODS = ("mahalanobis", "relative_mahalanobis", "vim", "msp", "max_logit", "energy")


@dataclass
class OpenSetHead:
    """Thresholded open-set scores over one representation (see the module docstring)."""

    class_names: tuple[str, ...]
    accept: float = 0.95
    thresholds: dict[str, float] = field(default_factory=dict)
    kappa: float | None = None

    def __post_init__(self) -> None:
        if not 0.5 <= self.accept < 1.0:
            raise ConfigError(f"open-set acceptance must be in [0.5, 1), got {self.accept}")
        if len(set(self.class_names)) != len(self.class_names) or UNKNOWN in self.class_names:
            raise ConfigError(f"known class names must be distinct and not '{UNKNOWN}': {list(self.class_names)}")
        self.scorers = {"mahalanobis": MahalanobisScorer(), "relative_mahalanobis": MahalanobisScorer(relative=True)}
        self.vim = VirtualLogitScorer()

    def fit(
        self,
        train_embeddings: np.ndarray,
        train_labels: np.ndarray,
        val_embeddings: np.ndarray,
        val_logits: np.ndarray,
        final_layer: tuple[np.ndarray, np.ndarray],
    ) -> OpenSetHead:
        """Fit the Gaussians and ViM on training embeddings (labels are class indices; ``final_layer``
        is the (weight, bias) that maps embeddings to logits), then set every method's threshold and
        kappa on the known-class validation images."""
        for scorer in self.scorers.values():
            scorer.fit(train_embeddings, train_labels)
        self.vim.fit(train_embeddings, *final_layer)
        val_scores = self.scores(val_embeddings, val_logits)
        self.thresholds = {method: acceptance_threshold(val_scores[method], self.accept) for method in METHODS}
        self.kappa = -self.thresholds["msp"]  # MSP >= kappa for a share `accept` of known images
        return self

    def scores(self, embeddings: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Every method's open-set score per image."""
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[1] != len(self.class_names) or len(logits) != len(embeddings):
            raise DataError(f"expected ({len(embeddings)}, {len(self.class_names)}) logits, got {logits.shape}")
        out = {name: scorer.score(embeddings) for name, scorer in self.scorers.items()}
        out["vim"] = self.vim.score(embeddings, logits)
        out.update({name: logit_score(name, logits) for name in ("msp", "max_logit", "energy")})
        return out

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The Gaussians and ViM as named arrays (thresholds and kappa go in the manifest)."""
        arrays = self.vim.state_arrays(f"{prefix}vim.")
        for name, scorer in self.scorers.items():
            arrays.update(scorer.state_arrays(f"{prefix}{name}."))
        return arrays

    def load_state(
        self, arrays: dict[str, np.ndarray], prefix: str, thresholds: dict[str, float], kappa: float, estimator: str
    ) -> OpenSetHead:
        """Restore a head from :meth:`state_arrays` plus its thresholds."""
        for name, scorer in self.scorers.items():
            scorer.load_state_arrays(arrays, f"{prefix}{name}.", estimator)
        self.vim.load_state_arrays(arrays, f"{prefix}vim.")
        self.thresholds, self.kappa = dict(thresholds), float(kappa)
        return self

    def decide(
        self, embeddings: np.ndarray, logits: np.ndarray, method: str = "mahalanobis", use_kappa: bool = False
    ) -> list[str]:
        """The predicted known class, or UNKNOWN past the method's threshold (or below kappa)."""
        if method not in METHODS:
            raise ConfigError(f"unknown open-set method '{method}'; valid: {', '.join(METHODS)}")
        if not self.thresholds:
            raise NotFittedError("the open-set head is not fitted: call fit() first")
        score = self.scores(embeddings, logits)[method]
        unknown = score > self.thresholds[method]
        probabilities = softmax(np.asarray(logits, dtype=np.float64), axis=1)
        if use_kappa:
            unknown |= probabilities.max(axis=1) < self.kappa
        return [UNKNOWN if u else self.class_names[int(k)] for u, k in zip(unknown, probabilities.argmax(axis=1), strict=True)]


@dataclass
class LinearHead:
    """Standardized multinomial logistic regression over embeddings (scikit-learn); ``balanced``
    weights the classes inversely to their frequency."""

    regularization: float = 1.0
    seed: int = 42
    balanced: bool = False

    def fit(self, embeddings: np.ndarray, labels: np.ndarray) -> LinearHead:
        """Fit on (N, D) embeddings and class indices (every class index from 0 to K-1 present)."""
        x = np.asarray(embeddings, dtype=np.float64)
        self.mean_, self.std_ = x.mean(axis=0), x.std(axis=0) + 1e-6
        model = LogisticRegression(
            C=self.regularization, max_iter=5000, random_state=self.seed, class_weight="balanced" if self.balanced else None
        )
        model.fit((x - self.mean_) / self.std_, np.asarray(labels))
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes: make it two
            coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        self.coef_, self.intercept_ = coef, intercept
        return self

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": getattr(self, f"{k}_") for k in ("mean", "std", "coef", "intercept")}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> LinearHead:
        for key in ("mean", "std", "coef", "intercept"):
            setattr(self, f"{key}_", arrays[f"{prefix}{key}"])
        return self

    def final_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) with logits = embeddings @ weight.T + bias, standardization folded in."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("the linear head is not fitted: call fit() first")
        weight = self.coef_ / self.std_
        return weight, self.intercept_ - weight @ self.mean_

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, K) class logits."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("the linear head is not fitted: call fit() first")
        z = (np.asarray(embeddings, dtype=np.float64) - self.mean_) / self.std_
        return z @ self.coef_.T + self.intercept_


def closed_set_predictions(logits: np.ndarray, class_names: Sequence[str]) -> list[str]:
    """The arg-max known class of every image."""
    return [class_names[int(k)] for k in np.asarray(logits).argmax(axis=1)]
