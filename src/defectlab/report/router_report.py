"""The router (multi-product) study's report, rebuilt from results.json."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from defectlab.report.datatable import Column, DataTable, make_table, show, text_column
from defectlab.report.html_page import Plot
from defectlab.report.page import PageInfo, load_results, write_page
from defectlab.report.router_plots import confusion_png, systems_png, training_curves_png
from defectlab.report.sections import Section, timing_section

TITLE = "Multi-product inspection: category router and per-category detectors"
HOW_TO_READ = (
    "Several products (ELPV mono and poly solar cells, synthetic MVTec-layout products) share one backbone. "
    "The router names each test image's product from per-channel spatial statistics of its features (mean "
    "and standard deviation by default), or refuses it as an unknown category when its Mahalanobis distance "
    "to the named product's own Gaussian is past that product's limit, calibrated on its training images "
    "(cross-calibration). Head accuracy is the router's forced choice before the unknown check; 'accuracy of "
    "routes taken' leaves refused images out; 'routed correctly' counts a refusal as a miss; 'misrouted' is a "
    "silent wrong route. In the routed system an unknown image counts as flagged (it goes to a person). Scores "
    "are compared relative to the deciding threshold (1 = threshold), so F1 is at each detector's calibrated "
    "threshold. Oracle routing gives each image its true category's detector; the global detector is one model "
    "fitted on all categories' normals with one threshold. Peak memory is the peak resident set size above its "
    "level when the fit began (sampled every 10 ms); inference ms/image is scores and maps from features; the "
    "backbone pass, shared by every detector, is timed apart. — marks an undefined value. Every table is also "
    "in tables/ as CSV."
)


def _share(value: float | None) -> str:
    """A share as a percentage with one decimal; — when undefined."""
    return show(value) if value is None else f"{100 * value:.1f}%"


def _share_column(title: str) -> Column:
    return Column(title, _share)


METRIC_TITLES = {"image_auroc": "AUROC", "image_auprc": "AUPRC", "image_f1": "F1", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}
SHARES = (
    ("head_accuracy", "head accuracy"),
    ("routed_accuracy", "accuracy of routes taken"),
    ("routed_correctly", "routed correctly"),
    ("misrouted", "misrouted"),
    ("called_unknown", "called unknown"),
    ("unknown_normal", "unknown among normal"),
    ("unknown_defective", "unknown among defective"),
)


def _categories_section(r: dict[str, Any]) -> Section:
    columns = [
        text_column("category"),
        text_column("source"),
        Column("train", str),
        Column("router train", str),
        Column("val", str),
        Column("test", str),
        Column("test defective", str),
        text_column("masks"),
    ]
    rows = [
        [
            name,
            c["source"],
            c["n_train"],
            c["n_router_train"],
            c["n_val"],
            c["n_test"],
            c["n_test_defective"],
            "yes" if c["masks"] else "no",
        ]
        for name, c in r["categories"].items()
    ]
    note = f"Backbone pass (shared by every detector): {r['backbone_ms_per_image']:.1f} ms/image."
    return Section(
        "categories",
        "Categories",
        "Splits are stored in splits/ and reused.",
        tables=[make_table("categories", "images per category", columns, rows)],
        notes=[note],
    )


def _targets_section(targets: list[dict[str, Any]]) -> Section:
    columns = [text_column("target"), Column("measured", partial(show, digits=4)), text_column("goal"), text_column("met")]
    rows = [[t["target"], t["measured"], t["goal"], "yes" if t["met"] else "NO"] for t in targets]
    return Section(
        "targets",
        "Targets",
        "The issue's targets against the measured figures.",
        tables=[make_table("targets", "targets", columns, rows)],
    )


def _routing_section(routing: dict[str, Any]) -> Section:
    columns = [text_column("category"), Column("n", str)] + [_share_column(title) for _, title in SHARES]
    entries = {**routing["per_category"], "all test images": routing["overall"]}
    rows = [[name, s["n"]] + [s[key] for key, _ in SHARES] for name, s in entries.items()]
    confusion = routing["confusion"]
    names = list(next(iter(confusion.values())))
    matrix = make_table(
        "confusion",
        "test images per true category (rows) and routed category (columns)",
        [text_column("true \\ routed")] + [Column(n, str) for n in names],
        [[true] + [counts[n] for n in names] for true, counts in confusion.items()],
    )
    limits = routing["limits"]
    return Section(
        "routing",
        "Router over every category",
        "Router fitted on every category's router training images (normal training images, validation "
        "images, and for ELPV a share of the defective cells kept out of every test); limits per category: "
        + "; ".join(f"{name} distance {v['distance']:.2f}" for name, v in limits.items())
        + ".",
        tables=[make_table("routing", "routing of the test images", columns, rows), matrix],
        plots=[Plot("plots/confusion.png", "router confusion", confusion_png(confusion))],
    )


def _unknown_section(unknown: dict[str, Any]) -> Section:
    columns = [
        text_column("held out"),
        _share_column("held out: called unknown"),
        _share_column("held out: misrouted"),
        text_column("misrouted to"),
        _share_column("held out normal: unknown"),
        _share_column("held out defective: unknown"),
        _share_column("known: called unknown"),
        _share_column("known normal: unknown"),
        _share_column("known defective: unknown"),
        _share_column("known: head accuracy"),
    ]
    distance_columns = [
        text_column("held out"),
        Column("held out: min"),
        Column("known normal: 99%"),
        Column("known defective: median"),
        Column("known defective: 90%"),
    ]
    rows, distances = [], []
    for t in unknown["trials"]:
        held, known = t["held_out_shares"], t["known_shares"]
        where = ", ".join(f"{n} {100 * v:.1f}%" for n, v in t["misrouted_to"].items()) or "—"
        rows.append(
            [
                t["held_out"],
                held["called_unknown"],
                held["misrouted"],
                where,
                held["unknown_normal"],
                held["unknown_defective"],
                known["called_unknown"],
                known["unknown_normal"],
                known["unknown_defective"],
                known["head_accuracy"],
            ]
        )
        d = t["distance_over_limit"]
        distances.append(
            [t["held_out"], d["held_out_min"], d["known_normal_p99"], d["known_defective_p50"], d["known_defective_p90"]]
        )
    return Section(
        "unknown",
        "Unknown category",
        "Each row: the router refitted (and its limits recalibrated) without one category; that category's "
        "test images should be called unknown, the other categories' test images routed. The second table "
        "shows why refusals of known images and detection of the held-out one trade off: Mahalanobis "
        "distance to the head's category over that category's distance limit (> 1 is refused) for the held-out "
        "category's closest image and for quantiles of the known categories' normal and defective images.",
        tables=[
            make_table("unknown", "held-out category detection", columns, rows),
            make_table("unknown_distances", "distance to the head's category / its distance limit", distance_columns, distances),
        ],
    )


def _systems_tables(systems: dict[str, Any]) -> list[DataTable]:
    names = systems["systems"]
    entries = {**systems["per_category"], "macro": systems["macro"]}
    tables = []
    for label, metrics in (("image", ("image_auroc", "image_auprc", "image_f1")), ("pixel", ("pixel_auroc", "aupro"))):
        columns = [text_column("category")] + [Column(f"{s} {METRIC_TITLES[m]}") for m in metrics for s in names]
        rows = [
            [c] + [e[s][m] for m in metrics for s in names]
            for c, e in entries.items()
            if any(e[s][m] is not None for m in metrics for s in names)
        ]
        if rows:
            tables.append(make_table(f"systems_{label}", f"{label} metrics per category and macro", columns, rows))
    return tables


def _systems_section(systems: dict[str, Any]) -> Section:
    threshold = systems.get("global_threshold")
    notes = [f"Global detector's threshold: {threshold['method']} {threshold['value']:.4g}."] if threshold else []
    return Section(
        "systems",
        f"Routed vs oracle vs global ({systems['detector']})",
        "Routed: the router picks the detector (unknown = flagged). Oracle: the true category's detector. "
        "Global: one detector on every category's normals, calibrated on their pooled calibration images.",
        tables=_systems_tables(systems),
        notes=notes,
        plots=[
            Plot(
                "plots/systems.png",
                "image AUROC per category and system",
                systems_png(systems["per_category"], systems["systems"]),
            )
        ],
    )


def _detectors_section(detectors: dict[str, Any]) -> Section:
    columns = [
        text_column("category"),
        text_column("detector"),
        Column("image AUROC"),
        Column("image F1"),
        text_column("threshold"),
        Column("fit s", partial(show, digits=1)),
        Column("ms/image", partial(show, digits=2)),
        Column("bundle MiB"),
        Column("peak RSS MiB", partial(show, digits=0)),
        Column("epochs"),
    ]
    rows = [
        [
            name,
            kind,
            d["image_auroc"],
            d["image_f1"],
            d["threshold"],
            d["fit_seconds"],
            d["ms_per_image"],
            d["bundle_mb"],
            d["peak_rss_mb"],
            d["epochs"],
        ]
        for name, by_kind in detectors["per_category"].items()
        for kind, d in by_kind.items()
    ]
    plots = [
        Plot(f"plots/training_{kind}.png", f"{kind} training curves", training_curves_png(kind, curves))
        for kind, curves in detectors.get("training_curves", {}).items()
        if curves
    ]
    return Section(
        "detectors",
        "Detectors compared",
        "Each detector fitted once per category on the same features and calibration images; fit seconds "
        "read the features from the cache.",
        tables=[make_table("detectors", "detectors per category", columns, rows)],
        plots=plots,
    )


def router_sections(r: dict[str, Any]) -> list[Section]:
    """The report's sections (tables and figures) for a router study's results."""
    sections = [_categories_section(r)]
    if r.get("targets"):
        sections.append(_targets_section(r["targets"]))
    sections.append(_routing_section(r["routing"]))
    if (r.get("unknown") or {}).get("trials"):
        sections.append(_unknown_section(r["unknown"]))
    sections.append(_systems_section(r["systems"]))
    sections.append(_detectors_section(r["detectors"]))
    if r.get("timings"):
        sections.append(timing_section(r["timings"]))
    return sections


def write_router_report(directory: Path) -> Path:
    """Write report.html, summary.md, plots/ and tables/*.csv into ``directory`` from its results.json."""
    r = load_results(Path(directory))
    sections = router_sections(r)
    info = PageInfo(TITLE, r.get("created", "?"), r.get("seed"), r.get("versions", {}), r.get("config"), HOW_TO_READ)
    plots = {p.path: p.png for section in sections for p in section.plots}
    return write_page(Path(directory), info, sections, plots)
