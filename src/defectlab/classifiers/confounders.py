"""The confounder dictionary: nuisance strata of the training images and their prototypes.

A nuisance stratum is a value of the confounder z (cell technology, lighting regime, camera).
It is either **given** (a label per training image) or **discovered**: k-means on the
standardized, average-pooled frozen backbone features, with k chosen by the silhouette score
(the largest clusters of appearance are usually the nuisance, e.g. the cell type on ELPV). Each
stratum's **prototype** is the class-balanced mean of its pooled features, ``mean over classes y
of E[f | z, y]``, so a prototype describes the nuisance and not the label mix of its stratum;
``prior`` is P(z) in the training data.

The dictionary feeds the causal classifier's backdoor adjustment (prototypes and prior) and
its feature-space counterfactuals (``f - prototype[z] + prototype[z']``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from defectlab.errors import ConfigError, DataError

MAX_DISCOVERED = 6
"""Largest number of strata :func:`discover_strata` considers."""


@dataclass(frozen=True)
class ConfounderDictionary:
    """Stratum prototypes (K, C), prior P(z) (K,), stratum names and how the strata were found."""

    prototypes: np.ndarray
    prior: np.ndarray
    names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        k = len(self.names)
        if self.prototypes.ndim != 2 or self.prototypes.shape[0] != k or self.prior.shape != (k,):
            raise DataError(
                f"confounder dictionary shapes disagree: prototypes {self.prototypes.shape}, prior {self.prior.shape}, {k} names"
            )
        if k < 1 or not np.isclose(self.prior.sum(), 1.0) or (self.prior < 0).any():
            raise DataError(f"the stratum prior must be a probability vector, got {self.prior.tolist()}")

    def __len__(self) -> int:
        return len(self.names)


def encode_strata(nuisance: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """(stratum index per image, sorted stratum names) of given nuisance labels."""
    if len(nuisance) == 0:
        raise DataError("no nuisance labels given")
    names = tuple(sorted({str(value) for value in nuisance}))
    return np.array([names.index(str(value)) for value in nuisance], dtype=np.int64), names


def discover_strata(
    pooled: np.ndarray, k: int | None = None, seed: int = 42, max_k: int = MAX_DISCOVERED
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(cluster index per image, names ``cluster0``...) from k-means on standardized pooled features.

    ``k=None`` picks k in 2..max_k with the best silhouette score (on at most 2000 images).
    """
    if pooled.ndim != 2 or len(pooled) < 4:
        raise DataError(f"need pooled features (N >= 4, C), got shape {pooled.shape}")
    scaled = (pooled - pooled.mean(axis=0)) / (pooled.std(axis=0) + 1e-8)
    if k is not None:
        if not 1 <= k <= len(pooled) // 2:
            raise ConfigError(f"number of strata must be in 1..{len(pooled) // 2}, got {k}")
        return _kmeans(scaled, k, seed), tuple(f"cluster{i}" for i in range(k))
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(scaled), size=min(len(scaled), 2000), replace=False)
    best_k, best_score, best_labels = 2, -np.inf, np.zeros(len(scaled), dtype=np.int64)
    for candidate in range(2, min(max_k, len(pooled) // 2) + 1):
        labels = _kmeans(scaled, candidate, seed)
        if len(np.unique(labels[probe])) < 2:
            continue
        score = silhouette_score(scaled[probe], labels[probe], random_state=seed)
        if score > best_score:
            best_k, best_score, best_labels = candidate, score, labels
    return best_labels, tuple(f"cluster{i}" for i in range(best_k))


def build_dictionary(
    pooled: np.ndarray, strata: np.ndarray, labels: np.ndarray, names: Sequence[str], source: str
) -> ConfounderDictionary:
    """Class-balanced stratum prototypes and the stratum prior from training features."""
    if not len(pooled) == len(strata) == len(labels):
        raise DataError(f"{len(pooled)} feature rows, {len(strata)} strata and {len(labels)} labels")
    k = len(names)
    prototypes = np.zeros((k, pooled.shape[1]), dtype=np.float32)
    for z in range(k):
        in_stratum = strata == z
        if not in_stratum.any():
            raise DataError(f"stratum '{names[z]}' has no training images")
        class_means = [pooled[in_stratum & (labels == y)].mean(axis=0) for y in np.unique(labels[in_stratum])]
        prototypes[z] = np.mean(class_means, axis=0)
    prior = np.bincount(strata, minlength=k).astype(np.float32) / len(strata)
    return ConfounderDictionary(prototypes, prior, tuple(names), source)


def independence_weights(labels: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Inverse-probability weights P(y) P(z) / P(y, z), scaled to mean 1.

    In the weighted data the label is independent of the stratum while both keep their
    marginal distributions: the weighting form of the backdoor adjustment, which leaves the
    class prior (and so the accuracy on data like the training data) alone.
    """
    labels, strata = labels.astype(np.int64), strata.astype(np.int64)
    n = len(labels)
    p_y = np.bincount(labels) / n
    p_z = np.bincount(strata) / n
    groups = labels * (int(strata.max()) + 1) + strata
    p_yz = np.bincount(groups) / n
    weights = p_y[labels] * p_z[strata] / p_yz[groups]
    return (weights * n / weights.sum()).astype(np.float32)


def _kmeans(scaled: np.ndarray, k: int, seed: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(scaled).astype(np.int64)
