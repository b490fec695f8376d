"""write_robustness_report on a synthetic results directory: files, sections, numbers, robustness to gaps."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from robustness_results_dir import GALLERY_ID, HAND_ID, HEADLINE, SHIFT, write_results_dir

from defectlab.errors import DataError
from defectlab.report.robustness_report import write_robustness_report

SECTIONS = (
    "How to read this",
    "Clean vs shifted vs adapted",
    "Paired tests",
    "Few-shot adaptation",
    "Global vs per-category model",
    "Cross-domain transfer",
    "Cross-shift generalisation",
    "Ablations",
    "Corruption severity",
    "Error analysis",
    "Galleries",
    "Embeddings",
)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """The complete directory with its report, shared by the read-only tests."""
    root = write_results_dir(tmp_path_factory.mktemp("robustness") / "results")
    assert write_robustness_report(root) == root / "report.html"
    return root


@pytest.fixture
def copy(results_dir, tmp_path) -> Path:
    """A private copy of the results directory (without its report) to break."""
    target = tmp_path / "results"
    shutil.copytree(results_dir, target, ignore=shutil.ignore_patterns("report.html", "summary.md", "plots", "tables"))
    return target


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _page(results_dir: Path) -> str:
    return (results_dir / "report.html").read_text(encoding="utf-8")


def test_writes_page_summary_plots_and_tables(results_dir):
    assert (results_dir / "summary.md").is_file()
    tables = {p.stem for p in (results_dir / "tables").glob("*.csv")}
    assert {
        "headline",
        "paired_tests",
        "few_shot",
        "global_vs_per_category",
        "cross_domain",
        "cross_shift",
        "ablation",
        "severity",
        "calibration",
        f"errors_{HAND_ID}",
    } <= tables
    plots = {p.stem for p in (results_dir / "plots").glob("*.png")}
    assert {
        "auroc_bars_mono",
        "auroc_bars_poly",
        "roc_mono",
        "roc_poly",
        "image_vs_pixel_auroc",
        f"few_shot_mono_{SHIFT}",
        "cross_domain_mono_poly",
        "cross_shift_mono_patchcore",
        "severity_mono",
        f"confusion_{HAND_ID}",
        f"reliability_{HAND_ID}",
        "embedding_mono",
    } <= plots
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in (results_dir / "plots").glob("*.png"))
    assert not list(results_dir.rglob("*.tmp"))


def test_page_has_every_section_and_the_header(results_dir):
    page = _page(results_dir)
    summary = (results_dir / "summary.md").read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f">{title}</h2>" in page, title
        assert f"## {title}" in summary, title
    assert "2026-11-26T01:00:00+00:00" in page and "seed 42" in page and "torch 2.14.1" in page
    config = re.search(r"<pre>(.*?)</pre>", page, re.S)
    assert config and "preset: mvtec-shift" in config.group(1) and "job: robustness" in config.group(1)
    assert "Skipped pieces" not in page  # nothing is missing


def test_page_is_self_contained(results_dir):
    page = _page(results_dir)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(list((results_dir / "plots").glob("*.png"))) + 2  # + the two gallery images
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    text = re.sub(r"(data:image/png;base64,)[A-Za-z0-9+/=]+", r"\1", page)
    assert not re.search(r'src="(?!data:)|https?:|<link|<script|url\(', text)


def test_headline_table_numbers(results_dir):
    rows = {(r["category"], r["detector"]): r for r in _csv(results_dir / "tables" / "headline.csv")}
    mono = rows[("mono", "patchcore")]
    assert float(mono["clean AUROC"]) == 0.90 and float(mono["clean AUROC low"]) == pytest.approx(0.86)
    assert float(mono["RI no-adapt"]) == pytest.approx(0.72 / 0.90)
    assert float(mono["RI adapted"]) == pytest.approx(0.86 / 0.90)
    assert float(mono["pixel AUROC clean"]) == pytest.approx(0.95)
    assert rows[("poly", "padim")]["pixel AUROC clean"] == ""  # no masks: empty in the CSV
    for detector in ("patchcore", "padim"):
        macro = rows[("macro average", detector)]
        assert macro["shift"] == SHIFT and macro["clean AUROC low"] == ""
        for column, index in (("clean AUROC", 0), ("no-adapt AUROC", 1), ("adapted AUROC", 2)):
            expected = (HEADLINE[("mono", detector)][index] + HEADLINE[("poly", detector)][index]) / 2
            assert float(macro[column]) == pytest.approx(expected)
        ri = [HEADLINE[(c, detector)][1] / HEADLINE[(c, detector)][0] for c in ("mono", "poly")]
        assert float(macro["RI no-adapt"]) == pytest.approx(sum(ri) / 2)
        assert float(macro["pixel AUROC clean"]) == pytest.approx(HEADLINE[("mono", detector)][0] + 0.05)  # mono only
    assert float(rows[("macro average", "patchcore")]["RI no-adapt"]) == pytest.approx(0.85)
    assert "0.900 [0.860, 0.940]" in _page(results_dir)


def test_paired_tests_format_p_values(results_dir):
    rows = _csv(results_dir / "tables" / "paired_tests.csv")
    assert [float(r["p"]) for r in rows] == [0.0004, 0.41]
    assert rows[0]["difference A-B low"] == "0.05" and rows[1]["difference A-B low"] == ""
    page = _page(results_dir)
    assert "&lt;0.001" in page and "0.410" in page and "0.0004" not in page


def test_phase_tables(results_dir):
    tables = results_dir / "tables"
    few = _csv(tables / "few_shot.csv")
    assert [(r["detector"], r["k"]) for r in few] == [("padim", "1"), ("padim", "5"), ("patchcore", "1"), ("patchcore", "5")]
    assert float(few[3]["AUROC"]) == pytest.approx(0.82)
    assert float(few[3]["no adaptation"]) == 0.72 and float(few[3]["full refit"]) == 0.86
    glob = {r["category"]: r for r in _csv(tables / "global_vs_per_category.csv")}
    assert float(glob["mono"]["difference"]) == pytest.approx(0.88 - 0.90)
    domain = _csv(tables / "cross_domain.csv")
    assert [r["k"] for r in domain] == ["0", "5"] and float(domain[1]["in-domain AUROC"]) == 0.70
    shift = _csv(tables / "cross_shift.csv")
    assert {(r["train shift"], r["test shift"]) for r in shift} == {
        (a, b) for a in ("brightness@3", "gaussian_noise@3") for b in ("brightness@3", "gaussian_noise@3")
    }
    ablation = _csv(tables / "ablation.csv")
    assert [r["value"] for r in ablation] == ["0.05", "blocks.2+blocks.4"] and ablation[0]["fit s"] == "12.34"
    severity = {r["adaptation"]: r for r in _csv(tables / "severity.csv")}
    assert float(severity["no adaptation"]["severity 3"]) == 0.70 and float(severity["adapted"]["severity 3"]) == 0.84
    assert "severity 2" not in severity["adapted"]


def test_error_analysis_against_hand_values(results_dir):
    groups = {(r["grouping"], r["group"]): r for r in _csv(results_dir / "tables" / f"errors_{HAND_ID}.csv")}
    crack = groups[("defect type", "crack")]  # scores 1.2, 1.1, 0.9, 0.5 vs normals 0.05..0.95, threshold 0.8
    assert crack["n"] == "4" and float(crack["recall @ thr"]) == 0.75
    assert float(crack["AUROC vs normals"]) == pytest.approx((10 + 10 + 9 + 5) / 40)
    small = groups[("size", "small")]  # areas 0.002, 0.004, 0.001: scores 1.2, 0.5, 0.3
    assert small["n"] == "3" and float(small["recall @ thr"]) == pytest.approx(1 / 3)
    assert float(small["AUROC vs normals"]) == pytest.approx((10 + 5 + 3) / 30)
    assert groups[("size", "medium")]["n"] == "2" and groups[("size", "large")]["n"] == "3"
    assert groups[("region", "border")]["n"] == "3" and groups[("region", "centre")]["n"] == "5"
    assert groups[("all", "all anomalous")]["n"] == "8"
    calibration = {r["evaluation"]: r for r in _csv(results_dir / "tables" / "calibration.csv")}
    hand = calibration[HAND_ID]
    assert (hand["TP"], hand["FP"], hand["TN"], hand["FN"]) == ("6", "2", "8", "2")
    assert float(hand["false positive rate"]) == pytest.approx(0.2) and 0.0 <= float(hand["ECE"]) <= 1.0
    assert len(calibration) == len(json.loads((results_dir / "results.json").read_text())["evaluations"])


def test_missing_optional_pieces_are_skipped_with_notes(copy):
    (copy / "arrays" / f"{HAND_ID}.npz").unlink()
    (copy / "arrays" / "poly__padim__clean.npz").write_bytes(b"not a zip")
    np.savez(copy / "arrays" / "poly__padim__shift_adapted.npz", labels=np.array([0, 1]))  # lacks scores
    shutil.rmtree(copy / "embeddings")
    (copy / "galleries" / f"{GALLERY_ID}_fn.png").unlink()
    record = json.loads((copy / "results.json").read_text())
    del record["comparisons"], record["config"], record["versions"]
    record["evaluations"] = [
        e
        for e in record["evaluations"]  # fewer figures, faster: the headline of two pairs
        if e["id"].startswith(("mono__patchcore", "poly__padim"))
        and e["phase"] in ("clean", "shift_no_adaptation", "shift_adapted")
    ]
    (copy / "results.json").write_text(json.dumps(record))
    page = _page(copy) if write_robustness_report(copy) else ""
    assert "Skipped pieces" in page
    for needle in (
        f"Arrays of {HAND_ID} skipped",
        "poly__padim__clean.npz: cannot read",
        "lacks scores",
        "Embedding of mono skipped",
        f"{GALLERY_ID}_fn.png",
    ):
        assert needle in page, needle
    assert ">Paired tests</h2>" not in page and ">Embeddings</h2>" not in page and ">Galleries</h2>" in page
    assert not (copy / "tables" / f"errors_{HAND_ID}.csv").exists()
    assert "(none saved)" in page


def test_only_clean_evaluations_and_undefined_intervals(copy):
    record = json.loads((copy / "results.json").read_text())
    record["evaluations"] = [e for e in record["evaluations"] if e["phase"] == "clean"][:2]
    record["evaluations"][0]["intervals"]["image_auroc"] = [None, None]  # the bootstrap was undefined
    record["embeddings"] = []
    (copy / "results.json").write_text(json.dumps(record))
    page = _page(copy) if write_robustness_report(copy) else ""
    assert ">Clean vs shifted vs adapted</h2>" in page and ">Few-shot adaptation</h2>" not in page
    rows = _csv(copy / "tables" / "headline.csv")
    assert [(r["category"], r["shift"], r["no-adapt AUROC"]) for r in rows] == [("mono", "none", ""), ("mono", "none", "")]
    assert (rows[0]["clean AUROC"], rows[0]["clean AUROC low"]) == ("0.9", "")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "not found"),
        ("{not json", "cannot read as JSON"),
        ("[]", "must be an object"),
        ('{"seed": 1}', "lacks 'evaluations'"),
        ('{"evaluations": [{"id": "a"}]}', "evaluations[0] lacks 'phase'"),
        ('{"evaluations": [{"id": "../x", "phase": "clean"}]}', "not file-name safe"),
        ('{"evaluations": [{"id": "a", "phase": "warmup"}]}', "'warmup' is unknown"),
    ],
)
def test_missing_or_malformed_results_json_raises(tmp_path, content, needle):
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(DataError, match="results.json") as info:
        write_robustness_report(tmp_path)
    assert needle in str(info.value)


def test_bad_metric_value_names_the_field(copy):
    record = json.loads((copy / "results.json").read_text())
    record["evaluations"][3]["metrics"]["image_auroc"] = "high"
    (copy / "results.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"results\.json: evaluations\[3\]\.metrics\.image_auroc must be a number"):
        write_robustness_report(copy)
