"""Category router: which product is in the image, or "unknown category".

The router reads the same multi-layer patch features the detectors use (so an image is passed
through the backbone once): each image becomes per-channel spatial statistics of its feature
map, standardized: the mean and standard deviation (default), or the median and interquartile
range (``embedding="median_iqr"``). A multinomial logistic regression (scikit-learn) names the
category. A calibrated limit per category guards against products the router was never taught:
the Mahalanobis distance to the named category's own Gaussian (its mean and Ledoit-Wolf
covariance, shrunk towards its own diagonal: products differ in how much they vary), set on
out-of-fold distances of that category's images (cross-calibration) so that a share ``accept``
of them passes. An image past the limit is routed to ``UNKNOWN`` (-1), never silently to the
wrong detector. The head's confidence is reported but is no limit: where the head separates
categories perfectly, out-of-fold confidences all round to 1 and any quantile of them refuses
ordinary test images (measured in the router study).

Train the router on every image whose category is known, defective ones included (an image's
product is known from the line that took it, even where its defects are not labelled): on ELPV
many defective cells differ from good ones over the whole cell, and a router that has seen only
good cells calls them an unknown product (measured in the router study).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression

from defectlab.detectors.base import check_features
from defectlab.errors import ConfigError, DataError, NotFittedError

UNKNOWN = -1
EMBEDDINGS = ("median_iqr", "mean_std")
EMBED_BATCH = 64  # images per quantile computation (bounds the memory of the sort)


def image_embedding(features: torch.Tensor, kind: str = "mean_std") -> np.ndarray:
    """(N, 2C) float64 per-channel spatial statistics of (N, C, h, w) patch features: median and
    interquartile range (``median_iqr``) or mean and standard deviation (``mean_std``)."""
    if kind not in EMBEDDINGS:
        raise ConfigError(f"unknown router embedding '{kind}'; choose one of {', '.join(EMBEDDINGS)}")
    parts = []
    for batch in features.flatten(2).split(EMBED_BATCH):
        if kind == "mean_std":
            flat = batch.double()
            parts.append(torch.cat([flat.mean(dim=2), flat.std(dim=2, unbiased=False)], dim=1))
        else:
            low, median, high = torch.quantile(batch.float(), torch.tensor([0.25, 0.5, 0.75]), dim=2)
            parts.append(torch.cat([median, high - low], dim=1).double())
    return torch.cat(parts).numpy() if parts else np.zeros((0, 2 * features.shape[1]))


@dataclass
class Routing:
    """Per image: category index (UNKNOWN = -1), confidence of the head, and the Mahalanobis distance to the
    head's category over that category's distance limit (> 1: refused)."""

    category: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray
    predicted: np.ndarray
    """The head's category before the unknown check."""


@dataclass
class CategoryRouter:
    """Routes (N, C, h, w) features to one of ``categories``; see the module docstring.

    ``accept``: share of each known category's images its distance limit lets through (the calibration quantile).
    ``folds``: cross-calibration folds (see :meth:`fit`). ``embedding``: the image statistics (module docstring).
    """

    accept: float = 0.99
    folds: int = 5
    regularization: float = 1.0
    embedding: str = "mean_std"
    seed: int = 42

    def __post_init__(self) -> None:
        if self.embedding not in EMBEDDINGS:
            raise ConfigError(f"router embedding must be one of {', '.join(EMBEDDINGS)}, got '{self.embedding}'")
        if not 0.5 <= self.accept < 1.0:
            raise ConfigError(f"router accept must be in [0.5, 1), got {self.accept}")
        if self.folds < 2:
            raise ConfigError(f"router folds must be at least 2, got {self.folds}")
        self.categories: tuple[str, ...] = ()
        self._state: dict[str, np.ndarray] | None = None

    @property
    def is_fitted(self) -> bool:
        return self._state is not None

    def fit(self, features: torch.Tensor, labels: Sequence[str]) -> CategoryRouter:
        """Learn the categories from features of images labelled with their category names.

        The limits are cross-calibrated: ``folds`` routers, each fitted without one fold of every
        category, score their left-out fold, so every training image gets an out-of-fold distance
        to its own category; each category's limit is a quantile of those, and the final router is fitted on all.
        """
        check_features(features, "router training features")
        return self.fit_embeddings(self.embed(features), labels)

    def fit_embeddings(self, embedding: np.ndarray, labels: Sequence[str]) -> CategoryRouter:
        """:meth:`fit` on precomputed (N, 2C) rows of :meth:`embed` (embed each image once, fit many
        routers, e.g. one per held-out category)."""
        labels = np.asarray(labels)
        if embedding.ndim != 2 or len(embedding) == 0:
            raise DataError(f"router training embeddings must be a non-empty (N, 2C) array, got shape {embedding.shape}")
        if len(labels) != len(embedding):
            raise DataError(f"{len(labels)} category labels for {len(embedding)} images")
        categories = tuple(sorted(set(labels.tolist())))
        if len(categories) < 2:
            raise DataError(f"a router needs at least two categories, got {list(categories)}")
        y = np.array([categories.index(name) for name in labels])
        counts = np.bincount(y)
        if counts.min() < self.folds:
            small = categories[int(counts.argmin())]
            raise DataError(f"category {small} has {counts.min()} images: the router needs at least {self.folds} per category")
        fold = self._folds(y)
        out_distance = np.empty(len(y))
        for k in range(self.folds):
            held = fold == k
            state = self._fit_state(embedding[~held], y[~held], len(categories))
            distances = self._scores(embedding[held], state)[2]
            out_distance[held] = distances[np.arange(held.sum()), y[held]]  # to the image's own category
        self._state = self._fit_state(embedding, y, len(categories))
        self._state["distance_limit"] = np.array(
            [np.quantile(out_distance[y == k], self.accept, method="inverted_cdf") for k in range(len(categories))]
        )
        self.categories = categories
        return self

    def embed(self, features: torch.Tensor) -> np.ndarray:
        """The (N, 2C) image statistics this router reads from (N, C, h, w) features."""
        return image_embedding(features, self.embedding)

    def _folds(self, y: np.ndarray) -> np.ndarray:
        """A fold number per image, stratified by category, seeded."""
        rng = np.random.default_rng(self.seed)
        fold = np.empty(len(y), dtype=int)
        for k in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == k))
            fold[rows] = np.arange(len(rows)) % self.folds
        return fold

    def _fit_state(self, embedding: np.ndarray, y: np.ndarray, n_categories: int) -> dict[str, np.ndarray]:
        """Standardization, logistic-regression head, and each category's centre and precision."""
        mean = embedding.mean(axis=0)
        std = embedding.std(axis=0) + 1e-6
        z = (embedding - mean) / std
        head = LogisticRegression(C=self.regularization, max_iter=5000, random_state=self.seed).fit(z, y)
        coef, intercept = head.coef_, head.intercept_
        if n_categories == 2:  # scikit-learn keeps one row for two classes: make it two
            coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        centres = np.stack([z[y == k].mean(axis=0) for k in range(n_categories)])
        # each category's covariance of its own standardized rows: Ledoit-Wolf shrinks it towards its own
        # diagonal, not towards one scale shared by every feature
        scales = np.stack([z[y == k].std(axis=0) + 1e-6 for k in range(n_categories)])
        precision = np.stack([LedoitWolf().fit(z[y == k] / scales[k]).precision_ for k in range(n_categories)])
        return {
            "mean": mean,
            "std": std,
            "coef": coef,
            "intercept": intercept,
            "centres": centres,
            "scales": scales,
            "precision": precision,
        }

    def _scores(self, embedding: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(predicted category, confidence, (N, K) Mahalanobis distance to every category) under ``state``."""
        z = (embedding - state["mean"]) / state["std"]
        logits = z @ state["coef"].T + state["intercept"]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        diff = (z[:, None, :] - state["centres"][None, :, :]) / state["scales"][None, :, :]
        distances = np.sqrt(np.maximum(np.einsum("nkd,kde,nke->nk", diff, state["precision"], diff), 0.0))
        return probabilities.argmax(axis=1), probabilities.max(axis=1), distances

    def route(self, features: torch.Tensor) -> Routing:
        """The category of each image, UNKNOWN past the named category's distance limit."""
        check_features(features, "router input features", channels=self.state["mean"].shape[0] // 2)
        return self.route_embeddings(self.embed(features))

    def route_embeddings(self, embedding: np.ndarray) -> Routing:
        """:meth:`route` for precomputed (N, 2C) rows of :meth:`embed`."""
        width = self.state["mean"].shape[0]
        if embedding.ndim != 2 or embedding.shape[1] != width:
            raise DataError(f"router input embeddings: expected shape (N, {width}), got {embedding.shape}")
        state = self.state
        predicted, confidence, distances = self._scores(embedding, state)
        distance = distances[np.arange(len(predicted)), predicted] / state["distance_limit"][predicted]
        return Routing(np.where(distance <= 1.0, predicted, UNKNOWN), confidence, distance, predicted)

    @property
    def state(self) -> dict[str, np.ndarray]:
        if self._state is None:
            raise NotFittedError("the category router is not fitted: call fit() or load a bundle first")
        return self._state

    @property
    def limits(self) -> dict[str, dict[str, float]]:
        """The calibrated limits per category: {category: {"distance": ...}}."""
        state = self.state
        return {name: {"distance": float(state["distance_limit"][k])} for k, name in enumerate(self.categories)}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The learned state as named float64 tensors (for safetensors)."""
        return {f"router.{k}": torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)) for k, v in self.state.items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], categories: Sequence[str]) -> CategoryRouter:
        """Restore the state written by :meth:`state_tensors` for the named ``categories``."""
        keys = ("mean", "std", "coef", "intercept", "centres", "scales", "precision", "distance_limit")
        if any(f"router.{k}" not in tensors for k in keys):
            raise DataError("the router state lacks per-category Gaussians (written by an older defectlab): refit the bundle")
        state = {k: tensors[f"router.{k}"].numpy() for k in keys}
        if state["coef"].shape[0] != len(categories):
            raise DataError(f"the router state has {state['coef'].shape[0]} categories, the manifest {len(categories)}")
        if state["precision"].ndim != 3 or len(state["distance_limit"]) != len(categories):
            raise DataError("the router state lacks per-category Gaussians (written by an older defectlab): refit the bundle")
        self._state, self.categories = state, tuple(categories)
        return self

    def get_params(self) -> dict[str, float | int | str]:
        return {
            "accept": self.accept,
            "folds": self.folds,
            "regularization": self.regularization,
            "embedding": self.embedding,
            "seed": self.seed,
        }
