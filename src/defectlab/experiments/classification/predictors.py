"""The shape of a study model's prediction function."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Predict = Callable[[Sequence[np.ndarray]], np.ndarray]
"""Class probabilities (N, K) of uint8 HxWx3 images."""
