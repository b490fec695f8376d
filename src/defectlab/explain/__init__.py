"""Explain layer: where a model looks.

Modules: ``overlay`` (heatmaps and overlays as uint8 arrays; light, no torch), ``gradcam``
(Grad-CAM maps of a classifier), ``intervention`` (probability drop when grid cells are
replaced by a counterfactual background; ``mask_share``) and ``panels`` (image + overlays PNG
panels). The names below are imported on first use, so ``defectlab.explain.overlay`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from defectlab.explain.gradcam import gradcam_maps
    from defectlab.explain.intervention import intervention_maps, mask_share
    from defectlab.explain.panels import explanation_panel_png

_MODULES = {
    "explanation_panel_png": "panels",
    "gradcam_maps": "gradcam",
    "intervention_maps": "intervention",
    "mask_share": "intervention",
}

__all__ = ["explanation_panel_png", "gradcam_maps", "intervention_maps", "mask_share"]


def __getattr__(name: str) -> Any:
    """Import an exported function's module on first access."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
