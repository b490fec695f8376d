"""The benchmark suite's tables, from its result rows: macro figures per model and one row per data set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from defectlab.report.datatable import Column, DataTable, make_table, text_column

Row = dict[str, Any]


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _minimum(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.min(finite)) if finite else None


def _models(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r["model"] for r in rows))


def _ri(rows: Sequence[Row], model: str, protocol: str, phase: str, reduce=_mean) -> float | None:
    return reduce([r["ri"] for r in rows if r["model"] == model and r["protocol"] == protocol and r["phase"] == phase])


def macro_table(rows: Sequence[Row]) -> DataTable:
    """One line per model: clean figures averaged over data sets (each counts once), and the mean
    and worst Robustness Index per corruption protocol, without adaptation and after a refit."""
    out = []
    for model in _models(rows):
        clean = [r for r in rows if r["model"] == model and r["phase"] == "clean"]
        out.append(
            (
                model,
                _mean([r["image_auroc"] for r in clean]),
                _mean([r["pixel_auroc"] for r in clean]),
                _mean([r["aupro"] for r in clean]),
                _mean([r["f1"] for r in clean]),
                _mean([r["false_alarm_rate"] for r in clean]),
                _ri(rows, model, "imagenet-c", "no_adaptation"),
                _ri(rows, model, "imagenet-c", "no_adaptation", _minimum),
                _ri(rows, model, "imagenet-c", "adapted"),
                _ri(rows, model, "shift-suite", "no_adaptation"),
                _ri(rows, model, "shift-suite", "adapted"),
                _mean([r["ms_per_image"] for r in clean]),
            )
        )
    columns = [
        text_column("model"),
        Column("image AUROC"),
        Column("pixel AUROC"),
        Column("AUPRO"),
        Column("F1"),
        Column("false alarms"),
        Column("RI ImageNet-C"),
        Column("worst RI ImageNet-C"),
        Column("RI ImageNet-C adapted"),
        Column("RI shift suite"),
        Column("RI shift suite adapted"),
        Column("ms/image", lambda v: "—" if v is None else f"{v:.1f}"),
    ]
    return make_table("suite_macro", "Macro averages over the data sets", columns, out)


def dataset_table(rows: Sequence[Row]) -> DataTable:
    """One line per data set and model: clean image / pixel AUROC, AUPRO, F1 and mean RI per protocol."""
    out = []
    for r in (r for r in rows if r["phase"] == "clean"):
        same = [x for x in rows if x["dataset"] == r["dataset"] and x["model"] == r["model"]]

        def ri(protocol: str, phase: str, same: list[Row] = same) -> float | None:
            return _mean([x["ri"] for x in same if x["protocol"] == protocol and x["phase"] == phase])

        out.append(
            (
                r["dataset"],
                r["model"],
                r["image_size"],
                r["image_auroc"],
                r["pixel_auroc"],
                r["aupro"],
                r["f1"],
                ri("imagenet-c", "no_adaptation"),
                ri("imagenet-c", "adapted"),
                ri("shift-suite", "no_adaptation"),
                ri("shift-suite", "adapted"),
            )
        )
    columns = [
        text_column("data set"),
        text_column("model"),
        Column("input", str),
        Column("image AUROC"),
        Column("pixel AUROC"),
        Column("AUPRO"),
        Column("F1"),
        Column("RI ImageNet-C"),
        Column("RI ImageNet-C adapted"),
        Column("RI shift suite"),
        Column("RI shift suite adapted"),
    ]
    return make_table("suite_datasets", "Per data set (clean figures; RI averaged over the protocol's shifts)", columns, out)


def shift_table(rows: Sequence[Row]) -> DataTable:
    """Every shifted cell: image AUROC and RI without adaptation and after the refit."""
    out = []
    for r in (r for r in rows if r["phase"] == "no_adaptation"):
        adapted = next(
            (x for x in rows if x["phase"] == "adapted" and all(x[k] == r[k] for k in ("dataset", "model", "shift"))), None
        )
        out.append(
            (
                r["dataset"],
                r["model"],
                r["shift"],
                r["image_auroc"],
                r["ri"],
                None if adapted is None else adapted["image_auroc"],
                None if adapted is None else adapted["ri"],
            )
        )
    columns = [
        text_column("data set"),
        text_column("model"),
        text_column("shift"),
        Column("image AUROC"),
        Column("RI"),
        Column("adapted AUROC"),
        Column("adapted RI"),
    ]
    return make_table("suite_shifts", "Every shifted cell", columns, out)
