"""Shift layer: named, seeded corruptions with severity 1..5, and presets.

Geometric corruptions (``geometric``) move the mask exactly as the image; photometric ones
(``photometric`` on albumentations, ``appearance`` in numpy/skimage) leave it alone. Each
module-level table maps severity to parameters and is rendered into the implementing
function's docstring. Use :func:`apply_corruption` and :func:`apply_preset`.
"""

from defectlab.shift.corrupt import (
    CORRUPTIONS,
    PRESETS,
    apply_corruption,
    apply_preset,
    corruption_kind,
    corruption_table,
)

__all__ = [
    "CORRUPTIONS",
    "PRESETS",
    "apply_corruption",
    "apply_preset",
    "corruption_kind",
    "corruption_table",
]
