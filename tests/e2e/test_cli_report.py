"""`defectlab report DIR`: rebuild the robustness report from a saved results directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "report"))
from robustness_results_dir import write_results_dir  # noqa: E402  (the unit tests' synthetic results directory)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


def test_report_rebuilds_the_page(tmp_path, env):
    results = write_results_dir(tmp_path / "results", phases=("clean",))  # few figures: the unit tests check the content
    result = run_cli(["report", results], env, tmp_path, spawn_process=True)
    assert result.returncode == 0, str(result)
    page = results / "report.html"
    assert result.stdout.strip() == str(page)
    assert page.is_file() and "data:image/png;base64," in page.read_text(encoding="utf-8")
    assert (results / "summary.md").is_file() and (results / "tables" / "headline.csv").is_file()


def test_missing_directory_is_a_one_line_error(tmp_path, env):
    result = run_cli(["report", tmp_path / "nowhere"], env, tmp_path, spawn_process=True)
    assert_one_line_error(result, "results.json", "not found")
