"""The targets of the multi-product issue (router, unknown category, FeatureCAE), checked against a router study's results."""

from __future__ import annotations

from typing import Any

from defectlab.experiments.router_study.config import ELPV_PREFIX

ROUTER_ACCURACY = 0.995
ROUTED_GAP = 0.005
HELD_OUT_UNKNOWN = 0.95
KNOWN_UNKNOWN = 0.02
CAE_AUROC_GAP = 0.02
CAE_SIZE_RATIO = 10.0


def _target(name: str, measured: float, goal: str, met: bool) -> dict[str, Any]:
    return {"target": name, "measured": measured, "goal": goal, "met": bool(met)}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target that the results can answer: what was measured, the goal, and whether it is met."""
    rows = []
    routing = results.get("routing")
    if routing:
        for key, name in (
            ("routed_accuracy", "router accuracy on the images it routes (refusals: next rows)"),
            ("head_accuracy", "router head accuracy, forced choice on every test image"),
        ):
            accuracy = routing["overall"][key]
            rows.append(_target(name, accuracy, f">= {ROUTER_ACCURACY}", accuracy >= ROUTER_ACCURACY))
        refused = routing["overall"]["called_unknown"]
        rows.append(
            _target(
                "known images called unknown (router over all categories)",
                refused,
                f"<= {KNOWN_UNKNOWN}",
                refused <= KNOWN_UNKNOWN,
            )
        )
    systems = results.get("systems")
    if systems:
        routed, oracle = (systems["macro"][s]["image_auroc"] for s in ("routed", "oracle"))
        rows.append(
            _target("oracle minus routed macro image AUROC", oracle - routed, f"<= {ROUTED_GAP}", oracle - routed <= ROUTED_GAP)
        )
    unknown = results.get("unknown") or {}
    if unknown.get("trials"):
        held = unknown["held_out_unknown_min"]
        rows.append(
            _target("held-out category called unknown (worst trial)", held, f">= {HELD_OUT_UNKNOWN}", held >= HELD_OUT_UNKNOWN)
        )
        known = unknown["known_unknown_max"]
        rows.append(
            _target("known images called unknown (worst held-out trial)", known, f"<= {KNOWN_UNKNOWN}", known <= KNOWN_UNKNOWN)
        )
    rows += _cae_targets(results.get("detectors") or {})
    return rows


def _cae_targets(detectors: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, by_kind in (detectors.get("per_category") or {}).items():
        if not name.startswith(ELPV_PREFIX) or not {"cae", "patchcore"} <= set(by_kind):
            continue
        cae, patchcore = by_kind["cae"], by_kind["patchcore"]
        gap = patchcore["image_auroc"] - cae["image_auroc"]
        ratio = patchcore["bundle_mb"] / cae["bundle_mb"]
        speed = cae["ms_per_image"] / patchcore["ms_per_image"]
        rows += [
            _target(f"{name}: PatchCore minus FeatureCAE image AUROC", gap, f"<= {CAE_AUROC_GAP}", gap <= CAE_AUROC_GAP),
            _target(f"{name}: PatchCore bundle / FeatureCAE bundle", ratio, f">= {CAE_SIZE_RATIO:.0f}", ratio >= CAE_SIZE_RATIO),
            _target(f"{name}: FeatureCAE / PatchCore inference time", speed, "<= 1", speed <= 1.0),
        ]
    return rows
