"""Evidence phases of the classification study: Causal Effect Strength, DoWhy effects, explanations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from defectlab.analysis.effects import effect_table, structure_edges
from defectlab.analysis.nuisance import measure_nuisances
from defectlab.experiments.classification.interventions import FACTORS, factor_ces, factor_units, intervene, paste_crack
from defectlab.experiments.classification.models import Fitted
from defectlab.experiments.classification.phases import Context, SchemeData
from defectlab.explain import explanation_panel_png, gradcam_maps, intervention_maps, mask_share

DOWHY_FACTORS = ("brightness", "contrast", "sharpness", "noise", "domain")


def ces_phase(
    ctx: Context, d: SchemeData, models: dict[str, Fitted], clean_p: dict[str, np.ndarray], measurements: pd.DataFrame
) -> list[dict[str, Any]]:
    """CES of every factor for every (binary) model on the test images (``measurements``: their nuisances);
    each factor's intervened images are made once and shared by the models."""
    rows = []
    for factor in FACTORS.values():
        units = factor_units(factor, d.test.labels)
        changed, _ = intervene(factor, [d.test.images[i] for i in units], ctx.cfg.seed)
        for name, fitted in models.items():
            result = factor_ces(
                factor,
                fitted.predict,
                d.test.images,
                d.test.labels,
                measurements,
                clean_p[name][:, 1],
                seed=ctx.cfg.seed,
                n_boot=ctx.cfg.bootstrap,
                changed=changed,
            )
            rows.append({"model": name, **result})
    return rows


def dowhy_phase(ctx: Context, d: SchemeData, models: dict[str, Fitted], measurements: pd.DataFrame) -> dict[str, Any]:
    """Effect of each nuisance on each model's P(defective), clean + corrupted test images, with refuters
    (``measurements``: the clean test images' nuisances; the corrupted ones are measured here)."""
    images = d.test.images + d.corrupted
    frame = pd.concat([measurements, measure_nuisances(d.corrupted)], ignore_index=True)
    frame["domain"] = [s.metadata.get("cell_type", "") for s in d.test.samples] * 2
    frame["label"] = np.concatenate([d.test.labels, d.test.labels]).astype(float)
    tables, edges = {}, []
    for name, fitted in models.items():
        frame["prediction"] = fitted.predict(images)[:, 1]
        table = effect_table(frame, factors=DOWHY_FACTORS, seed=ctx.cfg.seed)
        tables[name] = _records(table)
    if models:
        edges = [list(e) for e in structure_edges(frame.assign(domain=pd.factorize(frame["domain"])[0]))]
    return {
        "n_rows": len(frame),
        "tables": tables,
        "structure_edges": edges,
        "structure_model": list(models)[-1] if models else None,
    }


def explanation_phase(ctx: Context, d: SchemeData, models: dict[str, Fitted]) -> dict[str, Any]:
    """Grad-CAM and occlusion attribution for each model on defective test cells and on functional
    cells with a pasted crack (whose mask gives the attribution share inside the defect)."""
    n = ctx.cfg.explanations
    defective = [im for im, y in zip(d.test.images, d.test.labels, strict=True) if y == 1][:n]
    functional = [im for im, y in zip(d.test.images, d.test.labels, strict=True) if y == 0][:n]
    pasted = [paste_crack(im, ctx.cfg.seed + i) for i, im in enumerate(functional)]
    pasted_images, masks = [p[0] for p in pasted], [p[1] for p in pasted]
    shares: dict[str, dict[str, float]] = {}
    panels: dict[str, bytes] = {}
    for title, images, image_masks in (("defective cells", defective, None), ("pasted cracks", pasted_images, masks)):
        if not images:
            continue
        maps_by_method = {}
        for name, fitted in models.items():
            targets = [1] * len(images)
            maps_by_method[f"Grad-CAM · {name}"] = gradcam_maps(fitted.model, images, targets)
            maps_by_method[f"occlusion · {name}"] = intervention_maps(fitted.model, images, targets)
        if image_masks is not None:
            shares["mask area (share expected by chance)"] = float(np.mean([m.astype(bool).mean() for m in image_masks]))
            for method, maps in maps_by_method.items():
                values = [mask_share(m, mask) for m, mask in zip(maps, image_masks, strict=True)]
                shares[method] = float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")
        titles = [f"{title} {i + 1}" for i in range(len(images))]
        panels[title] = explanation_panel_png(images, maps_by_method, titles, masks=image_masks)
    return {"mask_share": shares, "panels": panels, "n_images": n}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()} for row in table.to_dict("records")]
