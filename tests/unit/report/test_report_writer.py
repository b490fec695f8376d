"""write_report: every file, self-contained HTML showing the results envelope, one-class input."""

import base64
import csv
import html
import re

import pytest

from defectlab.errors import DataError
from defectlab.report.writer import write_report

CONFIG = {"name": "demo", "seed": 42, "detectors": [{"kind": "patchcore"}]}
ENVELOPE = {
    "job": "detection",
    "config": CONFIG,
    "seed": 42,
    "versions": {"defectlab": "0.1.0"},
    "created": "2026-01-02T03:04:05+00:00",
    "results": [{"detector": "patchcore"}],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory, two_results):
    """One report of the two fake results, shared by the read-only tests: (folder, files)."""
    out = tmp_path_factory.mktemp("report")
    return out, write_report(out, two_results, "Demo <report>", ENVELOPE)


def test_writes_every_file(report):
    tmp_path, files = report
    expected = {
        "summary.md",
        "report.html",
        "plots/roc.png",
        "plots/pr.png",
        "plots/hist_patchcore_mono.png",
        "plots/hist_padim_poly.png",
        "plots/examples_patchcore_mono.png",
        "plots/examples_padim_poly.png",
        "patchcore_mono_scores.csv",
        "padim_poly_scores.csv",
    }
    assert set(files) == expected
    for name, path in files.items():
        assert path == tmp_path / name and path.stat().st_size > 0
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in (tmp_path / "plots").glob("*.png"))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_html_is_self_contained_and_shows_the_table(report):
    tmp_path, _ = report
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "0.912 [0.850, 0.970]" in page and "12.3" in page and "41.5" in page
    assert "Demo &lt;report&gt;" in page and "Demo <report>" not in page
    images = re.findall(r'src="([^"]*)"', page)
    assert len(images) == 6 and all(src.startswith("data:image/png;base64,") for src in images)
    assert base64.b64decode(images[0].split(",", 1)[1]).startswith(b"\x89PNG")
    text = re.sub(r"(data:image/png;base64,)[A-Za-z0-9+/=]+", r"\1", page)
    assert not re.search(r"https?:|//|src=\"(?!data:)|<link|<script", text)
    assert "<details>" in page and "How to read this" in page


def test_html_shows_the_envelope_but_not_its_figures(report):
    tmp_path, _ = report
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    details = html.unescape(page.split("<details>", 1)[1])
    assert "Created 2026-01-02T03:04:05+00:00." in page
    assert '"name": "demo"' in details and '"versions"' in details and '"job": "detection"' in details
    assert '"results"' not in details
    assert "All numbers: `results.json`" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_summary_md_links_plots(report):
    tmp_path, _ = report
    text = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("# Demo <report>\n") and "| padim | poly |" in text
    links = re.findall(r"\]\((plots/[^)]+)\)", text)
    assert len(links) == 6 and all((tmp_path / link).is_file() for link in links)


def test_scores_csv(report, two_results):
    tmp_path, _ = report
    with open(tmp_path / "patchcore_mono_scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    result = two_results[0]
    assert [r["id"] for r in rows] == result.ids
    assert [int(r["label"]) for r in rows] == result.labels.tolist()
    assert [float(r["score"]) for r in rows] == result.scores.tolist()
    assert all(r["decision"] == ("anomalous" if float(r["score"]) >= 1.0 else "normal") for r in rows)


def test_one_class_results_skip_curves_with_a_note(tmp_path, one_class_result):
    files = write_report(tmp_path, [one_class_result], "Only good", ENVELOPE)
    assert "plots/roc.png" not in files and "plots/pr.png" not in files
    assert "plots/hist_patchcore_good-only.png" in files
    assert "only one class" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "only one class" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_mixed_results_plot_only_two_class_curves(tmp_path, make_result, one_class_result):
    files = write_report(tmp_path, [make_result(examples=0), one_class_result], "Mixed", ENVELOPE)
    assert "plots/roc.png" in files
    assert "only one class" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_unsafe_and_duplicate_names_get_unique_safe_files(tmp_path, make_result):
    results = [make_result("patch/core", "../x"), make_result("patch/core", "../x", seed=3, examples=0)]
    files = write_report(tmp_path, results, "Names", ENVELOPE)
    csvs = sorted(name for name in files if name.endswith(".csv"))
    assert csvs == ["patch-core_-x-2_scores.csv", "patch-core_-x_scores.csv"]
    assert all(path.parent in (tmp_path, tmp_path / "plots") for path in files.values())
    assert "No example images" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_no_results_is_an_error(tmp_path):
    with pytest.raises(DataError):
        write_report(tmp_path, [], "Empty", ENVELOPE)
