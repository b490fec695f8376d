"""The robustness study's report, rebuilt from a saved results directory (no model is touched).

`write_robustness_report(DIR)` reads DIR/results.json, the per-image arrays, embeddings and
galleries, and writes into DIR: report.html (one self-contained page, every image inlined),
plots/*.png, tables/*.csv and summary.md. Optional pieces that are missing or broken (an arrays
file, an embedding, a gallery image) are skipped with a note on the page; only a missing or
malformed results.json is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TypeVar

from defectlab.analysis.errors import Reliability, reliability_curve
from defectlab.errors import DataError, DefectLabError
from defectlab.report import robustness_plots as rp
from defectlab.report import robustness_tables as rt
from defectlab.report.datatable import DataTable
from defectlab.report.html_page import Plot
from defectlab.report.page import PageInfo, write_page
from defectlab.report.robustness_results import (
    HEADLINE_PHASES,
    Arrays,
    Evaluation,
    Results,
    headline,
    load_arrays,
    load_embedding,
    load_results,
    of_phase,
    resolve,
)
from defectlab.report.sections import Section
from defectlab.report.tables import fmt

_T = TypeVar("_T")
_K = TypeVar("_K")
TITLE = "Robustness report"
HOW_TO_READ = (
    "Every model is fitted and calibrated on clean images, then tested three ways: on the clean test "
    "images, on shifted test images with the same model and threshold (no adaptation), and on shifted "
    "test images after refitting and recalibrating on shifted training images (adapted). Image AUROC is "
    "the chance that a random anomalous image scores above a random normal one (0.5 is guessing, 1 is "
    "perfect); brackets hold bootstrap 95% confidence intervals. The Robustness Index (RI) is the shifted "
    "AUROC divided by the clean one: 1 means no loss. Macro averages weight every category equally. "
    "p-values come from paired tests on the same test images; p<0.001 is shown as <0.001. Recall, "
    "false-positive counts and the confusion matrices use the calibrated threshold a deployed model would "
    "use; the reliability diagram and its expected calibration error (ECE) show whether the normalized "
    "scores (threshold at 0.5) can be read as probabilities. — marks a value that is undefined or was not "
    "measured (e.g. pixel metrics without masks). Every table is also in tables/ as CSV."
)


class _Builder:
    """Collects the figures to write and notes on every optional piece that was skipped."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.notes: list[str] = []
        self.written: list[Plot] = []
        self._names: set[str] = set()
        self.arrays = self._load_arrays()

    def _load_arrays(self) -> dict[str, Arrays]:
        loaded = {}
        for e in self.results.evaluations:
            if e.arrays is None:
                continue
            try:
                loaded[e.id] = load_arrays(self.results.directory, e)
            except DataError as exc:
                self.notes.append(f"Arrays of {e.id} skipped: {exc}")
        return loaded

    def _file_name(self, *parts: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.@+=-]+", "-", "_".join(parts)).strip("-.") or "plot"
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}-{n}"
        self._names.add(name)
        return name

    def plot(self, parts: tuple[str, ...], caption: str, draw: Callable[[], bytes]) -> list[Plot]:
        """The figure drawn by `draw`, to be written as plots/<parts>.png; [] (and a note) if it cannot be drawn."""
        try:
            png = draw()
        except DefectLabError as exc:
            self.notes.append(f"{caption}: not drawn ({exc})")
            return []
        plot = Plot(f"plots/{self._file_name(*parts)}.png", caption, png)
        self.written.append(plot)
        return [plot]


def _grouped(items: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, list[_T]]:
    """Items by key, keys and items in order of appearance."""
    groups: dict[_K, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _with_int(b: _Builder, phase: str, key: str) -> list[Evaluation]:
    """The phase's evaluations whose variant has an integer `key` (k, severity): the ones a curve can place."""
    return [e for e in of_phase(b.results.evaluations, phase) if isinstance(e.variant.get(key), int)]


def _curve(b: _Builder, e: Evaluation, name: str) -> list[rp.Curve]:
    arrays = b.arrays.get(e.id)
    label = f"{name} (AUROC {fmt(e.metrics.get('image_auroc'))})"
    return [] if arrays is None else [rp.Curve(e.detector, label, arrays.labels, arrays.scores)]


def _headline_section(b: _Builder) -> Section | None:
    table = rt.headline_table(b.results)
    if table is None:
        return None
    plots = []
    for category, rows in _grouped(headline(b.results.evaluations), lambda h: h.category).items():
        plots += b.plot(
            ("auroc_bars", category),
            f"{category}: image AUROC clean / no adaptation / adapted",
            partial(rp.auroc_bars_png, category, rows),
        )
        conditions: dict[str, tuple[Evaluation, str]] = {}  # by id: the clean evaluation recurs for every shift
        for h in rows:
            for e, name in (
                (h.clean, "clean"),
                (h.no_adaptation, f"{h.shift}, no adaptation"),
                (h.adapted, f"{h.shift}, adapted"),
            ):
                if e is not None:
                    conditions.setdefault(e.id, (e, name))
        curves = [c for e, name in conditions.values() for c in _curve(b, e, name)]
        plots += b.plot(("roc", category), f"{category}: ROC curves per detector", partial(rp.roc_overlay_png, category, curves))
    if any(e.metrics.get("pixel_auroc") is not None for e in b.results.evaluations):
        plots += b.plot(
            ("image_vs_pixel_auroc",),
            "Image vs pixel AUROC of every evaluation with masks",
            partial(rp.pixel_scatter_png, b.results.evaluations),
        )
    return Section(
        "headline",
        "Clean vs shifted vs adapted",
        "One row per category, detector and shift. The macro-average rows weight categories equally; "
        "each cell averages the categories that have the value (pixel metrics need masks).",
        [table],
        plots,
    )


def _few_shot_section(b: _Builder) -> Section | None:
    table = rt.few_shot_table(b.results)
    if table is None:
        return None
    plots = []
    for (category, shift), points in _grouped(_with_int(b, "few_shot", "k"), lambda e: (e.category, e.shift)).items():
        detectors = {e.detector for e in points}
        levels = [
            (name, e)
            for phase, name in (("shift_no_adaptation", "no adaptation"), ("shift_adapted", "full refit"))
            for e in of_phase(b.results.evaluations, phase)
            if (e.category, e.shift) == (category, shift) and e.detector in detectors
        ]
        plots += b.plot(
            ("few_shot", category, shift),
            f"{category} under {shift}: recovery with k shifted images",
            partial(rp.recovery_png, f"{category} under {shift}", points, levels),
        )
    return Section(
        "few-shot",
        "Few-shot adaptation",
        "Adapting with k shifted training images; the dashed lines are the model without adaptation "
        "and the one fully refitted on shifted images.",
        [table],
        plots,
    )


def _cross_domain_section(b: _Builder) -> Section | None:
    table = rt.cross_domain_table(b.results)
    if table is None:
        return None
    plots = []
    pairs = _grouped(_with_int(b, "cross_domain", "k"), lambda e: (str(e.variant.get("source")), str(e.variant.get("target"))))
    for (source, target), evals in pairs.items():
        points = [e for e in evals if e.variant["k"] > 0]
        if not points:
            continue
        levels = [("no adaptation", e) for e in evals if e.variant["k"] == 0]
        levels += [
            ("in-domain model", e)
            for e in of_phase(b.results.evaluations, "clean")
            if e.category == target and e.detector in {p.detector for p in points}
        ]
        title = f"{source} -> {target}"
        plots += b.plot(
            ("cross_domain", source, target),
            f"{title}: recovery with k target images",
            partial(rp.recovery_png, title, points, levels),
        )
    return Section(
        "cross-domain",
        "Cross-domain transfer",
        "A model of the source category tested on the target category, adapted with k target images "
        "(k=0: no adaptation); the dashed lines are the model without adaptation and the target's own model.",
        [table],
        plots,
    )


def _cross_shift_section(b: _Builder) -> Section | None:
    table = rt.cross_shift_table(b.results)
    if table is None:
        return None
    plots = []
    pairs = _grouped(of_phase(b.results.evaluations, "cross_shift"), lambda e: (e.category, e.detector))
    for (category, detector), evals in pairs.items():
        cells = [
            rp.ShiftCell(
                str(e.variant.get("train_shift")), str(e.variant.get("test_shift", e.shift)), e.metrics.get("image_auroc")
            )
            for e in evals
        ]
        shifts = {name for c in cells for name in (c.train, c.test)}
        present = {(c.train, c.test) for c in cells}
        cells += [
            rp.ShiftCell(e.shift, e.shift, e.metrics.get("image_auroc"))
            for e in of_phase(b.results.evaluations, "shift_adapted")
            if (e.category, e.detector) == (category, detector) and e.shift in shifts and (e.shift, e.shift) not in present
        ]
        plots += b.plot(
            ("cross_shift", category, detector),
            f"{category} / {detector}: train shift x test shift",
            partial(rp.cross_shift_png, f"{category} / {detector}", cells),
        )
    return Section(
        "cross-shift",
        "Cross-shift generalisation",
        "Models fitted under one shift (rows) and tested under another (columns). In the heatmaps, a "
        "diagonal cell the table lacks is the adapted model of the headline (fitted and tested under "
        "that shift).",
        [table],
        plots,
    )


def _severity_section(b: _Builder) -> Section | None:
    table = rt.severity_table(b.results)
    if table is None:
        return None
    plots = []
    for category, evals in _grouped(_with_int(b, "severity", "severity"), lambda e: e.category).items():
        plots += b.plot(
            ("severity", category), f"{category}: image AUROC vs corruption severity", partial(rp.severity_png, category, evals)
        )
    return Section("severity", "Corruption severity", "Image AUROC at severities 1-5 of each corruption.", [table], plots)


def _table_section(anchor: str, intro: str, table: DataTable | None) -> Section | None:
    return None if table is None else Section(anchor, table.title, intro, [table])


def _error_section(b: _Builder) -> Section | None:
    checked: list[tuple[Evaluation, Arrays, Reliability | None]] = []
    children = []
    for e in b.results.evaluations:
        arrays = b.arrays.get(e.id)
        if arrays is None:
            continue
        try:
            table = rt.error_table(e, arrays)
            reliability = None if arrays.normalized is None else reliability_curve(arrays.labels, arrays.normalized)
        except DefectLabError as exc:  # e.g. scores that are not finite, a NaN threshold
            b.notes.append(f"Error analysis of {e.id} skipped: {exc}")
            continue
        checked.append((e, arrays, reliability))
        plots = []
        if e.phase in HEADLINE_PHASES:  # not for every evaluation: a run has many, each figure costs ~0.1 s and ~30 kB
            plots += b.plot(
                ("confusion", e.id),
                f"{e.id}: confusion matrix at threshold {arrays.threshold:.4g}",
                partial(rp.confusion_png, e.id, arrays.labels, arrays.scores, arrays.threshold),
            )
            if reliability is not None:
                plots += b.plot(
                    ("reliability", e.id),
                    f"{e.id}: reliability of the normalized scores (ECE {reliability.ece:.3f})",
                    partial(rp.reliability_png, e.id, reliability),
                )
        children.append(
            Section(f"errors-{e.id}", f"{e.id} ({e.category}, {e.detector}, {e.phase}, {e.shift})", tables=[table], plots=plots)
        )
    if not checked:
        return None
    return Section(
        "errors",
        "Error analysis",
        "Per evaluation with saved arrays: recall at the calibrated threshold and AUROC of each group of "
        "anomalous images against all normal images, by defect type, defect size (share of the image: "
        "small < 1%, medium 1-5%, large >= 5%) and position (border or centre). The first table "
        "gives the decisions and the expected calibration error (ECE) of every evaluation; confusion "
        "matrices and reliability diagrams are drawn for the clean, no-adaptation and adapted ones.",
        [rt.calibration_table(checked)],
        children=children,
    )


def _gallery_section(b: _Builder) -> Section | None:
    plots = []
    for e in b.results.evaluations:
        for kind, relative in e.gallery.items():
            try:
                png = resolve(b.results.directory, relative).read_bytes()
            except (DataError, OSError) as exc:
                b.notes.append(f"Gallery {relative} of {e.id} skipped: {exc}")
                continue
            if not png.startswith(b"\x89PNG"):
                b.notes.append(f"Gallery {relative} of {e.id} skipped: not a PNG file")
                continue
            plots.append(Plot(relative, f"{e.id}: {kind.replace('_', ' ')}", png))
    return (
        Section("galleries", "Galleries", "The worst errors at the calibrated threshold, as rendered by the run.", plots=plots)
        if plots
        else None
    )


def _embedding_section(b: _Builder) -> Section | None:
    plots = []
    for category, relative in b.results.embeddings:
        try:
            embedding = load_embedding(b.results.directory, category, relative)
        except DataError as exc:
            b.notes.append(f"Embedding of {category} skipped: {exc}")
            continue
        plots += b.plot(
            ("embedding", category),
            f"{category}: feature embedding ({embedding.method or 'unknown method'})",
            partial(rp.embedding_png, embedding),
        )
    return (
        Section(
            "embeddings", "Embeddings", "Features in two dimensions: colour = normal / anomalous, marker = domain.", plots=plots
        )
        if plots
        else None
    )


def _sections(b: _Builder) -> list[Section]:
    built = [
        _headline_section(b),
        _table_section("paired-tests", "Differences between detectors on the same test images.", rt.comparisons_table(b.results)),
        _few_shot_section(b),
        _table_section(
            "global", "One model for all categories against one model per category, same test set.", rt.global_table(b.results)
        ),
        _cross_domain_section(b),
        _cross_shift_section(b),
        _table_section(
            "ablation", "One setting changed at a time, with fit time and inference cost.", rt.ablation_table(b.results)
        ),
        _severity_section(b),
        _error_section(b),
        _gallery_section(b),
        _embedding_section(b),
    ]
    sections = [s for s in built if s is not None]
    if b.notes:
        sections.append(Section("notes", "Skipped pieces", "Optional pieces that were missing or unreadable:", notes=b.notes))
    return sections


def write_robustness_report(results_dir: Path) -> Path:
    """Write report.html, summary.md, plots/*.png and tables/*.csv into `results_dir`; returns report.html.

    Raises DataError naming results.json when it is missing or malformed.
    """
    results_dir = Path(results_dir)
    results = load_results(results_dir)
    builder = _Builder(results)
    sections = _sections(builder)
    info = PageInfo(TITLE, results.created, results.seed, results.versions, results.config, HOW_TO_READ)
    return write_page(results_dir, info, sections, {p.path: p.png for p in builder.written})
