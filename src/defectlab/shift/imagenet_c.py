"""ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) from the `imagecorruptions` package.

The published protocol, not the project's own shift suite: each corruption's severity table is the
package's, so results compare with papers that report ImageNet-C or ADShift figures. Registered as
photometric corruptions named ``imagenet_c_<name>``; the mask is passed through. The package draws
from numpy's global generator, so each call seeds it and restores the previous state afterwards.
"""

from __future__ import annotations

import numpy as np
from imagecorruptions import corrupt

from defectlab.shift.registry import Params, photometric

# The ADShift protocol's four (brightness, contrast, defocus blur, Gaussian noise) and the other noise,
# blur and digital types that need no data files and draw only from numpy's global generator
# (impulse_noise draws from an unseeded generator of its own, so it is left out).
NAMES = ("brightness", "contrast", "defocus_blur", "gaussian_noise", "shot_noise", "motion_blur", "pixelate")
PREFIX = "imagenet_c_"
TABLE = {s: {"imagenet_c_severity": s} for s in range(1, 6)}


def _imagenet_c(name: str):
    def apply(image: np.ndarray, params: Params, seed: int) -> np.ndarray:
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            out = corrupt(image, corruption_name=name, severity=int(params["imagenet_c_severity"]))
        finally:
            np.random.set_state(state)
        return np.clip(np.round(np.asarray(out, dtype=np.float64)), 0, 255).astype(np.uint8)[: image.shape[0], : image.shape[1]]

    apply.__name__ = f"{PREFIX}{name}"
    apply.__doc__ = f"ImageNet-C `{name}` at the package's severity (its own parameter table)."
    return apply


for _name in NAMES:
    photometric(f"{PREFIX}{_name}", TABLE)(_imagenet_c(_name))
