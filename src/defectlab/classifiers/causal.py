"""The causal classifier: the attention classifier with three switchable causal parts.

Causal graph (written down; the report draws it)::

    nuisance z (cell type, lighting, texture/style, noise, camera) --> image X --> features f --> prediction Y
    defect D ------------------------------------------------------> image X
    z <--> D   (confounded in the training data: e.g. mono cells are more often defective)

A plain classifier learns P(Y | X), which mixes the defect evidence with the path
X <- z <--> D: the nuisance predicts the label. We want P(Y | do(X)): the nuisance held out of
the decision. The parts, each a switch:

- **backdoor** adjustment, P(Y | do(X)) = sum_z P(Y | X, z) P(z), with the confounder
  dictionary (:mod:`defectlab.classifiers.confounders`) standing in for z. Training fits
  P(Y | X, z) as ``softmax(W e(x) + U p_z)``: the stratum's prototype ``p_z`` gets its own
  term, so the head need not read the nuisance out of the image to explain the stratum's label
  mix, and training samples are drawn with inverse-probability weights P(y) P(z) / P(y, z), so
  that class and stratum are independent in what the head sees.
  Prediction uses the normalized-weighted-geometric-mean approximation of the sum (Xu et al.,
  2015; Wang et al., 2020): the expectation moves inside the softmax,
  ``softmax(W e(x) + U sum_z P(z) p_z)``.
- **counterfactual** augmentation: for each training image, do(nuisance = z') views (the shift
  suite's brightness, contrast, blur, noise, style..., precomputed as feature maps) and the
  feature-space counterfactual ``f - p_z + p_z'`` (the image moved to another stratum), trained
  with the same label and a consistency loss (symmetric KL) that keeps the prediction invariant.
- causal-strength **reweighting**: learned per-channel coefficients ``s = sigmoid(a)`` on the
  pooled features, trained with a penalty on the class-conditional difference between strata
  of the reweighted features, so channels whose relation to the label changes with the nuisance
  are turned down.

With all three off this is exactly the attention classifier (plain empirical risk minimization).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from defectlab.classifiers.confounders import ConfounderDictionary
from defectlab.classifiers.model import AttentionClassifier

STRENGTH_INIT = 3.0
"""Initial logit of the causal-strength coefficients (sigmoid(3) ~ 0.95: every channel kept)."""


class CausalClassifier(AttentionClassifier):
    """Attention classifier + backdoor adjustment, counterfactual training, causal-strength reweighting.

    ``num_strata`` is the size of the confounder dictionary; :meth:`set_dictionary` fills it
    before training (the prototypes and prior are saved with the bundle).
    """

    kind: ClassVar[str] = "causal"

    def __init__(
        self,
        num_classes: int,
        image_size: int = 224,
        backbone: str = "efficientnet_lite0",
        weights: str = "default",
        freeze_backbone: bool = False,
        stages: int = 2,
        num_strata: int = 2,
        backdoor: bool = True,
        counterfactual: bool = True,
        reweight: bool = True,
    ) -> None:
        self.num_strata = num_strata
        self.backdoor = backdoor
        self.counterfactual = counterfactual
        self.reweight = reweight
        super().__init__(num_classes, image_size, backbone, weights, freeze_backbone, stages)

    def build_head(self, channels: int) -> None:
        super().build_head(channels)
        self.strength = nn.Parameter(torch.full((channels,), STRENGTH_INIT), requires_grad=self.reweight)
        self.confound = nn.Linear(channels, self.num_classes, bias=False)
        if not self.backdoor:
            self.confound.requires_grad_(False)
            nn.init.zeros_(self.confound.weight)
        self.register_buffer("prototypes", torch.zeros(self.num_strata, channels))
        self.register_buffer("prior", torch.full((self.num_strata,), 1.0 / self.num_strata))

    def set_dictionary(self, dictionary: ConfounderDictionary) -> None:
        """Load the confounder dictionary's prototypes and prior (sizes must match)."""
        prototypes = torch.as_tensor(dictionary.prototypes, dtype=torch.float32)
        if prototypes.shape != self.prototypes.shape:
            raise ValueError(f"dictionary of shape {tuple(prototypes.shape)}, model expects {tuple(self.prototypes.shape)}")
        self.prototypes.copy_(prototypes)
        self.prior.copy_(torch.as_tensor(dictionary.prior, dtype=torch.float32))

    def coefficients(self) -> torch.Tensor:
        """The causal-strength coefficient of each channel, in (0, 1) (all ones when reweighting is off)."""
        if not self.reweight:
            return torch.ones_like(self.strength)
        return torch.sigmoid(self.strength)

    def pooled(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Attention-pooled, causal-strength-weighted standardized features (B, C)."""
        return self.attention(self.standardize(feature_map)).mean(dim=(2, 3)) * self.coefficients()

    def embed_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.pooled(feature_map))

    def confounder_term(self, strata: torch.Tensor | None = None) -> torch.Tensor:
        """``U p_z`` for the given strata (B, K), or the NWGM term ``U sum_z P(z) p_z`` (1, K) when None."""
        prototypes = self.standardize(self.prototypes[:, :, None, None])[:, :, 0, 0]  # in the head's units
        if strata is None:
            return self.confound((self.prior @ prototypes).unsqueeze(0))
        return self.confound(prototypes[strata])

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """Interventional logits: P(Y | do(X)) up to the softmax."""
        return self.final(embedding) + self.confounder_term()

    def observational_logits(self, feature_map: torch.Tensor, strata: torch.Tensor) -> torch.Tensor:
        """Training logits of P(Y | X, z) with each image's own stratum."""
        return self.final(self.embed_map(feature_map)) + self.confounder_term(strata)

    def parts(self) -> dict[str, bool]:
        """Which causal parts are switched on."""
        return {"backdoor": self.backdoor, "counterfactual": self.counterfactual, "reweight": self.reweight}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "num_strata": self.num_strata, **self.parts()}
