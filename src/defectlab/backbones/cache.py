"""On-disk feature cache keyed by feature configuration and image content."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from defectlab.backbones.extractor import FeatureExtractor
from defectlab.fileio import atomic_write_bytes


def image_digest(image: np.ndarray) -> str:
    """Content hash of an image array (shape and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """`$DEFECTLAB_CACHE` or ~/.cache/defectlab/features."""
    return Path(os.environ.get("DEFECTLAB_CACHE", Path.home() / ".cache" / "defectlab" / "features"))


@dataclass
class FeatureCache:
    """Stores each image's feature map as a .npy file under root/<config hash>/<image hash>.npy."""

    root: Path

    def _config_dir(self, extractor: FeatureExtractor) -> Path:
        key = json.dumps(extractor.config.to_dict(), sort_keys=True)
        return Path(self.root) / hashlib.sha1(key.encode()).hexdigest()[:16]

    def extract(self, extractor: FeatureExtractor, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """Features for all images, computing (and storing) only those not cached yet."""
        folder = self._config_dir(extractor)
        paths = [folder / f"{image_digest(img)}.npy" for img in images]
        missing = [i for i, p in enumerate(paths) if not p.is_file()]
        if missing:
            computed = extractor.extract([images[i] for i in missing], progress=progress)
            folder.mkdir(parents=True, exist_ok=True)
            for i, feats in zip(missing, computed):
                _atomic_save(paths[i], feats.numpy())
        if len(images) == 0:
            return extractor.extract([])
        return torch.from_numpy(np.stack([np.load(p, allow_pickle=False) for p in paths]))


def _atomic_save(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
