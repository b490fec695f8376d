"""Feature-space convolutional autoencoder (after DFR, Shi et al. 2021): reconstruction error of patch features."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from defectlab.components.anomaly_map import check_aggregation, image_scores
from defectlab.detectors.base import Detector, ScoringGraph, check_features
from defectlab.errors import ConfigError, DataError, ModelError

NETWORK_PREFIX = "network."
MIN_IMPROVEMENT = 1e-3  # relative drop of the held-out loss that counts as progress for early stopping
SCORE_BATCH = 32  # images per forward pass when scoring


@dataclass
class FeatureCAE(Detector):
    """A 1x1-convolution autoencoder C -> hidden -> latent -> hidden -> C over standardized patch features.

    Trained on normal features only (Adam, mini-batches of patches shuffled across images), with
    early stopping on the reconstruction loss of `val_fraction` of the normal images held out
    (the best weights are kept, rounded to float16, the precision they are stored in). Error map =
    mean over channels of the squared reconstruction error of the standardized features; with
    `normalize_positions` each map position is then standardized by the error's mean and std there
    on the training images (aligned parts such as solar cells have a systematic error pattern; the
    feature map size is then fixed). Patch scores = that map; image score by `aggregation` (see
    :func:`defectlab.components.anomaly_map.image_scores`). Per-epoch losses are in `history_` (a list of {"epoch", "train_loss", "val_loss"}).
    """

    kind = "cae"
    hidden: int = 128
    latent: int = 100
    batch_norm: bool = True
    epochs: int = 50
    batch_size: int = 4096  # patches per optimizer step
    lr: float = 1e-3
    val_fraction: float = 0.1
    patience: int = 5
    aggregation: str = "topk"
    top_k: int = 10
    smoothing: float = 0.5
    normalize_positions: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("hidden", "latent", "epochs", "batch_size", "patience", "top_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"FeatureCAE {name} must be at least 1, got {getattr(self, name)}")
        check_aggregation(self.aggregation)
        if not self.lr > 0:
            raise ConfigError(f"FeatureCAE lr must be positive, got {self.lr}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"FeatureCAE val_fraction must be in (0, 1), got {self.val_fraction}")

    def fit(self, features: torch.Tensor, progress: bool = False) -> FeatureCAE:
        check_features(features, "FeatureCAE.fit")
        train, held_out = self._split(features.float())
        rows = _to_rows(train)
        if len(rows) < 2:
            raise DataError("FeatureCAE.fit: needs at least 2 training patches")
        mean, std = rows.mean(0), rows.std(0).clamp_min(1e-6)
        rows = (rows - mean) / std
        val_rows = (_to_rows(held_out) - mean) / std
        network, history = self._train(features.shape[1], rows, val_rows, progress)
        self.network_ = network.eval()
        self.mean_, self.std_ = mean, std
        self.history_ = history
        if self.normalize_positions:
            errors = self._errors(features)
            self.error_mean_, self.error_std_ = errors.mean(0), errors.std(0).clamp_min(1e-6)
        return self

    def _train(
        self, channels: int, rows: torch.Tensor, val_rows: torch.Tensor, progress: bool
    ) -> tuple[nn.Sequential, list[dict[str, float]]]:
        """Train on standardized patch rows, stop early on `val_rows`; (best network, per-epoch losses)."""
        with torch.random.fork_rng(devices=[]):  # seeded initialization, global RNG left as it was
            torch.manual_seed(self.seed)
            network = self._build(channels)
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.lr)
        history: list[dict[str, float]] = []
        best_loss, best_state, stale = math.inf, copy.deepcopy(network.state_dict()), 0
        bar = tqdm(range(1, self.epochs + 1), desc="cae", unit="epoch", disable=not progress, leave=False)
        for epoch in bar:
            train_loss = self._train_epoch(network, optimizer, rows, generator)
            val_loss = _mean_error(network, val_rows, self.batch_size)
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
            if val_loss < best_loss * (1 - MIN_IMPROVEMENT):
                best_loss, best_state, stale = val_loss, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        # rounded to the precision bundles store, so a loaded bundle scores exactly as the fitted detector
        network.load_state_dict({k: _stored(v).to(v.dtype) for k, v in best_state.items()})
        return network, history

    def _split(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Seeded split of the images into (train, held out for early stopping)."""
        n = len(features)
        n_val = max(1, int(round(self.val_fraction * n)))
        if n - n_val < 1:
            raise DataError(f"FeatureCAE.fit: needs at least 2 normal images (one held out for early stopping), got {n}")
        order = torch.from_numpy(np.random.default_rng(self.seed).permutation(n))
        return features[order[n_val:]], features[order[:n_val]]

    def _build(self, channels: int) -> nn.Sequential:
        sizes = (channels, self.hidden, self.latent, self.hidden, channels)
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=1))
            if i < len(sizes) - 2:
                if self.batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def _train_epoch(
        self, network: nn.Module, optimizer: torch.optim.Optimizer, rows: torch.Tensor, generator: torch.Generator
    ) -> float:
        """One pass over the shuffled patch rows; the mean training loss."""
        network.train()
        order = torch.randperm(len(rows), generator=generator)
        total = 0.0
        for batch in order.tensor_split(math.ceil(len(rows) / self.batch_size)):
            x = _as_map(rows[batch])
            loss = (network(x) - x).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        network.eval()
        return total / len(rows)

    def score(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_fitted()
        check_features(features, "FeatureCAE.score", channels=len(self.mean_))
        if self.normalize_positions and tuple(features.shape[-2:]) != tuple(self.error_mean_.shape):
            raise DataError(
                f"FeatureCAE.score: feature map {tuple(features.shape[-2:])} differs from the fitted "
                f"{tuple(self.error_mean_.shape)}; use the same image size as in training"
            )
        patch_scores = self._errors(features, self._error_map())
        return image_scores(patch_scores, self.aggregation, self.top_k, self.smoothing), patch_scores

    def scoring_graph(self) -> ScoringGraph:
        """The reconstruction-error map as one graph (what :meth:`score` runs batch by batch)."""
        self.check_fitted()
        return ScoringGraph(self._error_map(), self.aggregation, self.top_k, self.smoothing)

    def _error_map(self, normalized: bool | None = None) -> _ErrorMap:
        """The error-map module; position-normalized when the detector normalizes (and `normalized` is not False)."""
        if normalized is None:
            normalized = self.normalize_positions
        positions = (self.error_mean_, self.error_std_) if normalized else None
        return _ErrorMap(self.network_, self.mean_, self.std_, positions)

    def _errors(self, features: torch.Tensor, error_map: _ErrorMap | None = None) -> torch.Tensor:
        """(N, h, w) error map (raw mean squared reconstruction error unless `error_map` says otherwise), batch by batch."""
        error_map = error_map or self._error_map(normalized=False)
        with torch.no_grad():
            return torch.cat([error_map(batch) for batch in features.float().split(SCORE_BATCH)])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        self.check_fitted()
        losses = torch.tensor([[h["train_loss"], h["val_loss"]] for h in self.history_], dtype=torch.float32)
        state = {NETWORK_PREFIX + k: _stored(v) for k, v in self.network_.state_dict().items()}
        state.update(mean=self.mean_, std=self.std_, history=losses.reshape(-1, 2))
        if self.normalize_positions:
            state.update(error_mean=self.error_mean_, error_std=self.error_std_)
        return state

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> FeatureCAE:
        mean, std, losses = tensors["mean"].float(), tensors["std"].float(), tensors["history"].float()
        network = self._build(len(mean))
        weights = {k[len(NETWORK_PREFIX) :]: v for k, v in tensors.items() if k.startswith(NETWORK_PREFIX)}
        try:
            network.load_state_dict(weights)
        except RuntimeError as exc:
            raise ModelError(f"FeatureCAE weights do not fit hidden={self.hidden}, latent={self.latent}: {exc}") from exc
        if self.normalize_positions:
            self.error_mean_, self.error_std_ = tensors["error_mean"].float(), tensors["error_std"].float()
        self.network_ = network.eval()
        self.mean_, self.std_ = mean, std
        self.history_ = [
            {"epoch": i + 1, "train_loss": float(t), "val_loss": float(v)} for i, (t, v) in enumerate(losses.tolist())
        ]
        return self


class _ErrorMap(nn.Module):
    """Features (N, C, h, w) -> mean over channels of the squared reconstruction error of the
    standardized features (N, h, w), standardized per position by `positions` (mean, std) when given."""

    def __init__(
        self,
        network: nn.Module,
        mean: torch.Tensor,
        std: torch.Tensor,
        positions: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))
        self.normalized = positions is not None
        if positions is not None:
            self.register_buffer("error_mean", positions[0])
            self.register_buffer("error_std", positions[1])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features.float() - self.mean) / self.std
        errors = (self.network(x) - x).pow(2).mean(1)
        if self.normalized:
            errors = (errors - self.error_mean) / self.error_std
        return errors


def _stored(tensor: torch.Tensor) -> torch.Tensor:
    """Network state as stored in bundles: floating-point tensors in float16 (half the size)."""
    return tensor.half() if tensor.is_floating_point() else tensor


def _to_rows(features: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N*h*w, C)."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


def _as_map(rows: torch.Tensor) -> torch.Tensor:
    """(B, C) patch rows -> a (1, C, 1, B) map: the 1x1 convolutions see each column as one patch."""
    return rows.T.contiguous()[None, :, None, :]


def _mean_error(network: nn.Module, rows: torch.Tensor, batch_size: int) -> float:
    """Mean squared reconstruction error over (M, C) standardized rows (network in eval mode)."""
    total = 0.0
    with torch.no_grad():
        for batch in rows.split(batch_size):
            x = _as_map(batch)
            total += (network(x) - x).pow(2).sum().item()
    return total / rows.numel()
