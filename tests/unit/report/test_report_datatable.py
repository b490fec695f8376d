"""DataTable: formatted Markdown/HTML cells, raw CSV values, estimates spread over three columns."""

from __future__ import annotations

import pytest

from defectlab.report.datatable import Column, Estimate, make_table, show, show_p, text_column


@pytest.fixture
def table():
    columns = [text_column("name"), Column("AUROC"), Column("p", show_p), Column("n", str)]
    rows = [["a|b", Estimate(0.91234, 0.85, 0.97), 0.0004, 12], ["<c>", Estimate(0.5), None, 3]]
    return make_table("demo", "Demo", columns, rows)


def test_display(table):
    markdown = table.markdown().splitlines()
    assert markdown[0] == "| name | AUROC | p | n |" and markdown[1] == "|---|---:|---:|---:|"
    assert markdown[2] == "| a\\|b | 0.912 [0.850, 0.970] | <0.001 | 12 |"
    assert markdown[3] == "| <c> | 0.500 | — | 3 |"
    page = table.html()
    assert "&lt;c&gt;" in page and "&lt;0.001" in page and 'class="num"' in page


def test_csv_keeps_raw_values(table):
    lines = table.csv_bytes().decode("utf-8").splitlines()
    assert lines == ["name,AUROC,AUROC low,AUROC high,p,n", "a|b,0.91234,0.85,0.97,0.0004,12", "<c>,0.5,,,,3"]


def test_show_and_bad_rows():
    assert show(float("nan")) == "—" and show(1.23456, 1) == "1.2" and show_p(0.0123) == "0.012"
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        make_table("bad", "Bad", [Column("a"), Column("b")], [[1.0]])
