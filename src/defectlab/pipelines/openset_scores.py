"""Open-set scores for a classifier's embeddings and logits ("higher = more likely unknown").

- :class:`MahalanobisScorer`: class means and one shared covariance fitted on known-class
  embeddings (Lee et al., 2018); the score is the smallest Mahalanobis distance to a class mean,
  or, with ``relative``, that distance minus the distance under one Gaussian fitted to all known
  embeddings (Ren et al., 2021). With fewer images than a well-conditioned covariance needs
  (fewer than ``min_ratio`` x the embedding dimension beyond the class count), the covariance is
  the Ledoit-Wolf shrinkage estimate, and :attr:`MahalanobisScorer.covariance_estimator` says so.
- :class:`VirtualLogitScorer`: ViM (Wang et al., 2022), feature novelty and logits in one score.
  The part of an embedding outside the principal subspace of the known training embeddings
  (measured from the point the final linear layer maps to zero logits) becomes a virtual logit;
  the score is that virtual logit minus the log-sum-exp of the real ones. It sees both what
  Mahalanobis sees (an embedding unlike the known ones) and what the logit scores see (no known
  class claims it).
- Logit baselines: maximum softmax probability, maximum logit and energy (each negated).
- :func:`acceptance_threshold`: the score below which a share ``accept`` of known validation
  images falls; images above it are called unknown. No test data is ever used for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, softmax
from sklearn.covariance import EmpiricalCovariance, LedoitWolf

from defectlab.errors import ConfigError, DataError, NotFittedError

log = logging.getLogger(__name__)

LOGIT_SCORES = ("msp", "max_logit", "energy")


def msp_score(logits: np.ndarray) -> np.ndarray:
    """Negated maximum softmax probability."""
    return -softmax(np.asarray(logits, dtype=np.float64), axis=1).max(axis=1)


def max_logit_score(logits: np.ndarray) -> np.ndarray:
    """Negated maximum logit."""
    return -np.asarray(logits, dtype=np.float64).max(axis=1)


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Energy -T logsumexp(logits / T) (Liu et al., 2020): higher for unknowns."""
    return -temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def logit_score(name: str, logits: np.ndarray) -> np.ndarray:
    """One of LOGIT_SCORES by name."""
    functions = {"msp": msp_score, "max_logit": max_logit_score, "energy": energy_score}
    if name not in functions:
        raise ConfigError(f"unknown logit score '{name}'; valid: {', '.join(LOGIT_SCORES)}")
    return functions[name](logits)


def acceptance_threshold(known_validation_scores: np.ndarray, accept: float = 0.95) -> float:
    """The ``accept`` quantile of known validation scores (images scoring above it are unknown)."""
    scores = np.asarray(known_validation_scores, dtype=np.float64)
    if scores.size == 0:
        raise DataError("no known validation images to set the open-set threshold on")
    if not 0.0 < accept < 1.0:
        raise ConfigError(f"acceptance must be in (0, 1), got {accept}")
    return float(np.quantile(scores, accept))


@dataclass
class MahalanobisScorer:
    """Mahalanobis open-set score on embeddings; see the module docstring."""

    relative: bool = False
    min_ratio: float = 5.0

    def fit(self, embeddings: np.ndarray, labels: np.ndarray) -> MahalanobisScorer:
        """Class means and shared covariance from known-class ``embeddings`` (N, D) and ``labels`` (N,)."""
        x = np.asarray(embeddings, dtype=np.float64)
        y = np.asarray(labels)
        if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise DataError(f"expected (N, D) embeddings with N labels, got {x.shape} and {len(y)} labels")
        classes = np.unique(y)
        small = [str(c) for c in classes if np.sum(y == c) < 2]
        if small:
            raise DataError(f"classes {small} have fewer than 2 images: no class mean and spread to estimate")
        self.classes_ = classes
        self.means_ = np.stack([x[y == c].mean(axis=0) for c in classes])
        residuals = x - self.means_[np.searchsorted(classes, y)]
        well_conditioned = len(x) - len(classes) >= self.min_ratio * x.shape[1]
        estimator = EmpiricalCovariance() if well_conditioned else LedoitWolf()
        self.covariance_estimator = "empirical" if well_conditioned else "ledoit_wolf"
        if not well_conditioned:
            log.info("open-set covariance: %d images for %d dimensions, using Ledoit-Wolf shrinkage", len(x), x.shape[1])
        self.precision_ = estimator.fit(residuals).precision_
        if self.relative:
            self.global_mean_ = x.mean(axis=0)
            global_estimator = EmpiricalCovariance() if well_conditioned else LedoitWolf()
            self.global_precision_ = global_estimator.fit(x - self.global_mean_).precision_
        return self

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, K) squared Mahalanobis distances to every class mean."""
        if not hasattr(self, "means_"):
            raise NotFittedError("the Mahalanobis scorer is not fitted: call fit() first")
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.means_.shape[1]:
            raise DataError(f"expected (N, {self.means_.shape[1]}) embeddings, got {x.shape}")
        diff = x[:, None, :] - self.means_[None, :, :]
        return np.einsum("nkd,de,nke->nk", diff, self.precision_, diff)

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Open-set score per image: the smallest squared distance (minus the global one if relative)."""
        nearest = self.distances(embeddings).min(axis=1)
        if not self.relative:
            return nearest
        diff = np.asarray(embeddings, dtype=np.float64) - self.global_mean_
        return nearest - np.einsum("nd,de,ne->n", diff, self.global_precision_, diff)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The nearest class (by Mahalanobis distance) of each embedding."""
        return self.classes_[self.distances(embeddings).argmin(axis=1)]

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The fitted state as named arrays (classes as their indices; the caller stores the names)."""
        if not hasattr(self, "means_"):
            raise NotFittedError("the Mahalanobis scorer is not fitted: call fit() first")
        state = {"means": self.means_, "precision": self.precision_, "classes": np.asarray(self.classes_, dtype=np.int64)}
        if self.relative:
            state.update({"global_mean": self.global_mean_, "global_precision": self.global_precision_})
        return {f"{prefix}{k}": v for k, v in state.items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str, estimator: str) -> MahalanobisScorer:
        """Restore what :meth:`state_arrays` wrote."""
        self.means_, self.precision_ = arrays[f"{prefix}means"], arrays[f"{prefix}precision"]
        self.classes_ = arrays[f"{prefix}classes"]
        if self.relative:
            self.global_mean_, self.global_precision_ = arrays[f"{prefix}global_mean"], arrays[f"{prefix}global_precision"]
        self.covariance_estimator = estimator
        return self


@dataclass
class VirtualLogitScorer:
    """ViM open-set score (Wang et al., 2022); see the module docstring.

    Works in standardized embedding coordinates (each dimension scaled by its training mean and
    spread, since embeddings may concatenate parts of different scales; a spread is floored at 1%
    of the mean spread, so a dimension constant in training cannot blow up). The principal subspace
    is the smallest one that explains a share ``explained`` of the training embeddings' variance
    about the zero-logit origin; the virtual logit is ``alpha`` times the norm of the residual,
    with ``alpha`` = mean maximum training logit / mean training residual norm.
    """

    explained: float = 0.9

    def fit(self, embeddings: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> VirtualLogitScorer:
        """Fit on known-class training ``embeddings`` (N, D) and the final layer (logits = x W^T + b)."""
        if not 0.0 < self.explained < 1.0:
            raise ConfigError(f"explained variance share must be in (0, 1), got {self.explained}")
        x = np.asarray(embeddings, dtype=np.float64)
        weight, bias = np.asarray(weight, dtype=np.float64), np.asarray(bias, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2 or weight.ndim != 2 or weight.shape[1] != x.shape[1] or bias.shape != weight.shape[:1]:
            raise DataError(
                f"expected (N, D) embeddings (N >= 2), a (K, D) weight and (K,) bias, got {x.shape}, "
                f"{weight.shape} and {bias.shape}"
            )
        spread = x.std(axis=0)
        self.mean_, self.std_ = x.mean(axis=0), np.maximum(spread, 0.01 * spread.mean() + 1e-12)
        # the final layer in standardized coordinates, and the point it maps to zero logits
        weight_z, bias_z = weight * self.std_, bias + weight @ self.mean_
        self.origin_ = -np.linalg.pinv(weight_z) @ bias_z
        centred = (x - self.mean_) / self.std_ - self.origin_
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / len(x))
        order = np.argsort(eigenvalues)[::-1]
        share = np.cumsum(eigenvalues[order]) / max(eigenvalues.sum(), 1e-300)
        dimension = min(int(np.searchsorted(share, self.explained)) + 1, x.shape[1] - 1)
        self.null_space_ = eigenvectors[:, order[dimension:]]
        train_logits = x @ weight.T + bias
        self.alpha_ = np.array([train_logits.max(axis=1).mean() / max(self._residual(x).mean(), 1e-12)])
        return self

    def _residual(self, embeddings: np.ndarray) -> np.ndarray:
        z = (np.asarray(embeddings, dtype=np.float64) - self.mean_) / self.std_ - self.origin_
        return np.linalg.norm(z @ self.null_space_, axis=1)

    def score(self, embeddings: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """alpha * residual norm - logsumexp(logits) per image."""
        if not hasattr(self, "null_space_"):
            raise NotFittedError("the virtual-logit scorer is not fitted: call fit() first")
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean_.shape[0]:
            raise DataError(f"expected (N, {self.mean_.shape[0]}) embeddings, got {x.shape}")
        return self.alpha_.item() * self._residual(x) - logsumexp(np.asarray(logits, dtype=np.float64), axis=1)

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        if not hasattr(self, "null_space_"):
            raise NotFittedError("the virtual-logit scorer is not fitted: call fit() first")
        return {f"{prefix}{k}": getattr(self, f"{k}_") for k in ("mean", "std", "origin", "null_space", "alpha")}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> VirtualLogitScorer:
        for key in ("mean", "std", "origin", "null_space", "alpha"):
            setattr(self, f"{key}_", arrays[f"{prefix}{key}"])
        return self
