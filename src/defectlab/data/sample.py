"""The `Sample` record every reader yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from defectlab.errors import DataError

GOOD = "good"


@dataclass
class Sample:
    """One image with its label.

    image: uint8 HxWx3 RGB. label: 0 normal, 1 anomalous. mask: uint8 HxW in {0,1} or None.
    """

    image: np.ndarray
    label: int
    id: str
    category: str = ""
    defect_type: str = GOOD
    mask: np.ndarray | None = None
    path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise DataError(f"{self.id}: image must be uint8 HxWx3, got {self.image.dtype} {self.image.shape}")
        if self.mask is not None and self.mask.shape != self.image.shape[:2]:
            raise DataError(f"{self.id}: mask {self.mask.shape} does not match image {self.image.shape[:2]}")
