"""Reader for the ELPV solar-cell dataset bundled by the ``elpv-dataset`` package.

2,624 grayscale 300x300 electroluminescence images with an expert defect probability
``proba`` in {0, 1/3, 2/3, 1} and a cell type ``mono`` or ``poly``. Samples have
``label = proba >= 0.5``, ``category`` the cell type, id ``elpv/<index:05d>`` and metadata
``{"proba", "cell_type", "index"}`` (index into the full dataset). ``defect_type`` is ``good``
for proba 0, else ``p33``, ``p67`` or ``p100``; the ``p33`` cells are label 0 but not normal,
and the splits leave them out. Images are read-only views replicating the cached gray array
to 3 channels (no copy); use ``np.array(sample.image)`` for a writable copy.
"""

from __future__ import annotations

import functools

import numpy as np

from defectlab.data.sample import GOOD, Sample
from defectlab.errors import ConfigError, DataError

CELL_TYPES = ("mono", "poly")


@functools.lru_cache(maxsize=1)
def load_elpv_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images NxHxW uint8, proba N float, types N str)`` from the package, cached and read-only."""
    try:
        from elpv_dataset.utils import load_dataset
    except ImportError as exc:
        raise DataError("the ELPV data needs the 'elpv-dataset' package: pip install elpv-dataset") from exc
    images, proba, types = load_dataset()
    arrays = (np.asarray(images, dtype=np.uint8), np.asarray(proba, dtype=np.float64), np.asarray(types, dtype=str))
    for array in arrays:
        array.flags.writeable = False
    return arrays


def read_elpv(cell_type: str | None = None) -> list[Sample]:
    """ELPV samples of one cell type (``mono``/``poly``), or all of them, in dataset order."""
    if cell_type is not None and cell_type not in CELL_TYPES:
        raise ConfigError(f"unknown ELPV cell type '{cell_type}'; valid: {', '.join(CELL_TYPES)}")
    images, proba, types = load_elpv_arrays()
    indices = np.arange(len(types)) if cell_type is None else np.flatnonzero(types == cell_type)
    return [_sample(images[i], float(proba[i]), str(types[i]), int(i)) for i in indices]


def _sample(gray: np.ndarray, proba: float, cell_type: str, index: int) -> Sample:
    return Sample(
        image=np.broadcast_to(gray[:, :, None], (*gray.shape, 3)),
        label=int(proba >= 0.5),
        id=f"elpv/{index:05d}",
        category=cell_type,
        defect_type=GOOD if proba == 0 else f"p{round(proba * 100)}",
        metadata={"proba": proba, "cell_type": cell_type, "index": index},
    )
